"""Take the README's chat screenshots against a real OpenAI-compatible server.

The browser tests' pictures come from a random-weight toy model, so their answers are gibberish; these come
from the server a user would run (`deeprag serve`, cpu-small by default). Over an index of data/sample (built
in a temporary folder unless --index names one), `deeprag ui` is started on a free port and Chromium asks, each
in a new session from a browser in the question's language:

1. an English question the sample corpus answers → docs/screenshots/answer-en.png
2. a Chinese question it answers (the interface in Chinese too) → answer-zh.png
3. a question nothing in it covers, which should abstain → abstain.png

and saves answer-unsupported.png too for the first answer that carries an "unsupported" citation mark, if any.
What each answer turned out to be is printed, since a real model decides it.

    python scripts/readme_screenshots.py [--base-url http://127.0.0.1:8000/v1] [--model NAME] [--index DIR]
        [--only answer-unsupported.png ...] [--tries N]

Needs Chromium (scripts/install-browser.sh) and the test extras (Playwright).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's code, and its tests/browser_kit.py, before any installed copy

from playwright.sync_api import Locator, Page, expect  # noqa: E402

from app.ui.language import language_for  # noqa: E402
from app.ui.texts import t  # noqa: E402
from generation.grounding import abstain_message  # noqa: E402
from ground.config import load_config  # noqa: E402
from tests.browser_kit import (CHROMIUM, ask, assistant_messages, chromium, new_page,  # noqa: E402
                               running_ui, screenshot, user_messages)

SAMPLE = REPO / "data" / "sample"


@dataclass(frozen=True)
class Shot:
    file: str
    locale: str  # the browser's language, which the interface follows
    question: str
    wants_mark: bool = False  # ask again until the answer carries an "unsupported" mark


SHOTS = (
    Shot("answer-en.png", "en-US", "How does multi-head latent attention shrink the KV cache?"),
    Shot("answer-zh.png", "zh-CN", "检索增强生成分为哪两步？"),
    Shot("abstain.png", "en-US", "Who won the 2018 FIFA World Cup?"),
    Shot("answer-unsupported.png", "en-US", "Who invented vLLM and PagedAttention, and when?", wants_mark=True),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="the OpenAI-compatible server (default: the configuration's llm.base_url)")
    parser.add_argument("--model", help="the model to ask (default: the configuration's, else the first served)")
    parser.add_argument("--index", type=Path, help="an index of data/sample to use (default: one built in a temp dir)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument("--answer-timeout", type=float, default=900, help="seconds to wait for each answer")
    parser.add_argument("--tries", type=int, default=4, help="times to ask the question meant to show a mark")
    parser.add_argument("--only", nargs="*", help="take only these pictures (file names)")
    return parser.parse_args(argv)


def build_index(directory: Path) -> None:
    """Index data/sample with the configured embedder (what `deeprag ingest data/sample` would do)."""
    from ingest.pipeline import Ingestor

    print(f"indexing {SAMPLE} into {directory} …", flush=True)
    Ingestor.for_config(load_config(overrides={"index_dir": str(directory)})).run([SAMPLE])


def answered(page: Page, question: str, lang: str, timeout_s: float) -> Locator:
    """Ask ``question`` and wait until its turn is drawn finished: with the answer's Copy button (an answer or
    the abstain message), or with a message saying why there is none."""
    ask(page, question)
    answer = assistant_messages(page).first
    done = answer.get_by_role("button", name=t("turn.copy", lang)).or_(answer.locator('[data-testid="stAlert"]'))
    expect(done.first).to_be_visible(timeout=timeout_s * 1000)
    return answer


def take(browser, url: str, shot: Shot, out: Path, timeout_s: float) -> int:
    """One question in a new session, its picture, and a line on what came back; returns how many
    "unsupported" marks the answer carries."""
    lang = language_for(shot.locale)
    page = new_page(browser, url, shot.locale)
    try:
        answer = answered(page, shot.question, lang, timeout_s)
        screenshot(page, out / shot.file, top=user_messages(page).first)
        abstained = answer.get_by_text(abstain_message(shot.question)).count() > 0
        unsupported = answer.locator(".deeprag-unsupported").count()
        print(f"{shot.file}: {shot.question!r} → {'abstained' if abstained else 'answered'}, "
              f"{unsupported} unsupported mark(s)", flush=True)
        return unsupported
    finally:
        page.context.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not CHROMIUM.exists():
        print(f"no {CHROMIUM}; run scripts/install-browser.sh", file=sys.stderr)
        return 2
    base_url = args.base_url or load_config().llm.base_url
    with tempfile.TemporaryDirectory(prefix="deeprag-screenshots-") as scratch:
        index = args.index or Path(scratch) / "index"
        if not (index / "manifest.json").exists():
            build_index(index)
        env = {"DEEPRAG_INDEX_DIR": str(index.resolve()), "DEEPRAG_LLM__BASE_URL": base_url,
               "XDG_DATA_HOME": str(Path(scratch) / "xdg"), "HF_HUB_OFFLINE": "1"}  # chats kept out of the user's
        if args.model:
            env["DEEPRAG_LLM__MODEL"] = args.model
        with running_ui(env) as url, chromium() as browser:
            print(f"deeprag ui at {url}, LLM at {base_url}", flush=True)
            for shot in (s for s in SHOTS if not args.only or s.file in args.only):
                for attempt in range(1, (args.tries if shot.wants_mark else 1) + 1):
                    if take(browser, url, shot, args.out, args.answer_timeout) or not shot.wants_mark:
                        break
                    print(f"  no mark in answer {attempt} of {args.tries}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
