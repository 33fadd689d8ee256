"""`deeprag serve` and `deeprag ask`: thin wrappers over app.serve and generation.answer."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path

from app.display import one_line
from ground.config import Config


def vllm_flags(text: str) -> tuple[str, ...]:
    """``--vllm-args`` split as a shell would; an unbalanced quote is a usage error, not a traceback."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r} into flags ({exc}); balance its quotes") from None


def register(sub: "argparse._SubParsersAction") -> None:
    """Add this module's subcommands; each sets `handler(args, config) -> int`."""
    serve = sub.add_parser("serve", help="start a vLLM server (OpenAI-compatible) for `deeprag ask`")
    serve.add_argument("--preset", help="preset name (see --list) or any model name / folder; default: serve.preset")
    serve.add_argument("--host", dest="serve_host", help="bind address (default: serve.host, 127.0.0.1)")
    serve.add_argument("--port", dest="serve_port", type=int, help="port (default: serve.port, 8000)")
    serve.add_argument("--api-key", dest="serve_api_key", metavar="KEY",
                       help="key vLLM asks every /v1 request for (serve.api_key; DEEPRAG_SERVE__API_KEY keeps it "
                            "out of `ps`); clients send it as llm.api_key")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback --host without an API key: anyone who reaches the port may use it")
    serve.add_argument("--vllm-args", type=vllm_flags, default=(),
                       help="extra vLLM flags, one quoted string; they override the preset's")
    serve.add_argument("--dry-run", action="store_true", help="print the exact command instead of running it")
    serve.add_argument("--list", action="store_true", help="list the presets")
    serve.add_argument("--plan", action="store_true", help="print the GPU memory plan instead of serving")
    serve.add_argument("--gpus", default="8xH200", help="for --plan: COUNTxMODEL, e.g. 8xH200, 16xH100")
    serve.add_argument("--context", type=int, default=8192, help="for --plan: tokens per RAG request")
    serve.add_argument("--model-config", type=Path, help="for --plan: a config.json (default: DeepSeek-V3's)")
    serve.set_defaults(handler=cmd_serve)

    ask = sub.add_parser("ask", help="answer a question from the index with the LLM, citing passages")
    ask.add_argument("question", nargs="?", help="the question (omit with --chat)")
    ask.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    ask.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ask.add_argument("--chat", action="store_true", help="interactive conversation; follow-ups use the history")
    ask.add_argument("--k", type=int, help="passages to retrieve")
    ask.add_argument("--mode", choices=["hybrid", "dense", "bm25"])
    ask.add_argument("--reranker", help="CrossEncoder name or folder")
    ask.add_argument("--base-url", help="OpenAI-compatible server URL (default: llm.base_url)")
    ask.add_argument("--model", dest="llm_model", help="model name on that server (default: the first it serves)")
    ask.set_defaults(handler=cmd_ask)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from app.serve import plan, presets

    if args.list:
        for preset in presets.PRESETS.values():
            print(f"{preset.name:<24} {preset.description}")
        print(f"{'<model name or folder>':<24} any other model, with the CPU defaults")
        return 0
    settings = config.serve
    preset = presets.resolve(args.preset or settings.preset)
    if args.plan:
        chosen = preset if args.preset and preset.device == "gpu" else None
        print(plan.render(plan.make_plan(args.gpus, args.context, args.model_config, chosen)))
        return 0
    from app.exposure import require_protection
    from app.serve.launcher import API_KEY_ENV, server_for_preset

    api_key = settings.api_key.get_secret_value()
    # Before anything is provisioned or started: a refusal leaves nothing behind.
    open_to_all = require_protection(
        "vLLM would answer", "serve.host", settings.host, protected=bool(api_key), insecure=args.insecure,
        fix="set an API key (--api-key KEY, serve.api_key or DEEPRAG_SERVE__API_KEY; clients send the same "
            "value as llm.api_key)",
    )
    if open_to_all:
        print(f"deeprag: warning: vLLM on {settings.host} answers anyone who reaches port {settings.port} "
              "(--insecure, no API key)", file=sys.stderr)
    server = server_for_preset(settings, preset, args.vllm_args, dry_run=args.dry_run)
    if args.dry_run:
        env = {**server.env, **({API_KEY_ENV: "<serve.api_key>"} if api_key else {})}  # the key itself is not shown
        print(presets.shell_command(server.argv, env))
        if preset.notes:
            print(f"# {preset.notes}")
        return 0
    # SIGTERM/SIGHUP end the process through SystemExit, so the `with` block below stops vLLM too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    with server:
        print(f"starting vLLM ({preset.name}); log: {server.log_path}", file=sys.stderr)
        server.wait_healthy(settings.startup_timeout_s)
        print(f"vLLM is serving {preset.served_name} at {server.url}  (Ctrl-C stops it)", flush=True)
        if api_key:
            print(_client_key_line(api_key, config.llm.api_key), flush=True)
        return server.wait()


def _client_key_line(api_key: str, client_key: str) -> str:
    """How clients get in: vLLM answers /v1 requests without serve.api_key with 401, and deeprag's own client
    sends llm.api_key, so the two must be the same value."""
    line = ("it asks every /v1 request for serve.api_key: set llm.api_key to the same value (DEEPRAG_LLM__API_KEY, "
            "or api_key under [llm] in deeprag.toml) wherever deeprag ask or deeprag ui talk to it")
    if client_key != api_key:
        line += "; this configuration's llm.api_key differs, so its deeprag ask would get 401"
    return line


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    from generation.answer import AnswerPipeline, Finished, Retrieved, TokenDelta
    from generation.llm import LLMClient, LLMError
    from retrieval.searcher import Searcher

    if not args.chat and not args.question:
        print("deeprag: ask needs a question (or --chat)", file=sys.stderr)
        return 2
    pipeline = AnswerPipeline(Searcher.for_config(config), LLMClient(config.llm), prompt=config.prompt,
                              grounding=config.grounding)
    history: list[dict[str, str]] = []
    questions = _chat_questions() if args.chat else [args.question]
    for question in questions:
        try:
            answer = None
            for event in pipeline.stream(question, history):
                if isinstance(event, Retrieved) and event.rewritten and not args.json:
                    print(f"(searching for: {event.query})", file=sys.stderr)
                elif isinstance(event, TokenDelta) and (args.stream or args.chat) and not args.json:
                    print(event.text, end="", flush=True)
                elif isinstance(event, Finished):
                    answer = event.answer
        except LLMError as exc:
            if exc.hits and not args.json:
                _print_sources(exc.hits, cited=set())
            raise
        assert answer is not None
        if args.json:
            print(json.dumps(answer.as_dict(), indent=2, ensure_ascii=False))
        else:
            print(answer.text if not (args.stream or args.chat) or answer.abstained else "")
            for line in _check_lines(answer):
                print(line)
            _print_sources(answer.hits, cited={c.number for c in answer.citations}, low=answer.abstained)
            print(_timing_line(answer), file=sys.stderr)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    return 0


def _chat_questions():
    """Questions typed at a prompt until an empty line or end of input."""
    while True:
        try:
            line = input("\nyou> ").strip()
        except EOFError:
            return
        if not line:
            return
        yield line


def _print_sources(hits, cited: set[int], low: bool = False) -> None:
    print("\nclosest passages (low relevance):" if low else "\nsources:")
    for number, hit in enumerate(hits, 1):
        c = hit.chunk
        where = c.source + (f" p.{c.page}" if c.page else "") + f" [{c.start}:{c.end}]"
        print(f"  {'*' if number in cited else ' '}[{number}] {one_line(c.title) or '(untitled)'}  ({one_line(where)})")


def _check_lines(answer) -> list[str]:
    """What the citation check found, for the sentences a reader should not take on trust."""
    lines = []
    for sentence in answer.checked:
        if sentence.status == "unsupported":
            lines.append(f"  unsupported: {one_line(sentence.text)} (its passage does not say this)")
        elif sentence.status == "uncited":
            lines.append(f"  uncited: {one_line(sentence.text)}")
        elif sentence.status == "repointed":
            cited = ", ".join(map(str, sentence.cited))
            lines.append(f"  re-pointed [{cited}] → [{sentence.supported_by[0]}]: {one_line(sentence.text)}")
    if answer.grounded is False:
        lines.append("  no sentence of this answer is supported by the passages: check it against the sources")
    return lines


def _timing_line(answer) -> str:
    """The footer (stderr) under an answer, what the user waited for first: e.g. `first token 2.3 s · total
    5.1 s · 5 passages (812 prompt tokens) · retrieve 0.12 s, rerank 0.40 s · cpu-small, 64 answer tokens`."""
    t = answer.timings_ms
    sent = answer.passages_sent
    parts = [
        f"first token {t['first_token'] / 1000:.1f} s" if "first_token" in t else "no answer tokens",
        f"total {t.get('total', 0.0) / 1000:.1f} s",
        f"{sent} passage{'' if sent == 1 else 's'} ({answer.usage.prompt_tokens} prompt tokens)",
    ]
    stages = ", ".join(f"{name} {t[name] / 1000:.2f} s" for name in ("rewrite", "retrieve", "rerank") if name in t)
    if stages:
        parts.append(stages)
    parts.append(f"{answer.model + ', ' if answer.model else ''}{answer.usage.completion_tokens} answer tokens")
    return " · ".join(parts)
