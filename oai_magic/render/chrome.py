"""The chrome around an answer, in one place: marks, notices, footers, the stop and cut-off
lines, and the JSON form of a final answer, each as HTML and as text.

Every view (a cell, the columns of ``-N``, tool cards, transcripts, the panel, a terminal) calls
these; a second copy of any of them is how the footers and marks drifted apart before. Server
text in them (model ids, request ids, error reasons) is escaped and kept away from MathJax.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, TextIO, Tuple

from ..plain_text import terminal_safe
from .markdown import ANSWER_OPEN, IGNORE_MATH, escape_html

if TYPE_CHECKING:  # result types only: importing the chat use case here would load the HTTP stack
    from ..core.results import ChatResult, Choice
    from ..core.transcription_result import TranscriptResult

# --- marks: one line under an answer that is not simply complete ----------------------------

TOKEN_LIMIT_MARK = "⚠ cut off at the token limit (finish_reason: length)"
FILTERED_MARK = "⚠ stopped by the content filter"
REFUSED_MARK = "⚠ the model refused"
PARTIAL_MARK = "■ partial answer"  # a recorded partial answer, shown again (the panel)


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) as one space: a mark or an error is one line."""
    return " ".join(text.split())


def cut_off_mark(reason: str) -> str:
    """``⚠ cut off: <reason, one line>`` (CONTRACTS 1)."""
    return f"⚠ cut off: {one_line(reason)}"


def ignored_limit_mark(limit: int) -> str:
    return (f"⚠ cut off: the server ignored --max-tokens {limit} (the answer ran past twice that); "
            'try %config OAIMagics.max_tokens_param = "max_tokens"')


def finish_mark(finish_reason: Optional[str], refused: bool) -> Optional[str]:
    """The mark a finish reason (or a refusal with no text) calls for, if any."""
    if finish_reason == "length":
        return TOKEN_LIMIT_MARK
    if finish_reason == "content_filter":
        return FILTERED_MARK
    if refused:
        return REFUSED_MARK
    return None


def choice_mark(choice: Optional[Choice]) -> Optional[str]:
    """The mark under one choice of ``-N``."""
    if choice is None:
        return None
    return finish_mark(choice.finish_reason, bool(choice.refusal and not choice.text))


def result_mark(result: ChatResult) -> Optional[str]:
    """The mark under an answer that is not simply complete.

    A stop by the user has no mark here: a cell ends with :func:`stop_line` as its only
    line (saying it twice was the old noise), and the panel shows that line itself.
    """
    if result.interrupted or result.nothing_arrived:  # the cell's one line says it
        return None
    if result.ignored_limit is not None and not result.error:
        return ignored_limit_mark(result.ignored_limit)
    if result.error:
        return cut_off_mark(result.error)
    first = result.choices[0] if result.choices else None
    return finish_mark(result.finish_reason, bool(first and first.refusal and not first.text))


def mark_html(mark: Optional[str]) -> str:
    """A mark as a bold line ("" for none)."""
    if not mark:
        return ""
    return f'<div class="oai-mark" style="margin-top:0.4em;font-weight:bold">{escape_html(mark)}</div>'


def answer_html(body_html: str, mark: Optional[str] = None) -> str:
    """The outer block of an answer, with an optional visible mark such as "⚠ cut off: ..."."""
    return f"{ANSWER_OPEN}{body_html}{mark_html(mark)}</div>"


# The answer's region of a live surface: the same wrapper as the final block, so nothing moves.
ANSWER_REGION = answer_html("")


# --- the one line a cell (or the panel) ends with ------------------------------------------


def stop_line(result: ChatResult) -> str:
    """The one line an answer stopped by the user ends with (Ctrl-C, the panel's Stop)."""
    if result.nothing_arrived:
        return "■ stopped before any answer arrived"
    return f"■ stopped — kept in '{result.conversation}' as partial"


def kept_as_partial(conversation: str) -> str:
    """Where a partial answer went and how to take it back: the end of every cut-off line."""
    undo = "%chat undo" if conversation == "default" else f"%chat undo -c {conversation}"
    return f"kept in '{conversation}' as partial; {undo} removes it"


def cut_off_line(conversation: str) -> str:
    """The cell's failure line under a partial answer; the mark above it already gave the reason."""
    return f"answer cut off — {kept_as_partial(conversation)}"


# --- notices: muted lines above an answer (CONTRACTS 3) --------------------------------------


def notice_html(notice: str) -> str:
    """One notice line; the sent-line (``context.SentNotice``) adds a small thumbnail per image."""
    images = getattr(notice, "images", None) or []
    thumbnails = ""
    if images:
        from .attachments import thumbnail_html

        thumbnails = '<div class="oai-thumbnails">' + "".join(thumbnail_html(a) for a in images) + "</div>"
    return (f'<div class="oai-notice {IGNORE_MATH}" style="font-size:smaller;opacity:0.75">'
            f"{escape_html(notice)}{thumbnails}</div>")


def notices_html(notices: Iterable[str]) -> str:
    """Muted lines above an answer (history trimmed, retried, ...): text, never markup."""
    return "".join(notice_html(n) for n in notices)


def warnings_only(notices: List[str]) -> List[str]:
    """What stays of the notices when no answer arrived (CONTRACTS 1: one line and nothing
    else): only warnings about what has already left, such as a key sent over plain http. A
    sent-line or a trimmed history would describe a request that came to nothing."""
    return [notice for notice in notices if notice.startswith("Warning:")]


def warnings_block(notices: List[str]) -> Tuple[str, str]:
    """The warnings among ``notices`` as what is left of a cell where no answer arrived."""
    kept = warnings_only(notices)
    return notices_html(kept), "\n".join(kept)


def notice_line(notice: str) -> str:
    """A notice as a terminal (or ``text/plain``) shows it, on a line of its own."""
    return f"[{terminal_safe(notice)}]"


def all_notices(shown: List[str], result: Any) -> List[str]:
    """Notices shown at the start plus those that arose later (a retry, fewer choices), once each."""
    return list(dict.fromkeys([*shown, *result.notices]))


# --- footers: model · tokens · timings · request id · billing -------------------------------


PRACTICE_BADGE = "practice"  # the first footer part when the practice server answered (CONTRACTS 4)


def footer_html(parts: Iterable[str]) -> str:
    """One muted line: model · tokens · timings · request id · billing.

    Its parts come from the server (model, request id, organization): escaped and marked for
    MathJax to ignore, so a header like ``$\\href{...}{...}$`` stays text, never a link.
    """
    parts = [p for p in parts if p]
    badge = ""
    if parts[:1] == [PRACTICE_BADGE]:  # legible, not muted with the rest: it says what answered
        badge = ('<span class="oai-practice-badge" style="font-weight:bold;border:1px solid '
                 'currentColor;border-radius:3px;padding:0 0.3em;margin-right:0.4em">practice</span>')
        parts = parts[1:]
    line = " · ".join(escape_html(p) for p in parts)
    return (f'<div class="oai-footer" style="font-size:smaller;margin-top:0.3em"><span '
            f'class="{IGNORE_MATH}">{badge}<span style="opacity:0.65">{line}</span></span></div>')



def footer_text(parts: Iterable[str]) -> str:
    """The footer as text: ``— model · tokens · …`` (the same parts as the HTML)."""
    return "— " + " · ".join(p for p in parts if p)


def usage_footer(subject: Iterable[str], *, practice: bool = False,
                 usage: Optional[Dict[str, Any]] = None, tokens: Optional[int] = None,
                 priced: bool = True, cost: Optional[float] = None,
                 after: Iterable[str] = (), price_source: Optional[str] = None) -> List[str]:
    """The one footer every surface ends with (a chat answer, a transcript, a ``--map``
    summary, the panel's status): a "practice" badge when the practice server answered, what
    answered (model, file), the tokens, the cost by the one cost function's text, then
    timings, request id and billing (``after``), in reading order."""
    from ..core.costs import format_cost

    parts = [PRACTICE_BADGE] if practice else []
    parts.extend(p for p in subject if p)
    if usage:
        estimated = usage.get("estimated")  # a stopped answer: the server reported nothing
        parts.append(f"{'≈ ' if estimated else ''}{usage.get('prompt_tokens', '?')} prompt → "
                     f"{usage.get('completion_tokens', '?')} completion tokens"
                     f"{' (estimated)' if estimated else ''}")
        parts.extend(usage_detail_parts(usage))
    elif tokens is not None:
        parts.append(f"{tokens:,} tokens")
    if priced:
        parts.append(format_cost(cost) + (f" ({price_source})" if price_source and cost is not None
                                          else ""))
    parts.extend(p for p in after if p)
    return parts


def footer_parts(result: ChatResult) -> List[str]:
    """A chat answer's footer (:func:`usage_footer`): model, tokens, cost, timings, request
    id and who was billed."""
    from ..state import from_practice_server

    usage = result.usage or {}
    # A server that ignores stream_options.include_usage reports none.
    after = ["usage not reported"] if result.choices and not usage else []
    if not result.streamed:
        # Without streaming the first token comes with the last: one time says it all.
        if result.total_seconds is not None:
            after.append(f"time {result.total_seconds:.2f} s")
    else:
        if result.first_token_seconds is not None:
            after.append(f"first token {result.first_token_seconds:.2f} s")
        if result.total_seconds is not None:
            after.append(f"total {result.total_seconds:.2f} s")
    after.append(result.request_id or "")
    after.extend(_billing_parts(result))
    return usage_footer([result.model or "?", served_tier_label(result.service_tier)],
                        practice=from_practice_server(result.headers),
                        usage=usage, priced=bool(usage), cost=result.cost, after=after,
                        price_source=result.price_source)


def served_tier_label(tier: Optional[str]) -> str:
    """"flex tier" when the server says a tier other than the standard one served the answer
    (it is priced so); "" for the default. Server text: one short cleaned word."""
    if not isinstance(tier, str) or tier in ("", "default", "auto", "standard"):
        return ""
    return f"{terminal_safe(one_line(tier))[:40]} tier"


def transcript_model_label(result: TranscriptResult) -> str:
    """The served model where the server says it (speech servers may ignore ``model``), else
    the requested one, marked so unless OpenAI's API (its headers) answered."""
    if result.served_model and result.served_model != result.model:  # server text: cleaned
        return f"{terminal_safe(result.served_model)} (asked for {result.model})"
    if result.served_model or "openai-version" in result.headers:
        return result.model
    return f"{result.model} (requested)"


def transcript_footer_parts(result: TranscriptResult, *, named: bool = True) -> List[str]:
    """A transcript's footer (:func:`usage_footer`): file (unless ``named`` already), model,
    task, language, length."""
    from ..core.costs import Tokens, transcription_usage
    from ..state import from_practice_server

    subject = [result.filename if named else "", transcript_model_label(result)]
    if result.task == "translate":
        subject.append("translated to English")
    if result.language:
        subject.append(str(result.language))
    if result.duration is not None:
        subject.append(f"{result.duration:.1f} s of audio")
    tokens = Tokens.of(transcription_usage(result.usage)).total
    return usage_footer(subject, practice=from_practice_server(result.headers),
                        tokens=tokens or None,
                        priced=bool(result.usage) or result.duration is not None,
                        cost=result.cost, after=[result.request_id or ""],
                        price_source=getattr(result, "price_source", None))


def usage_detail_parts(usage: dict) -> List[str]:
    """Cached prompt tokens and reasoning tokens, when the usage carries them (non-zero)."""
    from ..core.costs import Tokens

    tokens, parts = Tokens.of(usage), []
    if tokens.cached:
        parts.append(f"{tokens.cached} cached")
    if tokens.reasoning:
        parts.append(f"{tokens.reasoning} reasoning")
    return parts


def _billing_parts(result: ChatResult) -> List[str]:
    """"billed to ORG" only when the server's header says so; an asked-for org is "(requested)"."""
    billed = result.billed_organization
    project = result.headers.get("openai-project") or result.project
    if billed:
        return ["billed to " + " / ".join(p for p in (billed, project) if p)]
    parts = []
    if result.organization:
        parts.append(f"org {result.organization} (requested)")
    if result.project:
        parts.append(f"project {result.project} (requested)")
    return parts


# --- JSON answers (--json) -------------------------------------------------------------------


def pretty_json(text: str) -> Optional[str]:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, a number past 4,300 digits, deep nesting
        return None


def json_final_text(text: str, *, json_mode: bool, partial: bool) -> Optional[str]:
    """A complete ``--json`` answer that parses, as a fenced block for the final render; None
    keeps the answer as it came (not JSON mode, partial, or not valid JSON)."""
    if not json_mode or partial:
        return None
    pretty = pretty_json(text)
    return f"```json\n{pretty}\n```" if pretty is not None else None


# --- rate limits -------------------------------------------------------------------------------


def rate_limits(headers: Dict[str, str]) -> List[Tuple[str, str, str, str]]:
    """(kind, remaining, limit, reset) for requests and tokens, as the server's headers say."""
    found = []
    for kind in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        if remaining is not None:
            found.append((kind, remaining, headers.get(f"x-ratelimit-limit-{kind}", "?"),
                          headers.get(f"x-ratelimit-reset-{kind}", "?")))
    return found


def rate_limits_left(headers: Dict[str, str]) -> str:
    """``9,998 requests · 199,990 tokens left`` from the rate-limit headers, or ""."""
    parts = []
    for kind, remaining, _, _ in rate_limits(headers):
        shown = f"{int(remaining):,}" if remaining.isascii() and remaining.isdigit() else remaining
        parts.append(f"{shown} {kind}")
    return " · ".join(parts) + " left" if parts else ""


def rate_limit_rows(headers: Dict[str, str]) -> List[Tuple[str, str]]:
    """``%oai`` status rows: ("rate limit (requests)", "9998 of 10000 left, resets in 1s")."""
    return [(f"rate limit ({kind})", f"{remaining} of {limit} left, resets in {reset}")
            for kind, remaining, limit, reset in rate_limits(headers)]


# --- terminals ---------------------------------------------------------------------------------

def write_terminal_closing(out: TextIO, parts: List[str], mark: Optional[str], *, footer: bool,
                           sources: str = "") -> None:
    """The lines under a terminal answer: its mark, its sources, then the footer."""
    if mark:
        out.write(notice_line(mark) + "\n")
    if sources:
        out.write(sources + "\n")
    if footer:
        out.write(terminal_safe(footer_text(parts)) + "\n")
    out.flush()
