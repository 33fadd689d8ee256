"""Bad input at the command line ends in one line naming the fix: flags, interrupts, unloadable models."""

import pytest

from app.cli import main
from ground.config import EmbeddingConfig
from ingest.embedder import load_embedder
from ingest.errors import ModelUnavailable
from retrieval.searcher import Searcher
from tests.conftest import write


@pytest.mark.parametrize("argv, message", [
    (["eval", "scaling", "--factors", "2,x"], "'2,x' is not a comma-separated list of whole numbers"),
    (["eval", "scaling", "--factors", "2,-1"], "negative factor"),
    (["eval", "scaling", "--kinds", "exact,typo"], "unknown index kind typo; choose from exact, hnsw, ivfpq"),
    (["serve", "--dry-run", "--vllm-args", '"x'], "balance its quotes"),
])
def test_bad_flag_values_are_usage_errors_not_tracebacks(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_ctrl_c_during_a_search_does_not_promise_kept_work(monkeypatch, tmp_path, capsys, embedder):
    from ingest.pipeline import Ingestor
    from ground.config import load_config

    config = load_config(env={}, overrides={"index_dir": str(tmp_path / "index"), "retrieval.reranker_model": ""})
    Ingestor.for_config(config, embedder).run([write(tmp_path / "a.txt", "Kiwis are fuzzy.")])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for the user's Ctrl-C mid-search

    monkeypatch.setattr(Searcher, "search", interrupted)
    capsys.readouterr()  # the set-up's own log lines are not the command's output
    assert main(["search", "kiwi", "--index", str(tmp_path / "index")]) == 130
    assert capsys.readouterr().err.strip() == "deeprag: interrupted"


def test_ctrl_c_during_ingest_says_committed_work_is_kept(monkeypatch, tmp_path, capsys):
    from ingest.pipeline import Ingestor

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Ingestor, "run", interrupted)
    assert main(["ingest", str(tmp_path), "--index", str(tmp_path / "index")]) == 130
    assert "committed work is kept" in capsys.readouterr().err


def test_a_broken_local_embedder_folder_is_blamed_not_the_network(tmp_path):
    folder = tmp_path / "my-embedder"
    write(folder / "config.json", "{ not json")
    with pytest.raises(ModelUnavailable) as raised:
        load_embedder(EmbeddingConfig(model=str(folder)))
    message = str(raised.value)
    assert str(folder) in message and "complete sentence-transformers model" in message
    assert "internet" not in message
    assert raised.value.__cause__ is not None  # the real cause stays attached for -v tracebacks


def test_a_newline_in_a_file_name_stays_on_one_listing_line(tmp_path, capsys, embedder):
    from ingest.pipeline import Ingestor
    from ground.config import load_config

    config = load_config(env={}, overrides={"index_dir": str(tmp_path / "index"), "retrieval.reranker_model": ""})
    odd = write(tmp_path / "two\nlines.txt", "Kiwis are fuzzy.")
    Ingestor.for_config(config, embedder).run([odd, write(tmp_path / "潮汐.txt", "Tides follow the moon.")])
    assert main(["list", "--index", str(tmp_path / "index")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # two files and the count, whatever their names hold
    assert any(line.endswith("two\\nlines.txt") for line in lines) and any("潮汐.txt" in line for line in lines)
