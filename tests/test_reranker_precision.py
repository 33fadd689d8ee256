"""`reranker_precision = auto` on a CPU: measured once per machine and model with a real (tiny) cross-encoder,
cached under the user data dir, and read back without measuring."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch

from retrieval import precision_probe
from retrieval.reranker import load_cross_encoder


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Each test its own user data dir, so the cache starts absent."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "deeprag"


@pytest.fixture
def small_probe(monkeypatch):
    """A 4-pair batch instead of 20 (2 s less per measurement on 2 cores) where the batch's size is not tested."""
    pairs = precision_probe.probe_pairs()[:4]
    monkeypatch.setattr(precision_probe, "probe_pairs", lambda: pairs)


def _count_timings(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = precision_probe.time_scoring

    def counted(model, pairs, repeats=precision_probe.REPEATS):
        calls.append(str(next(model.parameters()).dtype))
        return real(model, pairs, repeats)

    monkeypatch.setattr(precision_probe, "time_scoring", counted)
    return calls


def _never_time(monkeypatch) -> None:
    def fail(model, pairs, repeats=precision_probe.REPEATS):
        raise AssertionError("measured although the choice is cached or the precision is explicit")

    monkeypatch.setattr(precision_probe, "time_scoring", fail)


def test_auto_measures_once_writes_the_cache_and_then_reads_it(tiny_cross_encoder, monkeypatch, caplog):
    calls = _count_timings(monkeypatch)
    with caplog.at_level(logging.INFO, logger="retrieval.precision_probe"):
        model = load_cross_encoder(tiny_cross_encoder, "cpu", "auto")
    assert calls == ["torch.float32", "torch.bfloat16"]
    cache = json.loads(precision_probe.cache_path().read_text())
    [(key, entry)] = cache["choices"].items()
    assert key == precision_probe.cache_key(tiny_cross_encoder)
    assert entry["dtype"] in ("float32", "bfloat16") and entry["pairs"] == 20
    assert set(entry["seconds"]) == {"float32", "bfloat16"}
    assert entry["dtype"] == min(entry["seconds"], key=entry["seconds"].get)  # the faster one
    assert next(model.parameters()).dtype == getattr(torch, entry["dtype"])
    [record] = [r for r in caplog.records if r.name == "retrieval.precision_probe"]
    assert record.levelno == logging.INFO and "float32" in record.message and "bfloat16" in record.message

    _never_time(monkeypatch)  # a second load on this machine reads the cache
    again = load_cross_encoder(tiny_cross_encoder, "cpu", "auto")
    assert next(again.parameters()).dtype == getattr(torch, entry["dtype"])


def test_the_cached_choice_is_what_loads(tiny_cross_encoder, monkeypatch):
    """Whatever the cache says (here bf16, forced), a later load uses, without measuring."""
    key = precision_probe.cache_key(tiny_cross_encoder)
    precision_probe._write_cache({key: {"dtype": "bfloat16"}})
    _never_time(monkeypatch)
    model = load_cross_encoder(tiny_cross_encoder, "cpu", "auto")
    assert next(model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_explicit_precision_is_not_measured(tiny_cross_encoder, monkeypatch, precision):
    _never_time(monkeypatch)
    model = load_cross_encoder(tiny_cross_encoder, "cpu", precision)
    assert next(model.parameters()).dtype == getattr(torch, precision)
    assert not precision_probe.cache_path().exists()


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "choices": {"k": {"dtype": "int8"}}}', "[]"])
def test_a_corrupt_cache_is_warned_about_and_rewritten(
        tiny_cross_encoder, monkeypatch, caplog, data_dir, content, small_probe):
    data_dir.mkdir(parents=True)
    precision_probe.cache_path().write_text(content)
    calls = _count_timings(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="retrieval.precision_probe"):
        load_cross_encoder(tiny_cross_encoder, "cpu", "auto")
    assert len(calls) == 2
    assert any(r.levelno == logging.WARNING and "precision cache" in r.message for r in caplog.records)
    cache = json.loads(precision_probe.cache_path().read_text())
    assert list(cache["choices"]) == [precision_probe.cache_key(tiny_cross_encoder)]


def test_the_key_changes_with_the_model_and_not_with_its_place(tiny_cross_encoder, tmp_path):
    key = precision_probe.cache_key(tiny_cross_encoder)
    moved = shutil.copytree(tiny_cross_encoder, tmp_path / "elsewhere" / "tiny-cross-encoder0")
    assert precision_probe.cache_key(str(moved)) == precision_probe.cache_key(
        str(shutil.copytree(tiny_cross_encoder, tmp_path / "again" / "tiny-cross-encoder0")))
    config = json.loads((moved / "config.json").read_text())
    config["num_hidden_layers"] = 1  # another model: another shape, maybe another winner
    (moved / "config.json").write_text(json.dumps(config))
    changed = precision_probe.cache_key(str(moved))
    assert changed != precision_probe.cache_key(str(tmp_path / "again" / "tiny-cross-encoder0"))
    renamed = shutil.copytree(tiny_cross_encoder, tmp_path / "other-name")
    assert precision_probe.cache_key(str(renamed)) != key
    # The rest of the key: torch's version and this CPU.
    assert f"torch {torch.__version__}" in key and precision_probe.cpu_identity() in key


def test_a_second_model_measures_and_keeps_the_first_ones_choice(
        tiny_cross_encoder, tmp_path, monkeypatch, small_probe):
    calls = _count_timings(monkeypatch)
    load_cross_encoder(tiny_cross_encoder, "cpu", "auto")
    other = shutil.copytree(tiny_cross_encoder, tmp_path / "tiny-2")
    load_cross_encoder(str(other), "cpu", "auto")
    assert len(calls) == 4
    choices = json.loads(precision_probe.cache_path().read_text())["choices"]
    assert set(choices) == {precision_probe.cache_key(tiny_cross_encoder), precision_probe.cache_key(str(other))}
