"""A chat's turns and the thread that answers its questions, one after another.

Answers are generated on a thread of the conversation, not in the Streamlit script run that asked: a rerun
(a second question typed while an answer streams, a click in the sidebar, a reload, another page) interrupts
the script, and an answer made inside it would be lost halfway. Here the script only queues a question and
redraws what the thread has written so far; every turn is kept and saved, and a question asked while another
is answered waits its turn. Stop ends the turn being answered and keeps its partial text.

One `Conversation` per chat id per server process (`Conversations`), shared by every browser session that
has the chat open: a reloaded page finds the answer still streaming. A new chat belongs to the browser that
started it (its owner), whose chat list shows it. No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from typing import Callable

from app.ui.chat_store import ChatStore, StoredChat, title_for
from app.ui.turn import Turn
from generation.llm import Message

log = logging.getLogger(__name__)

HISTORY_TURNS = 3  # earlier question/answer pairs sent along, so a follow-up can be rewritten standalone

# Answers one turn: fills ``turn`` in as it goes (the page redraws from it), ends early once ``stop`` is set,
# and says whether it ran to the end (False: stopped). The turn's state is the conversation's to set.
Job = Callable[[Turn, list[Message], threading.Event], bool]


class Conversation:
    """One chat's turns, answered in order by a worker thread that lives while questions are waiting."""

    def __init__(self, stored: StoredChat, store: ChatStore):
        self.id = stored.id
        self.title = stored.title
        self.created = stored.created
        self.owner = stored.owner
        self.turns: list[Turn] = stored.turns
        self._store = store
        self._jobs: dict[int, Job] = {}  # turn number → how to answer it
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    @property
    def live(self) -> bool:
        return any(turn.live for turn in self.turns)

    def ask(self, question: str, job: Job | None, prepared: Callable[[Turn], None] | None = None) -> Turn:
        """Queue ``question``. Without a job the turn is complete at once (``prepared`` fills it in, e.g. with
        why it cannot be answered). Saved before it is answered, so not even a crash loses the question."""
        with self._lock:
            turn = Turn(len(self.turns) + 1, question, state="queued" if job else "done")
            if prepared is not None:
                prepared(turn)
            self.turns.append(turn)
            if not self.title:
                self.title = title_for(question)
            if job is not None:
                self._jobs[turn.number] = job
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, name=f"deeprag-chat-{self.id}", daemon=True)
                    self._worker.start()
        self.save()
        return turn

    def stop(self, number: int) -> None:
        """End turn ``number``: if it is being answered, at its next token (its partial answer stays, marked
        stopped); if it is still queued, before it starts. A late click, after the turn ended, stops nothing
        (in particular not the next turn)."""
        with self._lock:
            turn = next((t for t in self.turns if t.number == number), None)
            if turn is None or not turn.live:
                return
            log.info("chat %s: stop requested for turn %d (%s)", self.id, number, turn.state)
            if turn.state == "answering":
                self._stop.set()
                return
            self._jobs.pop(number, None)  # not started yet: it never will be
            turn.state = "stopped"
        self.save()

    def history_before(self, turn: Turn) -> list[Message]:
        """The last answered question/answer pairs before ``turn``, as chat messages (a stopped or failed
        answer is no context to build on)."""
        earlier = [t for t in self.turns[:turn.number - 1] if t.text and t.state == "done"][-HISTORY_TURNS:]
        history: list[Message] = []
        for past in earlier:
            history += [{"role": "user", "content": past.question}, {"role": "assistant", "content": past.text}]
        return history

    def save(self) -> None:
        self._write(list(self.turns))

    def _write(self, turns: list[Turn]) -> None:
        """Write the whole chat; serialised, so an older copy never lands after a newer one."""
        with self._save_lock:
            try:
                self._store.save(StoredChat(self.id, self.title, self.created, turns, self.owner))
            except OSError as exc:  # a full disk must not end the answer; the chat stays in memory
                log.warning("could not save chat %s: %s", self.id, exc)

    def _work(self) -> None:
        while True:
            with self._lock:
                turn = next((t for t in self.turns if t.state == "queued"), None)
                if turn is None:
                    # Under the lock: a question asked from now on starts a new worker. (Asking whether this
                    # thread is still alive would not do: it is, for a moment after this return.)
                    self._worker = None
                    return
                job = self._jobs.pop(turn.number)
                self._stop.clear()
                turn.state = "answering"
            completed = True
            try:
                completed = job(turn, self.history_before(turn), self._stop)
            except Exception as exc:  # the turn must end in a visible state, never stay "answering"
                log.exception("chat %s: answering turn %d failed", self.id, turn.number)
                turn.problem = f"unexpected {type(exc).__name__}: {exc}"
            final = "stopped" if not completed else "failed" if turn.problem and not turn.text else "done"
            # Saved before it is shown: whoever sees the turn ended (the page, a test) finds it on disk too.
            self._write([dataclasses.replace(t, state=final) if t is turn else t for t in self.turns])
            turn.state = final


class Conversations:
    """The chats in use in this server process, by id. While anything holds a chat (a page drawing it, its
    answering thread, a Stop button) every session gets that one object; one nobody holds is dropped, since all
    of it is on disk, and read from the store when it is next opened. So every page load opening a new, empty
    chat does not leave one behind in memory for the life of the server."""

    def __init__(self, store: ChatStore):
        self.store = store
        self._open: weakref.WeakValueDictionary[str, Conversation] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get(self, chat_id: str, owner: str = "") -> Conversation:
        """The chat ``chat_id``; one not stored yet starts empty, owned by ``owner`` (the browser asking)."""
        with self._lock:
            chat = self._open.get(chat_id)
            if chat is None:
                stored = self.store.load(chat_id) or StoredChat(chat_id, "", time.time(), [], owner)
                chat = self._open[chat_id] = Conversation(stored, self.store)
            return chat
