// The microphone recorder of oai_magic (ui/recorder.py): a button, a level meter, the elapsed time.
//
// getUserMedia → Web Audio at the device's rate → resampled here to 16 kHz mono 16-bit PCM, so the
// kernel's WAV has an exact duration. The audio goes to the kernel WHILE recording, as binary
// buffers of custom messages (half a second, 16 KB, each): one message for ten minutes would pass
// tornado's 10 MiB websocket limit. The messages (the protocol ui/recorder.py reads):
//   {kind: "ready", problem}         on render; problem is null, "insecure" or "blocked"
//   {kind: "start", rate}            recording began
//   {kind: "chunk", seq} + [pcm]     piece number seq (0, 1, 2...) of Int16 little-endian samples
//   {kind: "stop", samples, reason}  the end (reason "user" or "limit")
//   {kind: "failure", problem, detail}  denied, no-device, insecure, blocked or other
// From the kernel: {kind: "say", line} shows one line; {kind: "stop"} stops (a limit it enforces).
// Every line shown comes from the kernel, except the one that cannot: the kernel restarted during a
// recording. The page keeps its own copy of the audio, and then offers it as a download.

const RATE = 16000;
const CHUNK_SAMPLES = RATE / 2;
const TAP = `class OaiTap extends AudioWorkletProcessor {
  process(inputs) { const ch = inputs[0] && inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
}
registerProcessor("oai-tap", OaiTap);`;
const KERNEL_GONE = "The kernel restarted during the recording: the audio is kept in this page only. " +
  "Download it and pass the file to %transcribe.";
const RESTARTED = "The kernel restarted: run the cell again to record.";

function problemBefore() {
  if (!window.isSecureContext) return "insecure";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return "blocked";
  const policy = document.permissionsPolicy || document.featurePolicy;
  if (policy && policy.allowsFeature && !policy.allowsFeature("microphone")) return "blocked";
  return null;
}

function problemOf(error) {
  const name = (error && error.name) || "";
  if (name === "NotAllowedError" || name === "PermissionDeniedError")
    return /policy/i.test(error.message || "") ? "blocked" : "denied";
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError")
    return "no-device";
  if (name === "SecurityError") return "insecure";
  return "other";
}

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - 60 * minutes).toFixed(1).padStart(4, "0")}`;
}

function wavBlob(pieces, samples) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); header.setUint32(4, 36 + samples * 2, true); text(8, "WAVEfmt ");
  header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
  header.setUint32(24, RATE, true); header.setUint32(28, RATE * 2, true);
  header.setUint16(32, 2, true); header.setUint16(34, 16, true); text(36, "data");
  header.setUint32(40, samples * 2, true);
  return new Blob([header, ...pieces], { type: "audio/wav" });
}

function render({ model, el }) {
  el.innerHTML = `<div class="oai-recorder" style="display:flex;align-items:center;gap:0.75em;flex-wrap:wrap">
    <button type="button" class="oai-record jupyter-button"
      style="min-width:9em"><span aria-hidden="true" style="color:#c62828">● </span><span class="oai-label">Record</span></button>
    <span class="oai-elapsed" aria-label="elapsed time" style="font-variant-numeric:tabular-nums">0:00.0</span>
    <span role="meter" aria-label="level" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"
      class="oai-level" style="display:inline-block;width:8em;height:0.6em;background:#ddd;border-radius:3px;overflow:hidden">
      <span style="display:block;height:100%;width:0;background:#2e7d32"></span></span>
    <span class="oai-recorder-line" role="status" style="opacity:0.8"></span></div>`;
  const button = el.querySelector("button");
  const label = el.querySelector(".oai-label");
  const elapsed = el.querySelector(".oai-elapsed");
  const meter = el.querySelector(".oai-level");
  const bar = meter.firstElementChild;
  const line = el.querySelector(".oai-recorder-line");
  let live = null; // {stream, context, pending, fill, samples, seq, position, ratio, kept}
  let kernelGone = false;

  const say = (text) => { line.textContent = text; };
  const setLabel = (text) => { label.textContent = text; };
  const send = (content, buffers) => {
    if (kernelGone) return;
    try { model.send(content, undefined, buffers); } catch (error) { lostKernel(); }
  };
  const enable = () => { button.disabled = !!model.get("disabled") || kernelGone; };

  function lostKernel() {
    if (kernelGone) return;
    kernelGone = true;
    const kept = live ? live.kept : [];
    const samples = live ? live.samples : 0;
    release();
    if (!samples) { say(RESTARTED); enable(); return; }
    say(KERNEL_GONE + " ");
    {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(wavBlob(kept, samples));
      link.download = "recording.wav";
      link.style.textDecoration = "underline";
      link.textContent = `Download recording.wav (${clock(samples / RATE)})`;
      line.appendChild(link);
    }
    enable();
  }

  function flush() {
    if (!live || live.fill === 0) return;
    const piece = live.pending.slice(0, live.fill);
    live.kept.push(piece);
    send({ kind: "chunk", seq: live.seq++ }, [piece.buffer]);
    live.fill = 0;
  }

  function take(input) {
    if (!live) return;
    let sum = 0;
    for (const x of input) sum += x * x;
    const level = Math.min(1, Math.sqrt(sum / Math.max(1, input.length)) * 4);
    bar.style.width = `${Math.round(level * 100)}%`;
    meter.setAttribute("aria-valuenow", String(Math.round(level * 100)));
    const limit = Math.floor(model.get("max_s") * RATE);
    // Linear resampling from the device's rate; `position` carries the fraction between calls.
    for (; live.position < input.length; live.position += live.ratio) {
      const i = Math.floor(live.position);
      const next = i + 1 < input.length ? input[i + 1] : input[i];
      const x = input[i] + (next - input[i]) * (live.position - i);
      live.pending[live.fill++] = Math.max(-32768, Math.min(32767, Math.round(x * 32767)));
      live.samples++;
      if (live.fill === CHUNK_SAMPLES) flush();
      if (live.samples >= limit) { elapsed.textContent = clock(live.samples / RATE); stop("limit"); return; }
    }
    live.position -= input.length;
    elapsed.textContent = clock(live.samples / RATE);
  }

  function release() {
    if (!live) return;
    live.stream.getTracks().forEach((track) => track.stop());
    live.context.close().catch(() => {});
    live = live.kept = null;
    bar.style.width = "0";
    setLabel("Record");
  }

  function stop(reason) {
    if (!live) return;
    flush();
    send({ kind: "stop", samples: live.samples, reason });
    release();
    enable();
  }

  async function start() {
    const before = problemBefore();
    if (before) { send({ kind: "failure", problem: before, detail: "" }); return; }
    button.disabled = true;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(
        { audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    } catch (error) {
      send({ kind: "failure", problem: problemOf(error), detail: String(error && error.message || error).slice(0, 200) });
      enable();
      return;
    }
    try {
      const context = new AudioContext();
      const url = URL.createObjectURL(new Blob([TAP], { type: "application/javascript" }));
      await context.audioWorklet.addModule(url);
      URL.revokeObjectURL(url);
      const source = context.createMediaStreamSource(stream);
      const tap = new AudioWorkletNode(context, "oai-tap");
      const silent = context.createGain();
      silent.gain.value = 0;
      source.connect(tap).connect(silent).connect(context.destination);
      live = { stream, context, pending: new Int16Array(CHUNK_SAMPLES), fill: 0, samples: 0,
               seq: 0, position: 0, ratio: context.sampleRate / RATE, kept: [] };
      tap.port.onmessage = (event) => take(event.data);
      send({ kind: "start", rate: RATE });
      say("");
      elapsed.textContent = clock(0);
      setLabel("Stop recording");
    } catch (error) {
      stream.getTracks().forEach((track) => track.stop());
      send({ kind: "failure", problem: "other", detail: String(error && error.message || error).slice(0, 200) });
    }
    button.disabled = kernelGone;
  }

  button.addEventListener("click", () => (live ? stop("user") : start()));
  const onMessage = (message) => {
    if (message && message.kind === "say") say(String(message.line || ""));
    else if (message && message.kind === "stop") stop("limit");
  };
  model.on("msg:custom", onMessage);
  model.on("change:disabled", enable);
  // The kernel restarted or died: this widget's comm is gone with it (messages to it vanish
  // silently). JupyterLab's widget manager exposes the kernel, whose status says so.
  model.on("comm_live_update", lostKernel);
  const kernel = model.widget_manager && model.widget_manager.kernel;
  const watch = (_, status) => {  // "starting" again: restarted by the server (REST, another tab)
    if (["starting", "restarting", "autorestarting", "dead"].includes(status)) lostKernel();
  };
  if (kernel && kernel.statusChanged) kernel.statusChanged.connect(watch);
  enable();
  const problem = problemBefore();
  if (problem) button.disabled = true;
  send({ kind: "ready", problem });
  return () => {
    if (kernel && kernel.statusChanged) kernel.statusChanged.disconnect(watch);
    model.off("msg:custom", onMessage);
    if (live) stop("user"); // the output was cleared (the cell ran again): keep what was recorded
  };
}

export default { render };
