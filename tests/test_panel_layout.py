"""The chat panel people keep open (issue 30), in-process: the keys the page sends, the actions
under each answer, docking, the model picker and Resume.

What the page sends (Enter, Esc, "shown") arrives as the message box's custom messages, handed
to the widget as ipywidgets hands a frontend's message; requests go to the practice server
over a real socket. The browser half is tests/test_e2e_panel.py.
"""

from __future__ import annotations

import sys

import ipywidgets as widgets

from oai_magic.core.session import Session, reset_session, session_of
from oai_magic.ui.panel.docking import NO_SIDECAR

from .conftest import run
from .test_widget import all_widgets, shown


def press(panel, **message):
    """A message from the page's message box, as the widget receives it."""
    panel.input._handle_custom_msg(message, [])


def buttons(panel):
    return [w for w in all_widgets(panel.transcript) if isinstance(w, widgets.Button)]


def test_enter_sends_the_text_it_carries_and_up_recalls_it(shell, panel):
    p = panel()
    press(p, kind="send", text="[[echo]] sent with Enter")
    result = p.wait(10)
    assert result.text == "sent with Enter"
    assert p.input.last_prompt == "[[echo]] sent with Enter"  # what Up puts back in the box
    assert [m.content for m in session_of(shell).conversations["default"].messages] == [
        "[[echo]] sent with Enter", "sent with Enter"]


def test_a_message_the_panel_cannot_send_goes_back_into_the_box(shell, panel):
    p = panel()
    p.tools.value = "no_such_function"
    press(p, kind="send", text="[[echo]] with a bad tool")
    assert p.input.value == "[[echo]] with a bad tool" and "no_such_function" in p.error
    assert "default" not in session_of(shell).conversations or not \
        session_of(shell).conversations["default"].messages


def test_esc_stops_the_answer_and_the_partial_answer_is_kept(shell, panel, server):
    server.token_delay = 0.05
    p = panel()
    p.send("A long one. [[tokens=400]]")
    first = threading_event_when(p.status, lambda v: "Answering" in v)
    assert first.wait(10)
    press(p, kind="stop")
    result = p.wait(10)
    assert result.interrupted and result.text
    assert "Stopped: partial answer kept" in p.status.value


def threading_event_when(widget, predicate):
    from .test_widget import became

    return became(widget, "value", predicate)


def test_each_answer_has_one_footer_and_copy_insert_regenerate_under_it(shell, panel):
    p = panel()
    p.send("[[echo]] Code:\n\n```python\nprint(42)\n```")
    p.wait(10)
    text = shown(p.transcript)
    assert text.count('class="oai-footer') == 1
    names = [b.description for b in buttons(p)]
    assert names == ["Copy", "Insert as cell", "Regenerate"]  # ipylab is in the lab extra


def test_regenerate_replaces_the_last_answer_by_the_cell_owned_rule(shell, panel):
    p = panel()
    p.send("First [[tokens=5]]")
    first = p.wait(10).text
    p.send("Second [[tokens=7]]")
    p.wait(10)
    p.regenerate()
    again = p.wait(10)
    thread = session_of(shell).conversations["default"]
    assert [m.role for m in thread.messages] == ["user", "assistant"] * 2  # replaced, not added
    assert thread.messages[1].content == first and thread.messages[3].content == again.text
    assert "replaced this cell's earlier answer in 'default'" in again.notices
    assert shown(p.transcript).count("Second [[tokens=7]]") == 1
    assert [b.description for b in buttons(p) if b.layout.display != "none"].count("Regenerate") == 1


def test_regenerate_after_a_command_says_why_it_cannot(shell, panel):
    p = panel()
    p.send("[[echo]] one")
    p.wait(10)
    run(shell, "%chat system Be brief.")
    regenerate = [b for b in buttons(p) if b.description == "Regenerate"][-1]
    regenerate.click()
    assert "only while it is still the last turn" in p.error
    assert len(session_of(shell).conversations["default"].messages) == 2


def test_the_model_picker_follows_oai_model(shell, panel, server):
    p = panel()
    before = session_of(shell).settings.model
    run(shell, "%oai model gpt-4.1-mini")
    try:
        assert p.model.value == "gpt-4.1-mini"
        p.send("[[echo]] which model?")
        p.wait(10)
        assert server.requests[-1].json["model"] == "gpt-4.1-mini"
    finally:
        run(shell, f"%oai model {before}")  # the magics' trait outlives the test's session


def test_switching_conversations_redraws_from_the_session(shell, panel):
    p = panel()
    p.send("[[echo]] in default")
    p.wait(10)
    p.new_conversation()
    assert "in default" not in shown(p.transcript)
    session_of(shell).conversation("default").messages.pop()  # the session is the truth
    p.selector.value = "default"
    text = shown(p.transcript)
    assert "[[echo]] in default" in text and "<p>in default</p>" not in text


def test_a_new_kernel_offers_resume_and_resume_brings_the_conversations_back(shell, panel):
    p = panel()
    assert p.resume_bar.layout.display == "none"  # nothing saved yet
    p.send("[[echo]] before the restart")
    p.wait(10)
    p.close()
    fresh = reset_session(shell)  # a new kernel for the same notebook
    fresh.settings.base_url = session_of(shell).settings.base_url
    again = panel(session=fresh)
    assert again.resume_bar.layout.display is None
    assert "1 saved conversation in the log" in shown(again.resume_bar)
    again.resume_button.click()
    assert "[[echo]] before the restart" in shown(again.transcript)
    assert again.resume_bar.layout.display == "none"


def test_side_without_sidecar_says_so_in_one_line_and_shows_inline(shell, panel, monkeypatch):
    monkeypatch.setitem(sys.modules, "sidecar", None)  # import sidecar raises ImportError
    p = panel(side=True)
    assert p.dock is None and NO_SIDECAR.split(",")[0] in p.status.value
    bundle = p._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == p.widget.model_id


def test_one_docked_panel_per_conversation(shell, panel):
    from oai_magic import ChatPanel

    state = session_of(shell)
    first = panel(session=state, side=True)
    assert first.dock is not None
    assert ChatPanel(session=state, side=True) is first  # asked again: the same, focused
    other = panel("other", session=state, side=True)
    assert other is not first
    press(first, kind="shown", gone=True)  # the user closed its area
    assert panel(session=state, side=True) is not first
    assert isinstance(state, Session)
    assert set(vars(state)) <= set(vars(Session()))  # kept where the session declares it


def test_a_panel_that_is_never_shown_docked_falls_back_into_its_cell(shell, panel):
    state = session_of(shell)
    state.configure(panel_dock_wait_s=0.01)
    p = panel(session=state, side=True)
    p.dock.fell_back.wait(10)
    assert p.widget in p.dock.slot.children and "did not dock" in p.dock.note.value


def test_add_input_control_puts_a_widget_beside_the_message_box(shell, panel):
    p = panel()
    record = widgets.Button(description="Record")
    p.add_input_control(record)
    assert p.input_bar.children[:2] == (p.input, p.input_controls)
    assert p.input_controls.children == (p.microphone.recorder.widget, record)  # after the mic
