"""The answer as the chat shows it: each [n] linked to its source card, and the citation check's verdict
placed right after the sentence it is about (generation/grounding.py decides; this module only draws).

- unsupported: the sentence cites a passage that does not say it → an orange "unsupported" badge;
- repointed: the cited passage does not say it but another one does → the citation links to that one;
- uncited: no passage is cited → a grey "no source" badge;
- supported and filler sentences (no_claim) are left as written.

The result is Markdown with inline HTML, drawn with ``unsafe_allow_html``; the answer is the model's output,
so its own text is HTML-escaped first and only the marks added here are markup.
"""

from __future__ import annotations

import html
import re
from typing import Sequence

from app.ui.citations import citation_link, link_citations
from app.ui.texts import t
from generation.citations import CITATION
from generation.grounding import CheckedSentence

# Drawn once per page; the classes are what the browser test looks for.
STYLE = """<style>
.deeprag-badge {font-size: 0.72em; padding: 0.05em 0.45em; border-radius: 0.6em; margin-left: 0.3em;
  white-space: nowrap; cursor: help; vertical-align: 0.1em;}
.deeprag-unsupported {background: #ffe1cc; color: #9a3b00; border: 1px solid #f0a060;}
.deeprag-uncited {background: #eceff3; color: #4a5565; border: 1px solid #c5ccd6;}
.deeprag-stopped {background: #eceff3; color: #4a5565; border: 1px solid #c5ccd6;}
</style>"""


def badge(kind: str, label: str, tooltip: str) -> str:
    """An inline badge with a hover tooltip (``kind`` picks its colour: unsupported, uncited, stopped)."""
    return (f'<span class="deeprag-badge deeprag-{kind}" title="{html.escape(tooltip)}">'
            f"{html.escape(label)}</span>")


def marked_answer(text: str, checked: Sequence[CheckedSentence], passage_count: int, turn: int) -> str:
    """``text`` with its citations linked and each checked sentence's mark after it (spans from the check)."""
    parts, at = [], 0
    for sentence in sorted(checked, key=lambda c: c.start):
        if sentence.start < at or sentence.end > len(text):
            continue  # spans from another text: never cut the answer apart
        parts.append(link_citations(_escape(text[at:sentence.start]), passage_count, turn))
        parts.append(_marked_sentence(text[sentence.start:sentence.end], sentence, passage_count, turn))
        at = sentence.end
    parts.append(link_citations(_escape(text[at:]), passage_count, turn))
    return "".join(parts)


def _marked_sentence(written: str, sentence: CheckedSentence, passage_count: int, turn: int) -> str:
    body = _escape(written)
    if sentence.status == "repointed":
        return _repointed(body, sentence, turn)
    body = link_citations(body, passage_count, turn)
    if sentence.status == "unsupported":
        cited = ", ".join(f"[{n}]" for n in sentence.cited)
        return body + " " + badge("unsupported", t("marks.unsupported"), t("marks.unsupported_tip", cited=cited))
    if sentence.status == "uncited":
        tip = (t("marks.uncited_similar_tip", number=sentence.supported_by[0]) if sentence.supported_by
               else t("marks.uncited_tip"))
        return body + " " + badge("uncited", t("marks.uncited"), tip)
    return body


def _repointed(body: str, sentence: CheckedSentence, turn: int) -> str:
    """The sentence with its first citation replaced by links to the passages that support it (the rest
    dropped): the reader lands on the passage that says it, not on the one the model named."""
    wrote = ", ".join(f"[{n}]" for n in sentence.cited)
    links = "".join(citation_link(turn, n, t("marks.repointed_tip", cited=wrote))
                    for n in sentence.supported_by)
    replaced = False

    def once(match: re.Match) -> str:
        nonlocal replaced
        if replaced:
            return ""
        replaced = True
        return links

    return CITATION.sub(once, body)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
