"""The sidebar's settings for one browser session.

Every session starts from the server's configuration (load_config: defaults, deeprag.toml, DEEPRAG_*
variables, `deeprag ui --index`) and keeps its changes in its own st.session_state. Nothing is written to
disk: one shared settings file would make one user's change every later session's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ground.config import Config, updated


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
