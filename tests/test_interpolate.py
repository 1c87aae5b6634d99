"""{variable} interpolation replaces only what it should."""

from __future__ import annotations

from oai_magic.core.interpolate import interpolate

from .conftest import run


def test_known_variables_are_replaced():
    assert interpolate("Summarise {text} in {n} words", {"text": "this", "n": 5}) == "Summarise this in 5 words"


def test_unknown_names_json_code_and_latex_stay_as_typed():
    ns = {"x": 1}
    for text in [
        '{"a": 1, "b": [1, 2]}',
        "def f(): return {k: v for k, v in d.items()}",
        r"$\frac{a}{b}$ and \sqrt{x}",
        "{unknown} stays",
        "{{x}} is a template, not a placeholder",
        "{ x } has spaces",
        "{x",
    ]:
        assert interpolate(text, ns) == text


def test_in_and_out_history_are_replaced():
    ns = {"In": ["", "a = 1", "a + 1"], "Out": {2: 2}}
    assert interpolate("code {In[1]} gave {Out[2]}; {Out[9]} is missing", ns) == (
        "code a = 1 gave 2; {Out[9]} is missing"
    )


def test_chat_interpolates_from_the_user_namespace_unless_told_not_to(shell, server):
    shell.user_ns["topic"] = "tides"
    run(shell, '%%chat\n[[echo]] about {topic} with {"json": true}')
    assert server.requests[-1].json["messages"][-1]["content"] == '[[echo]] about tides with {"json": true}'
    run(shell, "%%chat --no-interpolate\n[[echo]] about {topic}")
    assert server.requests[-1].json["messages"][-1]["content"] == "[[echo]] about {topic}"


def test_latex_and_code_braces_next_to_names_are_not_placeholders():
    ns = {"x": 1, "n": 2, "a": 3, "b": 4}
    for text in [r"\sqrt{x}", r"\frac{a}{b}", "x^{n}", "a_{n}", "f{x}", "${x}"]:
        assert interpolate(text, ns) == text
    assert interpolate("f({x}) and [{n}]", ns) == "f(1) and [2]"
