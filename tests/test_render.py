"""What a user sees when model Markdown becomes HTML: structure, code, math, and safety."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oai_magic.render.chrome import answer_html, footer_html
from oai_magic.render.markdown import (
    escape_html,
    render_markdown,
    render_plain,
)

ROOT = Path(__file__).resolve().parent.parent


def test_tables_render_as_html_tables():
    html = render_markdown("| name | size |\n|---|---:|\n| a | 1 |\n")
    assert "<table>" in html
    assert "<th>name</th>" in html
    assert '<td style="text-align:right">1</td>' in html


def test_strikethrough_renders_as_struck_text():
    assert "<s>old</s>" in render_markdown("~~old~~ new")


def test_python_fence_is_highlighted_with_inline_styles_and_needs_no_stylesheet():
    html = render_markdown("```python\ndef f(x):\n    return x < 1\n```\n")
    assert html.startswith('<pre><code class="language-python">')
    assert '<span style="color:' in html
    assert 'class="k"' not in html  # no Pygments CSS classes
    assert "&lt; " in html or "&lt;</span>" in html


def test_fence_in_unknown_language_is_plain_escaped_code():
    html = render_markdown("```nosuchlanguage\n<b>x</b>\n```\n")
    assert html == '<pre><code class="language-nosuchlanguage">&lt;b&gt;x&lt;/b&gt;\n</code></pre>\n'


def test_fence_without_language_is_plain_escaped_code():
    assert render_markdown("```\na < b\n```\n") == "<pre><code>a &lt; b\n</code></pre>\n"


def test_inline_dollar_math_keeps_its_asterisks_for_mathjax():
    html = render_markdown("Here $a*b*c$ holds.")
    assert "\\(a*b*c\\)" in html
    assert "<em>" not in html


def test_display_dollar_math_is_kept_verbatim():
    html = render_markdown("$$\nx_1 * y_2 * z\n$$\n")
    assert "\\[x_1 * y_2 * z\\]" in html
    assert "<em>" not in html


def test_bracket_math_keeps_backslashes_and_underscores():
    inline = render_markdown(r"So \(a_1 * b_1 * c\) is it.")
    block = render_markdown("\\[\nx_1 = \\frac{a_b}{c_d}\n\\]\n")
    in_text = render_markdown(r"where \[x_1\] is shown")
    assert r"\(a_1 * b_1 * c\)" in inline
    assert r"\[x_1 = \frac{a_b}{c_d}\]" in block
    assert r"\[x_1\]" in in_text
    assert "<em>" not in inline + block + in_text


def test_amsmath_environment_passes_through():
    html = render_markdown("\\begin{align}\na_1 &= b*c*\n\\end{align}\n")
    assert "\\begin{align}\na_1 &amp;= b*c*\n\\end{align}" in html


def test_math_is_escaped_html_inside_a_mathjax_process_element():
    html = render_markdown("$a<b$")
    assert '<span class="math inline tex2jax_process mathjax_process">\\(a&lt;b\\)</span>' in html


def test_prices_stay_text():
    for text in ("costs $5 and $10", "from $5-$10 a month", "$5, or $20 for two"):
        html = render_markdown(text)
        assert "math" not in html, text
        assert "$5" in html


def test_answer_is_wrapped_so_mathjax_ignores_everything_but_math():
    html = answer_html(render_markdown("Pay $5 and $10 for $x$."))
    assert html.startswith('<div class="oai-answer tex2jax_ignore mathjax_ignore">')
    assert "mathjax_process" in html


def test_raw_script_is_shown_as_text_not_run():
    html = render_markdown("<script>alert(1)</script>")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_img_with_onerror_is_shown_as_text():
    html = render_markdown('<img src=x onerror="alert(1)">')
    assert "<img" not in html
    assert "&lt;img src=x onerror=" in html


def test_javascript_and_data_links_are_not_links():
    for url in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,hi", "vbscript:x"):
        html = render_markdown(f"[click]({url})")
        assert "<a" not in html, url
        assert "href" not in html, url


def test_http_and_mailto_links_open_in_a_new_tab_without_opener():
    html = render_markdown("[docs](https://example.com/a) <mailto:me@example.com>")
    assert '<a href="https://example.com/a" target="_blank" rel="noopener noreferrer">docs</a>' in html
    assert 'href="mailto:me@example.com"' in html


def test_images_become_links_and_are_not_fetched():
    html = render_markdown('![chart "q1"](https://example.com/x.png)')
    assert "<img" not in html
    assert 'href="https://example.com/x.png"' in html
    assert "[image: chart &quot;q1&quot;]" in html


def test_footer_is_one_escaped_muted_line():
    html = footer_html(["gpt-4o-mini", "12 → 340 tokens", "<b>req</b>", "org & proj"])
    assert html.startswith('<div class="oai-footer" style="font-size:smaller')
    assert '<span style="opacity:0.65">gpt-4o-mini · ' in html  # muted (the practice badge is not)
    assert "gpt-4o-mini · 12 → 340 tokens · &lt;b&gt;req&lt;/b&gt; · org &amp; proj" in html
    assert "<br" not in html


def test_answer_mark_is_visible_and_escaped():
    html = answer_html("<p>hi</p>", mark="⚠ cut off: <timeout>")
    assert "<p>hi</p>" in html
    assert "⚠ cut off: &lt;timeout&gt;" in html
    assert html.endswith("</div></div>")


def test_plain_form_is_escaped_preformatted_text():
    assert render_plain("a <b>\n  c") == '<pre style="white-space:pre-wrap">a &lt;b&gt;\n  c</pre>'


def test_escape_html_escapes_quotes_for_attributes():
    assert escape_html("\"'<&>") == "&quot;&#x27;&lt;&amp;&gt;"


def test_importing_the_renderer_does_not_load_markdown_it_pygments_or_ipython():
    code = (
        "import sys, oai_magic.render.markdown, oai_magic.render.live\n"
        "heavy = [m for m in ('markdown_it', 'mdit_py_plugins', 'pygments', 'IPython')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
