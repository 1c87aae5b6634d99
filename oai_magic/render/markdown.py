"""Model output (untrusted Markdown) → safe HTML for notebooks.

Raw HTML is off, so anything a model writes is shown as text and never runs. Links are
limited to http/https/mailto and open in a new tab; images are shown as links instead of
being fetched (a fetched image URL can carry conversation data to a third party). Math is
handed to the frontend's MathJax untouched: the answer is wrapped in MathJax's "ignore"
classes and only our math elements carry the "process" classes, so prices such as
"$5 and $10" stay text. markdown-it-py and Pygments are imported on first use.
"""

from __future__ import annotations

import html as _html
from functools import lru_cache
from typing import Any, Optional, Tuple

# MathJax 3 (JupyterLab 4) and MathJax 2 (classic notebook, nbviewer) spell these differently.
IGNORE_MATH = "tex2jax_ignore mathjax_ignore"
PROCESS_MATH = "tex2jax_process mathjax_process"
ANSWER_OPEN = f'<div class="oai-answer {IGNORE_MATH}">'
LINK_SCHEMES = ("http:", "https:", "mailto:")

_parser: Any = None


def escape_html(s: str) -> str:
    """Escape text for HTML element content and attribute values."""
    return _html.escape(s, quote=True)


def markdown_parser() -> Any:
    """The one MarkdownIt instance, built on first use (commonmark + tables, strikethrough, math)."""
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": False, "breaks": False, "highlight": highlight_code})
        md.enable(["table", "strikethrough"])
        md.validateLink = _safe_link  # type: ignore[method-assign]
        md.block.ruler.before(
            "fence", "oai_math_block", _math_block, {"alt": ["paragraph", "reference", "list"]}
        )
        md.inline.ruler.before("escape", "oai_math_inline", _math_inline)
        from mdit_py_plugins.amsmath import amsmath_plugin

        amsmath_plugin(md)
        md.add_render_rule("amsmath", _render_amsmath)
        md.add_render_rule("math_inline", _render_math)
        md.add_render_rule("math_block", _render_math)
        md.add_render_rule("link_open", _render_link_open)
        md.add_render_rule("image", _render_image)
        _parser = md
    return _parser


@lru_cache(maxsize=1)
def unhighlighted_options() -> Any:
    """Renderer options that leave code fences as escaped text (cheap, for live drafts)."""
    from markdown_it.utils import OptionsDict

    md = markdown_parser()
    return OptionsDict({**dict(md.options.items()), "highlight": None})


# Above this size Markdown rendering time cannot be bounded (markdown-it's link and emphasis
# rules cost up to ~10 µs a character on pathological input such as "[" repeated): show escaped
# text instead, so the final render stays within a few seconds.
MAX_MARKDOWN_CHARS = 500_000


def render_markdown(text: str) -> str:
    """Markdown → HTML body; raw HTML in ``text`` comes out escaped."""
    if len(text) > MAX_MARKDOWN_CHARS:
        return render_plain(text)
    return markdown_parser().render(text)


def render_plain(text: str) -> str:
    """The ``--plain`` form: the text as is, escaped, wrapping long lines."""
    return f'<pre style="white-space:pre-wrap">{escape_html(text)}</pre>'


# --- code highlighting -------------------------------------------------------------------


def highlight_code(code: str, lang: str, attrs: str = "") -> str:
    """Pygments spans with inline styles (no stylesheet needed); "" lets markdown-it escape."""
    lexer = _lexer(lang.lower()) if lang else None
    if lexer is None:
        return ""
    from pygments import highlight

    return highlight(code, lexer, _formatter())


@lru_cache(maxsize=64)
def _lexer(lang: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang, stripnl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, noclasses=True)


# --- links and images --------------------------------------------------------------------


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(LINK_SCHEMES)


def _render_link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return self.renderToken(tokens, idx, options, env)


def _render_image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    src = escape_html(str(token.attrGet("src") or ""))
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return f'<a href="{src}" target="_blank" rel="noopener noreferrer">[image: {escape_html(alt)}]</a>'


# --- math: $…$, $$…$$, \(…\), \[…\] kept verbatim for MathJax --------------------------------

_INLINE_DELIMS = (("\\(", "\\)", False), ("\\[", "\\]", True), ("$$", "$$", True))
_BLOCK_DELIMS = (("$$", "$$"), ("\\[", "\\]"))


@lru_cache(maxsize=16)
def _last(src: str, closer: str) -> int:
    """Where ``closer`` last occurs in ``src``: an opener after it can never close, so the
    search for its closer is skipped (unclosed ``\\(`` made rendering quadratic)."""
    return src.rfind(closer)


def _delimited(src: str, pos: int) -> Optional[Tuple[str, int, bool]]:
    """(content, end, display) for math opened at ``pos`` by \\(, \\[ or $$."""
    for opener, closer, display in _INLINE_DELIMS:
        if src.startswith(opener, pos):
            if _last(src, closer) < pos + len(opener):
                return None
            end = src.find(closer, pos + len(opener))
            content = src[pos + len(opener) : end] if end >= 0 else ""
            return (content, end + len(closer), display) if content.strip() else None
    return None


def _dollar(src: str, pos: int) -> Optional[Tuple[str, int, bool]]:
    """Pandoc's rule, so prices stay text: no space just inside either dollar, and the
    closing dollar is not followed by a digit. Only the first candidate may close."""
    end = src.find("$", pos + 1)
    if end < 0 or pos + 1 == end or src[pos + 1].isspace() or src[end - 1].isspace():
        return None
    if src[end - 1] == "\\" or (end + 1 < len(src) and src[end + 1].isdigit()):
        return None
    return src[pos + 1 : end], end + 1, False


def _math_inline(state: Any, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] not in "\\$":
        return False
    found = _delimited(src, pos)
    if found is None and src[pos] == "$" and not src.startswith("$$", pos):
        found = _dollar(src, pos)
    if found is None:
        return False
    content, stop, display = found
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = content
        token.meta = {"display": display}
    state.pos = stop
    return True


def _math_block(state: Any, start: int, end: int, silent: bool) -> bool:
    """``$$`` or ``\\[`` starting a line, closed at the end of the same or a later line."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    first = state.src[state.bMarks[start] + state.tShift[start] : state.eMarks[start]]
    delims = [d for d in _BLOCK_DELIMS if first.startswith(d[0])]
    if not delims:
        return False
    opener, closer = delims[0]
    if _last(state.src, closer) < state.bMarks[start] + state.tShift[start] + len(opener):
        return False  # no closer anywhere after this line
    rest = first[len(opener) :].rstrip()
    lines = []
    line = start
    while True:
        at = rest.find(closer)
        if at >= 0:
            if at != len(rest) - len(closer):
                return False  # text after the closer: leave it to the inline rule
            lines.append(rest[:at])
            break
        lines.append(rest)
        line += 1
        if line >= end or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
            return False  # unclosed (yet): no blank lines inside display math
        rest = state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]].rstrip()
    content = "\n".join(lines).strip("\n")
    if not content.strip():
        return False
    if silent:
        return True
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = content
    token.markup = opener
    token.map = [start, line + 1]
    token.meta = {"display": True}
    state.line = line + 1
    return True


def _render_amsmath(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    # MathJax finds \begin{...}...\end{...} itself (processEnvironments).
    return f'<div class="math display {PROCESS_MATH}">{escape_html(tokens[idx].content)}</div>\n'


def _render_math(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    display = bool((token.meta or {}).get("display"))
    tex = escape_html(token.content)
    if token.type == "math_block":
        return f'<div class="math display {PROCESS_MATH}">\\[{tex}\\]</div>\n'
    if display:
        return f'<span class="math display {PROCESS_MATH}">\\[{tex}\\]</span>'
    return f'<span class="math inline {PROCESS_MATH}">\\({tex}\\)</span>'
