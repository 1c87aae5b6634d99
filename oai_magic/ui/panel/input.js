// The chat panel's message box and the behaviour the panel needs from the page (issue 30).
//
// ipywidgets' Textarea gives the kernel no key events, so the box is this small module:
//   Enter sends ({kind: "send", text}), Shift+Enter is a new line, Up in an empty box recalls
//   the last prompt, Esc asks the kernel to stop the answer ({kind: "stop"}).
// The kernel sends {focus: true} after each answer (the box takes the focus back unless the
// user is typing somewhere else), {copy: text} for an answer's Copy button.
// It also follows the transcript (`.oai-transcript` in the same `.oai-panel`): it stays at the
// bottom while an answer streams unless the user scrolled up, then "Jump to latest" shows.
// When the kernel goes away (a restart) the widget manager marks every model not live: the box
// says so inside the panel, since nothing the kernel sends can arrive any more.
// Everything shown is text set with textContent: no markup is built here.

const NEAR_BOTTOM_PX = 48;

function follow(el, panel, jump) {
  const transcript = panel.querySelector(".oai-transcript");
  if (!transcript || transcript.__oaiFollowed) return;
  transcript.__oaiFollowed = true;
  let following = true;
  const atBottom = () =>
    transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < NEAR_BOTTOM_PX;
  const toBottom = () => {
    transcript.scrollTop = transcript.scrollHeight;
    jump.hidden = true;
  };
  // Only the user scrolling up stops following. The answer growing between our scroll to the
  // bottom and the browser's scroll event (the final block and footer landing just after a
  // "Jump to latest") leaves the view short of the bottom too, but scrollTop did not go down.
  let lastTop = transcript.scrollTop;
  transcript.addEventListener("scroll", () => {
    const top = transcript.scrollTop;
    if (atBottom()) following = true;
    else if (top < lastTop) following = false;
    lastTop = top;
    if (following) jump.hidden = true;
  });
  // At most one layout read per frame, however many pieces arrive in it.
  let scheduled = false;
  const settle = () => {
    scheduled = false;
    if (following) toBottom();
    else if (!atBottom()) jump.hidden = false;
  };
  new MutationObserver(() => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(settle);
    }
  }).observe(transcript, { subtree: true, childList: true, characterData: true });
  jump.addEventListener("click", () => {
    following = true;
    toBottom();
  });
  toBottom();
}

function whenInPanel(el, then) {
  // The view is rendered before it is attached to the page: wait for the panel around it.
  let tries = 0;
  const look = () => {
    const panel = el.closest(".oai-panel");
    if (panel) then(panel);
    else if (tries++ < 600) requestAnimationFrame(look);
  };
  look();
}

export default {
  render({ model, el }) {
    el.classList.add("oai-input");
    const jump = document.createElement("button");
    jump.className = "oai-jump";
    jump.textContent = "↓ Jump to latest";
    jump.hidden = true;
    const notice = document.createElement("div");
    notice.className = "oai-restart-notice";
    notice.hidden = true;
    const box = document.createElement("textarea");
    box.rows = 3;
    box.placeholder = model.get("placeholder");
    box.value = model.get("value");
    box.disabled = model.get("disabled");
    el.append(jump, notice, box);

    const setValue = (text) => {
      box.value = text;
      model.set("value", text);
      model.save_changes();
    };
    box.addEventListener("input", () => {
      model.set("value", box.value);
      model.save_changes();
    });
    box.addEventListener("keydown", (event) => {
      if (event.isComposing) return; // an input method's Enter picks a candidate
      if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
        event.preventDefault();
        event.stopPropagation(); // not JupyterLab's: Enter in a cell output is ours
        if (!box.value.trim() || model.get("busy")) return;
        model.send({ kind: "send", text: box.value });
        setValue(""); // here, at once: the kernel puts the text back if it cannot send it
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // JupyterLab's Esc would leave the cell for command mode
        model.send({ kind: "stop" });
      } else if (event.key === "ArrowUp" && !box.value) {
        const last = model.get("last_prompt");
        if (last) {
          event.preventDefault();
          setValue(last);
        }
      } else {
        event.stopPropagation(); // typing here never triggers notebook shortcuts
      }
    });
    const onValue = () => {
      if (box.value !== model.get("value")) box.value = model.get("value");
    };
    const onDisabled = () => (box.disabled = model.get("disabled"));
    model.on("change:value", onValue);
    model.on("change:disabled", onDisabled);
    model.on("msg:custom", (message) => {
      if (!message || typeof message !== "object") return;
      if (message.focus) {
        const active = document.activeElement;
        const elsewhere = active && active !== document.body && !el.closest(".oai-panel")?.contains(active);
        if (!elsewhere) box.focus();
      }
      if (typeof message.copy === "string" && navigator.clipboard) {
        navigator.clipboard.writeText(message.copy).catch(() => {});
      }
    });
    // A restart (or a dead kernel) marks the models not live: say so where the user looks.
    const restarted = () => {
      notice.textContent = model.get("restart_notice");
      notice.hidden = false;
      box.disabled = true;
      el.closest(".oai-panel")?.classList.add("oai-panel-dead");
    };
    model.on("comm_live_update", restarted);
    model.on("comm:close", restarted);
    let docked = false;
    whenInPanel(el, (panel) => {
      follow(el, panel, jump);
      docked = !!el.closest(".jupyterlab-sidecar");
      model.send({ kind: "shown", docked });
    });
    return () => {
      // A docked panel's area was closed: the next %chat_panel --side docks a new one.
      if (docked) model.send({ kind: "shown", gone: true });
      model.off("change:value", onValue);
      model.off("change:disabled", onDisabled);
    };
  },
};
