"""The sidebar's settings, kept in a small JSON file so they survive page reloads and restarts.

The file holds only what the user changed in the UI; everything else comes from the normal configuration
(app/config.py). A damaged file, or a value of the wrong type, is ignored key by key with a warning rather
than stopping the app: settings are a convenience, not data.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ground.config import MODES, Config, updated, user_data_dir
from ground.files import write_json_atomically

log = logging.getLogger(__name__)


def settings_path() -> Path:
    return user_data_dir() / "ui-settings.json"


@dataclass
class UISettings:
    """What the sidebar can change; `apply` turns it into the Config the searcher and pipeline use."""

    index_dir: str
    k: int
    mode: str
    rerank: bool
    temperature: float
    max_tokens: int
    llm_base_url: str
    llm_model: str
    known_indexes: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: Config) -> "UISettings":
        return cls(
            index_dir=str(config.index_dir),
            k=config.retrieval.k,
            mode=config.retrieval.mode,
            rerank=config.retrieval.rerank,
            temperature=config.llm.temperature,
            max_tokens=config.llm.max_tokens,
            llm_base_url=config.llm.base_url,
            llm_model=config.llm.model,
            known_indexes=[str(config.index_dir)],
        )

    def apply(self, config: Config) -> Config:
        """A copy of ``config`` with these settings, checked like any setting (ConfigError names a bad one);
        ``config`` itself is shared and frozen."""
        return updated(config, {
            "index_dir": self.index_dir,
            "retrieval.k": self.k,
            "retrieval.mode": self.mode,
            "retrieval.rerank": self.rerank,
            "llm.temperature": self.temperature,
            "llm.max_tokens": self.max_tokens,
            "llm.base_url": self.llm_base_url,
            "llm.model": self.llm_model,
        })

    def remember_index(self, index_dir: str) -> None:
        if index_dir not in self.known_indexes:
            self.known_indexes.append(index_dir)


def load_settings(config: Config, path: Path | None = None) -> UISettings:
    """Settings from ``path`` over the config's values."""
    settings = UISettings.from_config(config)
    path = path or settings_path()
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return settings
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("ignoring UI settings file %s (%s); it is rewritten when a setting changes", path, exc)
        return settings
    if not isinstance(stored, dict):
        log.warning("ignoring UI settings file %s: not a JSON object", path)
        return settings
    for item in dataclasses.fields(UISettings):
        if item.name in stored:
            value = _checked(item.name, stored[item.name], getattr(settings, item.name))
            if value is not None:
                setattr(settings, item.name, value)
    if settings.mode not in MODES:
        log.warning("ignoring stored retrieval mode %r; choose one of %s", settings.mode, ", ".join(MODES))
        settings.mode = config.retrieval.mode
    settings.remember_index(settings.index_dir)
    return settings


def save_settings(settings: UISettings, path: Path | None = None) -> None:
    """Write atomically, so a crash never leaves half a file."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, dataclasses.asdict(settings))


def _checked(name: str, value: Any, default: Any) -> Any:
    """``value`` if it has the default's type (ints are accepted for floats), else None with a warning."""
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        log.warning("ignoring stored UI setting %s = %r: expected %s", name, value, expected.__name__)
        return None
    return value
