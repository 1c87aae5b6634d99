"""Long practice answers in several languages and shapes, for benchmarks and demos.

``[[tokens=N]] [[lang=en|de|ru|zh|ja]] [[shape=prose|list|code|table]]`` asks for exactly N
tokens. Prose is paragraphs of real sentences; "list" is one long comma-separated sentence with
no full stop (the case that defeats punctuation-based seams); "code" one long fence; "table"
one long table. Chinese and Japanese come one or two characters a token, as real tokenizers
cut them; other scripts a word a token.
"""

from __future__ import annotations

import re
from typing import List, Tuple

LANGS = ("en", "de", "ru", "zh", "ja")

_PROSE = {
    "en": ["Streaming answers arrive one small piece at a time.",
           "A renderer that redraws everything on every token does quadratic work.",
           "Notebooks keep the conversation next to the code that uses it.",
           "Each request carries the whole history, so long chats cost more.",
           "Temperature trades predictability for variety."],
    "de": ["Überall entstehen Antworten Stück für Stück.",
           "Ärger gibt es nur, wenn der Bildschirm stehen bleibt.",
           "Übersichtliche Absätze lesen sich leichter als einzelne Zeilen.",
           "Öfter zeichnen kostet mehr, seltener zeichnen wirkt träge.",
           "Äpfel und Birnen werden hier nicht verglichen."],
    "ru": ["Ответ приходит по кусочку, и экран должен успевать.",
           "Длинные абзацы не должны распадаться на строки.",
           "Ёжик читает ответ, пока модель ещё пишет.",
           "Каждый запрос несёт всю историю разговора.",
           "Шрифт не меняется, когда приходит последний блок."],
    "zh": ["流式回答一次只到达一小段。", "每次重新绘制全部内容会带来平方级的开销。",
           "笔记本把对话放在使用它的代码旁边。", "每个请求都携带完整的历史，所以长对话更贵。",
           "温度在可预测性和多样性之间取舍。"],
    "ja": ["ストリーミングの回答は少しずつ届きます。", "毎回すべてを描き直すと二乗の手間がかかります。",
           "ノートブックは会話をコードのそばに置きます。", "各リクエストは履歴全体を運びます。",
           "温度は予測しやすさと多様さのかね合いです。"],
}
_ITEMS = {
    "en": ["apples", "pears", "plums", "cherries", "quinces", "figs", "dates", "limes"],
    "de": ["Äpfel", "Birnen", "Pflaumen", "Kirschen", "Quitten", "Feigen", "Datteln", "Limetten"],
    "ru": ["яблоки", "груши", "сливы", "вишни", "айва", "инжир", "финики", "лаймы"],
    "zh": ["苹果", "梨子", "李子", "樱桃", "榅桲", "无花果", "椰枣", "青柠"],
    "ja": ["りんご", "なし", "すもも", "さくらんぼ", "かりん", "いちじく", "なつめ", "ライム"],
}
_CJK = ("zh", "ja")


def _tokens(text: str, lang: str) -> List[str]:
    """Split text into tokens that join back to it exactly."""
    if lang in _CJK:
        return re.findall(r"\s+|[^\s]{1,2}", text)
    return re.findall(r"\s*\S+\s*", text)


def shaped_pieces(n: int, lang: str = "en", shape: str = "prose", offset: int = 0) -> Tuple[str, ...]:
    """Exactly ``n`` tokens of the given language and shape."""
    lang = lang if lang in LANGS else "en"
    pieces: List[str] = []
    k = offset
    if shape == "code":
        pieces.append("```python\n")
    elif shape == "table":
        pieces += ["| # | item | note |\n", "|---|---|---|\n"]
    while len(pieces) < n:
        if shape == "list":
            items = _ITEMS[lang]
            sep = "、" if lang in _CJK else ", "
            pieces += _tokens(items[k % len(items)] + sep, lang)
        elif shape == "code":
            pieces += _tokens(f"total_{k} = compute(rows[{k}], scale={k % 7})  # step {k}\n", "en")
        elif shape == "table":
            sentence = _PROSE[lang][k % 5].rstrip("。.")
            pieces += _tokens(f"| {k} | {_ITEMS[lang][k % 8]} | {sentence} |\n", lang)
        else:
            sentences = _PROSE[lang]
            space = "" if lang in _CJK else " "
            paragraph = space.join(sentences[(k + j) % 5] for j in range(6)) + "\n\n"
            pieces += _tokens(paragraph, lang)
        k += 1
    pieces = pieces[:n]
    if shape == "code" and n > 1:
        pieces[-1] = "```\n"
    return tuple(pieces)
