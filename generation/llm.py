"""Client for any OpenAI-compatible chat server (vLLM here), built on the `openai` SDK.

The SDK already does timeouts and bounded retries with backoff on connection errors and 5xx answers
(`max_retries`), so this module only adds what deeprag needs on top: which model to use when the config
leaves it empty, the server's context length (vLLM reports `max_model_len` in `/v1/models`), exact prompt
token counts (vLLM's `/tokenize`), and one typed, one-line error per failure a user can fix.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from typing import Iterator

import httpx
import openai

# The SDK tells its clients apart by looking for `httpx2` in sys.modules on every client it builds; a module
# another thread is still importing (huggingface_hub's, while the UI loads the embedder in the background) is
# there half-initialised, and building a client then fails ("partially initialized module 'httpx2' has no
# attribute 'URL'"). Importing it here, once, before any thread can race, closes that window.
with contextlib.suppress(ImportError):
    import httpx2  # noqa: F401

from ground.config import LLMConfig
from ground.errors import DeepragError

log = logging.getLogger(__name__)

Message = dict[str, str]


class LLMError(DeepragError):
    """A generation failure. The answer pipeline sets ``hits`` to the passages retrieved before it, so a
    caller can still show the sources."""

    hits: tuple = ()


class LLMUnavailable(LLMError):
    """The server cannot be reached (not started, wrong URL, crashed) or timed out."""


class LLMModelNotFound(LLMError):
    """The configured model name is not one the server serves."""


class LLMUnauthorized(LLMError):
    """The server wants an API key and llm.api_key is not it (HTTP 401)."""


class ContextOverflow(LLMError):
    """The prompt cannot fit into the server's context window, even with every passage trimmed."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ModelInfo:
    name: str
    max_model_len: int | None  # None when the server does not say (non-vLLM servers)


class LLMClient:
    """One server, one model. Cheap to create; the model lookup is done once, on first use."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "EMPTY",
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )

    @functools.cached_property
    def model(self) -> ModelInfo:
        """The configured model as the server lists it (or the first one listed when none is configured)."""
        with self._errors():
            served = list(self._client.models.list())
        if not served:
            raise LLMModelNotFound(f"the server at {self.config.base_url} serves no model; check how it was started")
        names = [m.id for m in served]
        wanted = self.config.model or names[0]
        for card in served:
            if card.id == wanted:
                extra = card.model_extra or {}
                return ModelInfo(card.id, extra.get("max_model_len"))
        raise LLMModelNotFound(
            f"the server at {self.config.base_url} does not serve model '{wanted}'; it serves "
            f"{', '.join(names)}: set llm.model (DEEPRAG_LLM__MODEL) to one of them, or leave it empty"
        )

    def count_prompt_tokens(self, messages: list[Message]) -> int | None:
        """Tokens of the chat prompt after the server's chat template, via vLLM's `/tokenize`; None elsewhere."""
        root = str(self._client.base_url).rstrip("/").removesuffix("/v1")
        try:
            with self._errors():
                response = self._client.post(
                    f"{root}/tokenize",
                    body={"model": self.model.name, "messages": messages, "add_generation_prompt": True},
                    cast_to=object,
                )
        except LLMUnavailable:
            raise
        except LLMError as exc:  # a server without /tokenize: the caller falls back to an estimate
            log.debug("no /tokenize on %s: %s", root, exc)
            return None
        return int(response["count"]) if isinstance(response, dict) and "count" in response else None

    def complete(self, messages: list[Message], max_tokens: int | None = None) -> tuple[str, Usage]:
        """A whole reply at once (used for query rewriting, where nothing is shown until it is done)."""
        with self._errors():
            response = self._client.chat.completions.create(
                model=self.model.name,
                messages=messages,
                temperature=self.config.temperature,
                max_tokens=max_tokens or self.config.max_tokens,
            )
        usage = response.usage
        text = response.choices[0].message.content or ""
        return text, Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage()

    def stream(self, messages: list[Message], max_tokens: int | None = None) -> Iterator[str | Usage]:
        """Yield text deltas as they arrive, then one `Usage` at the end."""
        usage = Usage()
        finished = False
        # The stream is closed however reading ends, also when the caller stops early (the chat's Stop closes
        # this generator): an abandoned stream left open would keep the server generating for nobody. The SDK's
        # Stream holds a reference cycle, so without this its response waits for a full garbage collection.
        with self._errors(), self._client.chat.completions.create(
            model=self.model.name,
            messages=messages,
            temperature=self.config.temperature,
            max_tokens=max_tokens or self.config.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        ) as chunks:
            for chunk in chunks:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    finished = finished or choice.finish_reason is not None
                    if choice.delta.content:
                        yield choice.delta.content
        if not finished:  # the connection closed cleanly, but before the model's last chunk: a cut answer
            raise LLMUnavailable(
                f"the LLM server at {self.config.base_url} closed the answer stream before the model finished; "
                "check that it is still running (`deeprag serve`), then ask again"
            )
        yield usage

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return _translated_errors(self.config)


@contextlib.contextmanager
def _translated_errors(config: LLMConfig) -> Iterator[None]:
    """Turn the SDK's exceptions into deeprag's one-line errors, each naming its fix."""
    url = config.base_url
    try:
        yield
    except openai.APITimeoutError as exc:  # a subclass of APIConnectionError: check it first
        raise LLMUnavailable(
            f"the LLM server at {url} did not answer within {config.timeout_s:.0f} s; "
            "it may still be loading the model, or raise llm.timeout_s"
        ) from exc
    except openai.APIConnectionError as exc:
        raise LLMUnavailable(
            f"cannot reach the LLM server at {url}; start one with `deeprag serve` "
            "or point llm.base_url (DEEPRAG_LLM__BASE_URL) at a running server"
        ) from exc
    # While a streamed answer is read, the SDK no longer wraps transport errors: a stalled or dropped stream
    # arrives as httpx's own exception.
    except httpx.TimeoutException as exc:
        raise LLMUnavailable(
            f"the LLM server at {url} stopped sending the answer for {config.timeout_s:.0f} s; "
            "it may be overloaded: raise llm.timeout_s or send fewer requests at once"
        ) from exc
    except httpx.TransportError as exc:
        raise LLMUnavailable(
            f"the connection to the LLM server at {url} broke while the answer was streaming ({exc}); "
            "check that it is still running (`deeprag serve`)"
        ) from exc
    except openai.OpenAIError as exc:
        message = _server_message(exc)
        if isinstance(exc, openai.AuthenticationError):
            raise LLMUnauthorized(
                f"the LLM server at {url} refused llm.api_key ({message}); set llm.api_key "
                "(DEEPRAG_LLM__API_KEY) to the server's key (for `deeprag serve`, its serve.api_key)"
            ) from exc
        if isinstance(exc, openai.NotFoundError) and "model" in message.lower():
            raise LLMModelNotFound(
                f"the server at {url} does not serve model '{config.model}': {message}; "
                "set llm.model to a served name, or leave it empty"
            ) from exc
        if isinstance(exc, openai.BadRequestError) and _is_context_error(message):
            raise ContextOverflow(
                f"the prompt does not fit the model's context ({message}); "
                "lower retrieval.k or llm.max_tokens, or start the server with a larger --max-model-len"
            ) from exc
        raise LLMError(f"the LLM server at {url} refused the request: {message}") from exc


def _server_message(exc: openai.OpenAIError) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return " ".join(str(inner["message"]).split())
    return " ".join(str(exc).split())[:300]


def _is_context_error(message: str) -> bool:
    lowered = message.lower()
    return any(key in lowered for key in ("context length", "max_model_len", "maximum context", "too long"))
