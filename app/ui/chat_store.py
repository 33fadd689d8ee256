"""Chats on disk, so a conversation survives a page reload and a server restart.

One JSON file per chat, ``user_data_dir()/chats/<id>.json``, written atomically (ground.files) after every
question and every finished answer. The id travels in the page's URL (``?chat=<id>``), so it is checked
against a strict pattern before it names a file. Each chat records its owner, the browser that started it
(app/ui/chat_session.py), so the sidebar lists a user's own chats and nobody else's. A turn saved while it was
still being answered (the server stopped meanwhile) is read back as stopped: nothing is answering it any more.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ui.turn import Turn
from generation.grounding import CheckedSentence
from ground.config import user_data_dir
from ground.files import write_json_atomically
from ingest.models import Chunk
from retrieval.hits import SearchHit

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
TITLE_CHARS = 80
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
INTERRUPTED = "the server stopped before this answer was finished"


def chats_dir() -> Path:
    return user_data_dir() / "chats"


def new_id() -> str:
    """A fresh, unguessable id (16 URL-safe characters) for a chat or a browser (app/ui/chat_session.py)."""
    return secrets.token_urlsafe(12)


def valid_id(value: object) -> bool:
    """Whether ``value`` (from the URL: untrusted) is an id that can name a chat file: no separators, no dots."""
    return isinstance(value, str) and bool(_ID.match(value))


@dataclass(frozen=True)
class ChatSummary:
    """What the sidebar lists for a stored chat."""

    id: str
    title: str
    updated: float
    turns: int


@dataclass
class StoredChat:
    id: str
    title: str
    created: float
    turns: list[Turn]
    owner: str = ""  # the browser id that started it; "" = listed to nobody (still opened by its URL)


class ChatStore:
    """Reads and writes the chat files of one folder."""

    def __init__(self, directory: Path):
        self.directory = directory

    def path(self, chat_id: str) -> Path:
        if not valid_id(chat_id):
            raise ValueError(f"not a chat id: {chat_id!r}")
        return self.directory / f"{chat_id}.json"

    def save(self, chat: StoredChat) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.path(chat.id), {
            "version": FORMAT_VERSION, "id": chat.id, "title": chat.title, "created": chat.created,
            "owner": chat.owner, "updated": time.time(), "turns": [turn_to_dict(turn) for turn in chat.turns],
        })

    def load(self, chat_id: str) -> StoredChat | None:
        """The stored chat, or None when there is none. A file that cannot be read is renamed aside (logged)
        rather than stopping the page, so the chat starts empty and its next save loses nothing."""
        path = self.path(chat_id)
        data = self._read(path)
        if data is None:
            if path.exists():
                self._set_aside(path)
            return None
        try:
            turns = [turn_from_dict(item) for item in data["turns"]]
            return StoredChat(chat_id, str(data.get("title", "")), float(data.get("created", 0.0)), turns,
                              str(data.get("owner", "")))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("cannot read chat %s (%s: %s)", chat_id, type(exc).__name__, exc)
            self._set_aside(path)
            return None

    def recent(self, owner: str, limit: int = 20) -> list[ChatSummary]:
        """The ``limit`` most recently changed chats of ``owner``, newest first (files are read newest first
        until that many are found)."""
        if not owner or not self.directory.is_dir():
            return []
        paths = [p for p in self.directory.glob("*.json") if valid_id(p.stem)]
        paths.sort(key=_mtime, reverse=True)
        found: list[ChatSummary] = []
        for path in paths:
            if len(found) == limit:
                break
            data = self._read(path)
            if data is not None and data.get("owner") == owner and isinstance(data.get("turns"), list):
                found.append(ChatSummary(path.stem, str(data.get("title") or "(untitled)"),
                                         float(data.get("updated", 0.0)), len(data["turns"])))
        return found

    @staticmethod
    def _set_aside(path: Path) -> None:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        try:
            path.replace(aside)
        except OSError as exc:
            log.warning("could not set %s aside: %s", path, exc)
            return
        log.warning("set the unreadable chat file aside as %s; the chat starts empty", aside)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("cannot read chat file %s: %s", path, exc)
            return None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            log.warning("ignoring chat file %s: not a version-%d chat", path, FORMAT_VERSION)
            return None
        return data


def title_for(question: str) -> str:
    flat = " ".join(question.split())
    return flat if len(flat) <= TITLE_CHARS else flat[:TITLE_CHARS - 1] + "…"


def turn_to_dict(turn: Turn) -> dict[str, Any]:
    data = dataclasses.asdict(turn)  # nested dataclasses (hits, chunks, checked sentences) become dicts
    data["tokens"] = list(turn.tokens) if turn.tokens else None
    return data


def turn_from_dict(data: dict[str, Any]) -> Turn:
    values = dict(data)
    values["hits"] = [_hit(h) for h in data.get("hits", [])]
    values["checked"] = [_checked(c) for c in data.get("checked", [])]
    values["tokens"] = tuple(data["tokens"]) if data.get("tokens") else None
    turn = Turn(**values)
    if turn.live:
        turn.state, turn.problem = "stopped", turn.problem or INTERRUPTED
    return turn


def _hit(data: dict[str, Any]) -> SearchHit:
    return SearchHit(**{**data, "chunk": Chunk(**data["chunk"])})


def _checked(data: dict[str, Any]) -> CheckedSentence:
    return CheckedSentence(**{**data, "cited": tuple(data["cited"]), "supported_by": tuple(data["supported_by"])})


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
