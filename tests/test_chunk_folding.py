"""The accumulator folds chunk dicts into whole answers, and refuses shapes that are not chunks.

Each refusal is a ``MalformedChunk`` whose text the user reads as "the server sent a malformed
answer: <text>", so the texts are checked whole.
"""

from __future__ import annotations

import pytest

from oai_magic.api.accumulator import ChatAccumulator, MalformedChunk


def chunk(content=None, finish=None, index=0, **delta):
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def folded(*chunks) -> ChatAccumulator:
    accumulator = ChatAccumulator()
    for item in chunks:
        accumulator.add(item)
    return accumulator


def refusal_of(*chunks) -> str:
    with pytest.raises(MalformedChunk) as caught:
        folded(*chunks)
    return str(caught.value)


def call(index=None, id=None, name=None, arguments=None, type=None):
    fragment = {"function": {}}
    for field, value in (("index", index), ("id", id), ("type", type)):
        if value is not None:
            fragment[field] = value
    if name is not None:
        fragment["function"]["name"] = name
    if arguments is not None:
        fragment["function"]["arguments"] = arguments
    return fragment


# --- what a stream adds up to ----------------------------------------------------------------


def test_content_pieces_join_into_the_answer_and_add_returns_each_piece_to_draw():
    accumulator = ChatAccumulator()
    assert accumulator.add(chunk("Hel")) == [(0, "Hel")]
    assert accumulator.add(chunk("lo")) == [(0, "lo")]
    assert accumulator.choice(0).content == "Hello"
    assert accumulator.content_chars == 5


def test_an_empty_content_piece_draws_nothing():
    accumulator = folded(chunk("a"))
    assert accumulator.add(chunk("")) == []
    assert accumulator.choice(0).content_parts == ["a"]


def test_a_choice_with_no_content_has_empty_text_and_no_refusal_or_reasoning():
    state = folded(chunk(None, "stop")).choice(0)
    assert (state.content, state.refusal, state.reasoning) == ("", None, None)


def test_the_model_the_server_reports_replaces_the_one_asked_for():
    accumulator = ChatAccumulator()
    assert accumulator.model is None
    accumulator.add({**chunk("a"), "model": "gpt-4o-mini-2024-07-18"})
    assert accumulator.model == "gpt-4o-mini-2024-07-18"


def test_a_later_empty_or_missing_model_keeps_the_reported_one():
    accumulator = folded({**chunk("a"), "model": "served-model"}, {**chunk("b"), "model": ""},
                         {"choices": []})
    assert accumulator.model == "served-model"


def test_the_usage_chunk_is_kept_and_a_later_null_usage_does_not_erase_it():
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    accumulator = folded(chunk("a", usage=None), {"choices": [], "usage": usage},
                         {"choices": [], "usage": None})
    assert accumulator.usage == usage


def test_a_whole_completion_folds_through_its_message():
    completion = {"model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Whole"}, "finish_reason": "stop"}]}
    accumulator = folded(completion)
    assert (accumulator.choice(0).content, accumulator.choice(0).finish_reason) == ("Whole", "stop")


def test_a_choice_with_neither_delta_nor_message_only_finishes():
    accumulator = folded(chunk("a"), {"choices": [{"index": 0, "finish_reason": "length"}]})
    assert accumulator.choice(0).finish_reason == "length"
    assert accumulator.choice(0).content == "a"


def test_a_choice_without_an_index_is_choice_zero():
    accumulator = folded({"choices": [{"delta": {"content": "x"}}]})
    assert list(accumulator.choices) == [0]


def test_choices_are_kept_apart_by_index_and_ordered_by_it():
    accumulator = folded(chunk("two", index=2), chunk("zero", index=0), chunk("one", index=1))
    assert [c.content for c in accumulator.ordered()] == ["zero", "one", "two"]
    assert [c.index for c in accumulator.ordered()] == [0, 1, 2]


def test_refusal_pieces_join_into_the_refusal():
    accumulator = folded(chunk(refusal="I can"), chunk(refusal="not."))
    assert accumulator.choice(0).refusal == "I cannot."


def test_a_finish_reason_once_given_is_not_cleared_by_a_later_chunk():
    accumulator = folded(chunk("a", "stop"), chunk(None, None), chunk(None, ""))
    assert accumulator.choice(0).finish_reason == "stop"


# --- complete or not ------------------------------------------------------------------------


def test_no_choices_at_all_is_not_complete():
    assert folded({"choices": [], "usage": {"prompt_tokens": 1}}).complete() is False


def test_a_finish_reason_on_every_choice_is_complete_without_done():
    assert folded(chunk("a", index=0), chunk("b", "stop", index=1),
                  chunk(None, "length", index=0)).complete() is True


def test_one_choice_still_open_is_not_complete():
    assert folded(chunk("a", "stop", index=0), chunk("b", index=1)).complete() is False


# --- reasoning ------------------------------------------------------------------------------


def test_reasoning_content_is_kept_apart_from_the_answer_and_reported_per_add():
    accumulator = ChatAccumulator()
    assert accumulator.reasoning_deltas == []
    accumulator.add(chunk(reasoning_content="Think"))
    assert accumulator.reasoning_deltas == [(0, "Think")]
    accumulator.add(chunk("Yes", reasoning_content="ing."))
    assert accumulator.reasoning_deltas == [(0, "ing.")]
    accumulator.add(chunk("!"))
    assert accumulator.reasoning_deltas == []
    assert accumulator.choice(0).reasoning == "Thinking."
    assert accumulator.choice(0).content == "Yes!"


def test_reasoning_under_its_other_name_is_kept_too():
    assert folded(chunk(reasoning="hmm")).choice(0).reasoning == "hmm"


def test_reasoning_content_wins_over_reasoning_when_both_are_sent():
    assert folded(chunk(reasoning_content="a", reasoning="b")).choice(0).reasoning == "a"


def test_reasoning_that_is_not_text_or_is_empty_is_ignored():
    accumulator = folded(chunk(reasoning=5), chunk(reasoning_content=""))
    assert accumulator.choice(0).reasoning is None
    assert accumulator.reasoning_deltas == []


# --- redaction of pieces that arrive split --------------------------------------------------


class HoldBack:
    """A redactor that holds everything until the end: shows what ``flush`` is for."""

    made = 0

    def __init__(self) -> None:
        HoldBack.made += 1
        self.held = ""

    def feed(self, piece: str) -> str:
        self.held += piece
        return ""

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


def test_text_held_back_by_the_redactor_arrives_on_flush_per_choice():
    HoldBack.made = 0
    accumulator = ChatAccumulator(new_redactor=HoldBack)
    assert accumulator.add(chunk("ab", index=1)) == []
    assert accumulator.add(chunk("cd", index=0)) == []
    accumulator.add(chunk("ef", index=1))
    assert accumulator.content_chars == 6
    assert accumulator.flush() == [(0, "cd"), (1, "abef")]
    assert HoldBack.made == 2
    assert [c.content for c in accumulator.ordered()] == ["cd", "abef"]
    assert accumulator.flush() == []


def test_flush_without_a_redactor_holding_anything_draws_nothing():
    accumulator = folded(chunk("a"))
    assert accumulator.flush() == []
    assert accumulator.choice(0).content == "a"


# --- tool calls -----------------------------------------------------------------------------


def test_tool_call_fragments_join_by_their_own_index():
    accumulator = folded(
        chunk(tool_calls=[call(0, "call_a", "get_", "", "function"), call(1, "call_b", "now")]),
        chunk(tool_calls=[call(0, name="weather", arguments='{"ci')]),
        chunk(tool_calls=[call(0, arguments='ty": "Oslo"}'), call(1, arguments="{}")]),
    )
    assert accumulator.choice(0).tool_call_list() == [
        {"id": "call_a", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "now", "arguments": "{}"}},
    ]


def test_a_tool_call_without_an_index_is_the_next_one():
    accumulator = folded(chunk(tool_calls=[call(id="a", name="f"), call(id="b", name="g")]))
    assert [c["id"] for c in accumulator.choice(0).tool_call_list()] == ["a", "b"]


def test_tool_calls_are_listed_in_index_order():
    accumulator = folded(chunk(tool_calls=[call(1, "b", "g"), call(0, "a", "f")]))
    assert [c["id"] for c in accumulator.choice(0).tool_call_list()] == ["a", "b"]


def test_a_name_repeated_whole_in_every_chunk_is_not_doubled():
    accumulator = folded(chunk(tool_calls=[call(0, "call_1", "lookup", '{"q"')]),
                         chunk(tool_calls=[call(0, "call_1", "lookup", ': 1}')]))
    assert accumulator.choice(0).tool_call_list()[0]["function"] == {
        "name": "lookup", "arguments": '{"q": 1}'}


def test_a_tool_call_type_given_later_replaces_the_default_and_empty_fields_change_nothing():
    accumulator = folded(chunk(tool_calls=[call(0, "call_1", "f", type="custom")]),
                         chunk(tool_calls=[{"index": 0, "id": "", "type": "", "function": None}]))
    assert accumulator.choice(0).tool_call_list() == [
        {"id": "call_1", "type": "custom", "function": {"name": "f", "arguments": ""}}]


def test_a_tool_call_with_no_id_yet_has_none():
    assert folded(chunk(tool_calls=[call(0, name="f")])).choice(0).tool_calls[0]["id"] is None


# --- shapes that are refused, with the text the user reads -------------------------------------


@pytest.mark.parametrize("payload, text", [
    ([1], "a JSON list instead of an object"),
    ("text", "a JSON str instead of an object"),
    ({"model": 5, "choices": []}, "model is not text"),
    ({"id": ["x"], "choices": []}, "id is not text"),
    ({"system_fingerprint": 1.5, "choices": []}, "system_fingerprint is not text"),
    ({"choices": {"index": 0}}, "choices is not a list"),
    ({"choices": ["a"]}, "a choice that is not an object"),
    ({"choices": [{"index": "0"}]}, "a choice whose index is not a small integer"),
    ({"choices": [{"index": True}]}, "a choice whose index is not a small integer"),
    ({"choices": [{"index": -1}]}, "a choice whose index is not a small integer"),
    ({"choices": [{"index": 128}]}, "a choice whose index is not a small integer"),
    ({"choices": [{"delta": "hi"}]}, "a delta that is not an object"),
    ({"choices": [{"message": ["hi"]}]}, "a delta that is not an object"),
    ({"choices": [{"delta": {"content": 7}}]}, "content that is a int, not text"),
    ({"choices": [{"delta": {"role": {"r": 1}}}]}, "role that is a dict, not text"),
    ({"choices": [{"delta": {"refusal": ["no"]}}]}, "refusal that is a list, not text"),
    ({"choices": [{"delta": {"tool_calls": {"index": 0}}}]}, "tool_calls is not a list"),
    ({"choices": [{"delta": {"tool_calls": ["f"]}}]}, "a tool call that is not an object"),
    ({"choices": [{"delta": {"tool_calls": [{"index": "0"}]}}]},
     "a tool call whose index is not an integer"),
    ({"choices": [{"delta": {"tool_calls": [{"index": False}]}}]},
     "a tool call whose index is not an integer"),
    ({"choices": [{"delta": {"tool_calls": [{"function": "f"}]}}]},
     "a tool call whose function is not an object"),
    ({"choices": [{"delta": {"tool_calls": [{"function": {"name": 3}}]}}]},
     "a tool call whose function name is not text"),
    ({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": {"a": 1}}}]}}]},
     "a tool call whose function arguments is not text"),
    ({"choices": [{"delta": {}, "finish_reason": 1}]}, "finish_reason is not text"),
])
def test_a_shape_that_is_not_a_chunk_is_refused_with_a_readable_reason(payload, text):
    assert refusal_of(payload) == text


def test_the_first_and_last_small_choice_indexes_are_accepted():
    accumulator = folded(chunk("a", index=0), chunk("b", index=127))
    assert sorted(accumulator.choices) == [0, 127]


def test_empty_and_null_fields_of_every_kind_are_accepted():
    accumulator = folded({"model": None, "id": None, "system_fingerprint": None, "usage": None,
                          "choices": None},
                         {"choices": [{"index": 0, "delta": {"role": None, "content": None,
                                                             "refusal": None, "tool_calls": None},
                                       "finish_reason": None}]},
                         {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
                             "name": "", "arguments": 0}}]}}]})
    assert accumulator.choice(0).content == ""
    assert accumulator.choice(0).tool_call_list()[0]["function"] == {"name": "", "arguments": ""}


def test_a_list_of_choices_may_come_as_a_tuple_from_python_callers():
    accumulator = folded({"choices": ({"index": 0, "delta": {"tool_calls": (call(0, "a", "f"),)}},)})
    assert accumulator.choice(0).tool_call_list()[0]["id"] == "a"


def test_usage_that_is_not_an_object_is_unreported_with_a_notice_not_a_refused_answer():
    accumulator = ChatAccumulator()
    accumulator.add({"usage": [1], "choices": [{"index": 0, "delta": {"content": "kept"}}]})
    assert accumulator.usage is None and accumulator.choices[0].content == "kept"
    assert "not an object" in accumulator.usage_notice
