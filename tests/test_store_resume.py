"""Resume (issue 24): the log rebuilds conversations exactly as the last kernel left them.

A kernel is a ``Log`` with its own kernel id; "a restart" is a new ``Log`` on the same file.
The property test runs random programs of turns and operations against an in-memory
``Conversation`` (what the kernel holds) and the log, then checks a new kernel rebuilds the same.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from hypothesis import example, given, settings
from hypothesis import strategies as st

from oai_magic.history import Conversation, Message
from oai_magic.store import Log

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG tiny").decode()


class Kernel:
    """What a kernel holds (conversations) and what it logs, kept in step as a Session would."""

    def __init__(self, path: Path, name: str, notebook: str = "nb.ipynb") -> None:
        self.log = Log(path, notebook=notebook, kernel=name)
        self.threads: Dict[str, Conversation] = {}
        self.last_turn: Dict[str, Optional[tuple]] = {}  # conversation -> (cell, turn id)

    def thread(self, name: str) -> Conversation:
        return self.threads.setdefault(name, Conversation(name))

    def turn(self, name: str, text: str, *, cell: Optional[str] = None, new: bool = False,
             system: Optional[str] = None, partial: bool = False, choices: int = 1,
             image: bool = False) -> None:
        content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": PNG}}] \
            if image else text
        user = Message("user", content)
        handle = self.log.start_turn(name, [user], cell_id=cell, starts_new=new, system=system)
        handle.update_answer(f"answer to {text}"[:5])
        alternatives = [f"choice {k} to {text}" for k in range(1, choices + 1)] if choices > 1 else None
        reply = Message("assistant", f"answer to {text}", partial=partial, alternatives=alternatives)
        thread = self.thread(name)
        last = self.last_turn.get(name)
        replaces = last[1] if cell is not None and last is not None and last[0] == cell else None
        if new:
            thread.reset()
        if system is not None:
            thread.system = system
        if replaces is not None:
            thread.undo()
        handle.commit([reply], partial=partial, replaces=replaces)
        thread.record_turn(user, [reply])
        self.last_turn[name] = (cell, handle.id)

    def operation(self, name: str, kind: str, **detail) -> None:
        """As the magics do it: reset, undo and pick need an existing conversation (and pick a
        choice to take), else they refuse and nothing changes or is logged."""
        if kind in ("reset", "undo", "pick") and name not in self.threads:
            return
        thread = self.thread(name)
        if kind == "reset":
            thread.reset()
        elif kind == "undo":
            thread.undo()
        elif kind == "system":
            thread.system = detail["text"]
        elif kind == "pick":
            last = next((m for m in reversed(thread.messages) if m.role == "assistant"), None)
            if last is None or not last.alternatives or detail["k"] > len(last.alternatives):
                return
            last.content = last.alternatives[detail["k"] - 1]
        elif kind == "load":
            thread.system, thread.messages = detail["snapshot"].system, [
                Message.from_dict(m.to_dict()) for m in detail["snapshot"].messages]
        self.last_turn[name] = None
        self.log.log_operation(name, kind, **detail)

    def resume(self, **where) -> Dict[str, Conversation]:
        """What ``%chat resume`` does: take the rebuilt conversations and log that it did."""
        found = {r.conversation.name: r.conversation for r in self.log.rebuild(**where)}
        for name, thread in found.items():
            self.threads[name] = thread
            self.last_turn[name] = None
            self.log.log_operation(name, "resume", snapshot=thread)
        return found


def rebuilt(path: Path, notebook: str = "nb.ipynb", **where) -> Dict[str, dict]:
    log = Log(path, notebook=notebook, kernel="the-next-kernel")
    return {r.conversation.name: r.conversation.to_dict() for r in log.rebuild(**where)}


NAMES = st.sampled_from(["default", "work"])
TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
STEPS = st.one_of(
    st.tuples(st.just("turn"), NAMES, TEXTS, st.sampled_from([None, "c1", "c2"]), st.booleans(),
              st.sampled_from([None, "be brief", ""]), st.booleans(), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("reset"), NAMES),
    st.tuples(st.just("undo"), NAMES),
    st.tuples(st.just("system"), NAMES, TEXTS),
    st.tuples(st.just("pick"), NAMES, st.integers(1, 3)),
    st.tuples(st.just("load"), NAMES),
)


def run(kernel: Kernel, program: list) -> None:
    for step in program:
        kind, name = step[0], step[1]
        if kind == "turn":
            _, _, text, cell, new, system, partial, choices, image = step
            kernel.turn(name, text, cell=cell, new=new, system=system, partial=partial,
                        choices=choices, image=image)
        elif kind == "system":
            kernel.operation(name, "system", text=step[2])
        elif kind == "pick":
            kernel.operation(name, "pick", k=step[2])
        elif kind == "load":
            loaded = Conversation(name, "loaded system", [Message("user", "u"), Message("assistant", "a")])
            kernel.operation(name, "load", snapshot=loaded)
        else:
            kernel.operation(name, kind)


@settings(max_examples=60, deadline=None)
@given(first=st.lists(STEPS, max_size=12), second=st.lists(STEPS, max_size=6), resume=st.booleans())
# Found by this test: a prompt that reads like the log's own attachment mark.
@example(first=[], second=[("turn", "default", "oai-blob:", None, False, None, False, 1, True)],
         resume=False)
def test_a_new_kernel_rebuilds_every_conversation_exactly(first, second, resume):
    """Kernel 1 runs a program; kernel 2 (a restart, resumed or not) runs another; a third
    kernel's resume gets each conversation as the last kernel that touched it holds it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        one = Kernel(path, "k1")
        run(one, first)
        two = Kernel(path, "k2")
        if resume:
            two.resume()
        run(two, second)
        expected = {}
        for kernel in (one, two):
            for name, thread in kernel.threads.items():
                expected[name] = thread.to_dict()
        expected = {name: t for name, t in expected.items() if t["messages"] or t["system"]}
        assert one.log.problem is None and two.log.problem is None
        assert rebuilt(path) == expected


def test_a_kernel_that_started_afresh_is_what_its_conversation_was(tmp_path):
    path = tmp_path / "history.db"
    old = Kernel(path, "k1")
    old.turn("default", "one")
    old.turn("default", "two")
    old.turn("other", "kept")
    fresh = Kernel(path, "k2")  # restarted, no resume
    fresh.turn("default", "three")
    got = rebuilt(path)
    assert [m["content"] for m in got["default"]["messages"]] == ["three", "answer to three"]
    assert [m["content"] for m in got["other"]["messages"]] == ["kept", "answer to kept"]


def test_a_kernel_that_resumed_continues_the_conversation(tmp_path):
    path = tmp_path / "history.db"
    old = Kernel(path, "k1")
    old.turn("default", "one", system="be brief")
    new = Kernel(path, "k2")
    assert list(new.resume()) == ["default"]
    new.turn("default", "two")
    got = rebuilt(path)["default"]
    assert got["system"] == "be brief"
    assert [m["content"] for m in got["messages"]] == ["one", "answer to one", "two", "answer to two"]


def test_a_turn_killed_mid_answer_comes_back_marked_partial(tmp_path):
    path = tmp_path / "history.db"
    kernel = Kernel(path, "k1")
    kernel.turn("default", "first")
    dying = kernel.log.start_turn("default", [Message("user", "second")])
    dying.update_answer("the answer so f")
    dying.flush()  # then the kernel dies: no commit
    failed = kernel.log.start_turn("default", [Message("user", "nothing arrived")])
    failed.fail("500")
    (resumed,) = Log(path, notebook="nb.ipynb").rebuild()
    assert [(m.role, m.content, m.partial) for m in resumed.conversation.messages] == [
        ("user", "first", False), ("assistant", "answer to first", False),
        ("user", "second", False), ("assistant", "the answer so f", True)]
    assert resumed.partial == 1 and resumed.exchanges == 2


def test_images_come_back_as_they_were_sent(tmp_path):
    path = tmp_path / "history.db"
    Kernel(path, "k1").turn("default", "look", image=True)
    (user, _) = rebuilt(path)["default"]["messages"]
    assert user["content"][1] == {"type": "image_url", "image_url": {"url": PNG}}


def test_an_image_over_the_cap_comes_back_as_a_line_that_says_so(tmp_path):
    log = Log(tmp_path / "history.db", notebook="nb.ipynb", max_blob_bytes=4)
    part = {"type": "image_url", "image_url": {"url": PNG}}
    log.start_turn("default", [Message("user", [part])]).commit([Message("assistant", "a")])
    (user, _) = rebuilt(tmp_path / "history.db")["default"]["messages"]
    assert user["content"] == [{"type": "text", "text": "[image/png not kept in the log: 9 bytes, "
                                                        "over log_max_blob_bytes]"}]


def test_tool_rounds_come_back_as_valid_pairs(tmp_path):
    log = Log(tmp_path / "history.db", notebook="nb.ipynb")
    call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    replies = [Message("assistant", None, tool_calls=[call]),
               Message("tool", "2", tool_call_id="call_1"), Message("assistant", "It is 2.")]
    log.start_turn("default", [Message("user", "add")]).commit(replies)
    got = rebuilt(tmp_path / "history.db")["default"]["messages"]
    assert got[1]["tool_calls"] == [call] and got[2]["tool_call_id"] == "call_1"
    assert got[3]["content"] == "It is 2."


def test_resume_takes_this_notebook_or_another_or_all(tmp_path):
    path = tmp_path / "history.db"
    Kernel(path, "k1", notebook="a.ipynb").turn("default", "in a")
    Kernel(path, "k2", notebook="b.ipynb").turn("default", "in b")
    here = Log(path, notebook="a.ipynb", kernel="k3")
    assert [r.notebook for r in here.rebuild()] == ["a.ipynb"]
    assert [r.notebook for r in here.rebuild(notebook="b.ipynb")] == ["b.ipynb"]
    assert sorted(r.notebook for r in here.rebuild(all_notebooks=True)) == ["a.ipynb", "b.ipynb"]
    assert here.rebuild(conversation="nope") == []
    assert here.saved_conversations() == 1
    assert Log(path, notebook="c.ipynb").saved_conversations() == 0


def test_a_kernel_does_not_resume_itself(tmp_path):
    kernel = Kernel(tmp_path / "history.db", "k1")
    kernel.turn("default", "one")
    assert kernel.log.rebuild() == []


def test_an_emptied_conversation_is_not_offered(tmp_path):
    path = tmp_path / "history.db"
    kernel = Kernel(path, "k1")
    kernel.turn("default", "one")
    kernel.operation("default", "reset")
    assert rebuilt(path) == {}


def history_of(found: List) -> List[str]:
    return [m.content for r in found for m in r.conversation.messages]
