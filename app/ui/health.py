"""The sidebar's LLM light: is the endpoint reachable, and does it serve the model this session asks for?

Two different fixes, so two different lights: "unreachable" (start a server, or fix the URL) and "reachable,
but model X is not served (it serves Y)" (fix the model name). The check is the one every answer meets,
LLMClient's model lookup, so the light and the chat never disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import openai

from app.ui.texts import t
from generation.llm import LLMClient, LLMError, LLMModelNotFound, LLMUnavailable
from ground.config import LLMConfig, updated
from ground.errors import ConfigError

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
State = Literal["ok", "unreachable", "model_missing", "error"]


@dataclass(frozen=True)
class LLMHealth:
    state: State
    model: str = ""  # the model served (ok) or asked for (model_missing)
    served: tuple[str, ...] = ()  # what the server lists, when it is reachable but lacks the model
    detail: str = ""  # the full one-line error, for the light's tooltip

    def light(self) -> str:
        """The sidebar line."""
        if self.state == "ok":
            return t("health.ok", model=self.model)
        if self.state == "unreachable":
            return t("health.unreachable")
        if self.state == "model_missing":
            return t("health.model_missing", model=self.model, served=", ".join(self.served) or t("health.no_model"))
        return t("health.error")


def check_llm(base_url: str, model: str, api_key: str) -> LLMHealth:
    """One probe of the endpoint (no retries, a short timeout)."""
    try:
        probe = updated(LLMConfig(), {"base_url": base_url, "api_key": api_key, "model": model,
                                      "timeout_s": PROBE_TIMEOUT_S, "max_retries": 0})
    except ConfigError as exc:
        return LLMHealth("error", detail=str(exc))
    try:
        return LLMHealth("ok", LLMClient(probe).model.name)
    except LLMUnavailable as exc:
        return LLMHealth("unreachable", detail=str(exc))
    except LLMModelNotFound as exc:
        return LLMHealth("model_missing", model, served_models(probe), str(exc))
    except LLMError as exc:
        return LLMHealth("error", detail=str(exc))


def served_models(config: LLMConfig) -> tuple[str, ...]:
    """The model names ``/v1/models`` lists (empty when it cannot be read)."""
    client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key or "EMPTY", timeout=config.timeout_s,
                           max_retries=0)
    try:
        return tuple(card.id for card in client.models.list())
    except openai.OpenAIError as exc:
        log.debug("cannot list the models of %s: %s", config.base_url, exc)
        return ()
