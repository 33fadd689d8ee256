"""Answering one chat turn with the answer pipeline, on the conversation's thread (app/ui/conversation.py).

The pipeline is built in the script run that asked, from that session's settings, so a queued question is
answered with the settings it was asked with; this module only drives its events into the turn and stops
between two events when asked to. A stopped answer's HTTP stream must be closed, or the server goes on
generating the rest for nobody (and keeps a slot busy that the next question needs).
"""

from __future__ import annotations

import logging
import threading
from typing import Iterator

from app.ui.turn import Turn
from generation.answer import AnswerPipeline, Event, Finished, Retrieved, TokenDelta
from generation.llm import LLMError, Message
from ground.errors import DeepragError
from ingest.errors import IndexMissing
from retrieval.searcher import EmptyIndex

log = logging.getLogger(__name__)


def answer_turn(pipeline: AnswerPipeline, turn: Turn, history: list[Message], stop: threading.Event) -> bool:
    """Fill ``turn`` from ``pipeline.stream``; False when ``stop`` ended it early. Never raises a
    DeepragError (it becomes ``turn.problem``)."""
    events = pipeline.stream(turn.question, history)
    completed = True
    try:
        completed = _follow(events, turn, stop)
    except (IndexMissing, EmptyIndex):
        turn.empty_index = True
    except LLMError as exc:
        turn.problem = str(exc)
        turn.hits = list(exc.hits) or turn.hits
    except DeepragError as exc:
        turn.problem = str(exc)
    finally:
        events.close()  # a stopped answer's HTTP stream closes with it (generation/llm.py)
    return completed


def _follow(events: Iterator[Event], turn: Turn, stop: threading.Event) -> bool:
    for event in events:
        if stop.is_set():
            log.info("turn %d stopped after %d characters", turn.number, len(turn.text))
            return False
        if isinstance(event, Retrieved):
            turn.hits, turn.timings_ms = event.hits, dict(event.timings_ms)
            turn.query = event.query if event.rewritten else ""
        elif isinstance(event, TokenDelta):
            turn.text += event.text
        elif isinstance(event, Finished):
            turn.finish(event.answer)
    return True
