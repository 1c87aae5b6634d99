"""Drawing within a frame: every live view draws at once when its last draw is a frame old,
else at the next frame boundary, and a burst is one draw per frame.

Time is the tests' FakeClock: ``advance`` runs the draws that fall due at frame boundaries.
"""

from __future__ import annotations

import json

from oai_magic.render.chrome import ANSWER_REGION
from oai_magic.render.frames import FRAME_S, HELD, MORE, SHOWN, FramePacer
from oai_magic.render.live import LiveMarkdown
from oai_magic.render.reasoning import LiveReasoning
from oai_magic.render.surface import LiveSurface

from .page_model import PageModel
from .synthetic import FakeClock


class Drawing:
    """A view's draw that records when it ran and reports what the test says."""

    def __init__(self, clock: FakeClock, outcomes=()) -> None:
        self.clock, self.times, self.outcomes = clock, [], list(outcomes)

    def __call__(self) -> str:
        self.times.append(round(self.clock.now, 6))
        return self.outcomes.pop(0) if self.outcomes else SHOWN


def test_a_change_a_frame_after_the_last_draw_draws_at_once_and_sooner_ones_wait_for_the_boundary():
    clock = FakeClock()
    draw = Drawing(clock)
    pacer = FramePacer(draw, frame_s=FRAME_S, clock=clock)
    pacer.changed()  # the first draw: at once
    clock.advance(0.005)
    pacer.changed()
    clock.advance(0.005)
    pacer.changed()  # both within the frame: one draw, at its boundary
    assert draw.times == [0.0]
    clock.advance(0.010)
    assert draw.times == [0.0, FRAME_S]
    clock.advance(0.030)
    pacer.changed()  # long after: at once
    assert draw.times == [0.0, FRAME_S, 0.05]
    assert clock.timers == []


def test_a_backlog_comes_back_next_frame_and_a_held_draw_backs_off():
    clock = FakeClock()
    draw = Drawing(clock, [MORE, MORE, SHOWN, HELD, HELD, SHOWN])
    pacer = FramePacer(draw, frame_s=0.01, clock=clock)
    pacer.changed()
    clock.advance(1.0)
    assert draw.times[:3] == [0.0, 0.01, 0.02]  # a bounded draw: the rest a frame later
    pacer.changed()
    clock.advance(1.0)
    assert draw.times[3:] == [1.0, 1.01, 1.03]  # held by the budget: one frame, then two


def test_a_stopped_pacer_never_draws_again():
    clock = FakeClock()
    draw = Drawing(clock)
    pacer = FramePacer(draw, frame_s=FRAME_S, clock=clock)
    pacer.changed()
    clock.advance(0.001)
    pacer.changed()
    pacer.stop()
    clock.advance(1.0)
    pacer.changed()
    assert draw.times == [0.0]


def test_streamed_reasoning_is_drawn_within_a_frame():
    clock = FakeClock()
    page = PageModel(clock)
    thinking = LiveReasoning(page, "k", FRAME_S, clock)
    thinking.append("First")
    clock.advance(0.004)
    thinking.append(" thought")  # inside the frame: drawn at its boundary, with no more input
    assert "First thought" not in page.visible("k")
    clock.advance(FRAME_S)
    assert "First thought" in page.visible("k") and page.draw_times == [0.0, FRAME_S]


def test_a_fast_stream_draws_text_in_bounded_pieces_and_ends_showing_all_of_it():
    clock = FakeClock()
    page = PageModel(clock)
    live = LiveMarkdown(page, "a", clock=clock)
    text = "".join(f"Paragraph {i} has a few words in it, and then some more.\n\n" for i in range(200))
    live.append(text)  # a whole answer in one burst
    first = len(page.visible())
    assert 0 < first < 3000  # one draw's work is bounded, whatever the burst
    clock.advance(1.0)
    assert live.caught_up and page.visible().count("<p>") == 200


def test_text_for_the_block_patched_last_is_sent_as_a_bare_string(notebook, frontend):
    sent = []
    frontend.on_custom = sent.append
    surface = LiveSurface([("a0", "", ANSWER_REGION), ("a1", "", ANSWER_REGION)])
    for region, html in [("a0", "<p>one"), ("a0", " two"), ("a1", "<p>other"), ("a0", " three")]:
        surface.patch_open(region, surface._open_length(region), html)
        surface.flush()
    assert sent == [{"a0": "<p>one"}, " two", {"a1": "<p>other"}, {"a0": " three"}]
    page = next(iter(frontend.pages.values()))
    assert page.visible("a0") == "<p>one two three" and page.visible("a1") == "<p>other"
    assert len(json.dumps(" two")) == len(" two") + 2  # two bytes of framing

