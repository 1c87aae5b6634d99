"""``%transcribe`` and ``%chat_panel``: the two magics that open a view of their own."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .arguments import parse_line

HELP = ("Speech to text: show a player and the transcript of each SOURCE, one after another; "
        "with --mic, of a recording made in the notebook.")
PANEL_HELP = (
    "Open a chat panel (ipywidgets) on the same conversations and settings as %%chat.\n\n"
    "Its Tools field takes what --tools takes (f,mcp:NAME,mcp:NAME/TOOL); a bad entry is one "
    "line and nothing is sent. Each tool call's card shows Approve and Deny: the tool runs only "
    "after Approve, Deny tells the model you declined, Stop ends the turn. The auto-approve box "
    "runs the calls without asking (as --auto-tools).\n\n"
    "Enter sends, Shift+Enter makes a new line, Up recalls the last prompt, Esc stops the answer. "
    "Under each answer: Copy, Insert as cell (the last code block, with ipylab) and Regenerate. "
    "After a kernel restart the panel says so; %chat_panel in the new kernel offers Resume."
)


def run(magics: Any, line: str) -> None:
    """Every option checked and every source resolved before the first request."""
    from ..core.audio_sources import resolve_sources
    from ..core.transcribe_setup import transcribe_options, transcription_run
    from ..ui.transcript import TranscribeDisplay

    args = parse_line(magics.transcribe, line)
    options = transcribe_options(
        magics.settings, model=args.model, language=args.language, prompt=args.prompt,
        temperature=args.temperature, format=args.format, timestamps=args.timestamps,
        translate=args.translate, stream=args.stream, conversation=args.conversation,
        org=args.org, project=args.project, param=args.param, speaker=args.speaker,
        logprobs=args.logprobs, chunking=args.chunking)
    if args.mic or args.save:
        from .microphone import record

        return record(magics, args, options)
    if not args.sources:
        raise UsageError("%transcribe needs a SOURCE (a file, a glob or a variable), or --mic "
                         "to record from the microphone")
    sources = resolve_sources(args.sources, magics.shell.user_ns)
    view = TranscribeDisplay(rich=magics.rich_display(), streaming=options.stream,
                             render_interval=magics.settings.render_interval,
                             diarized=options.response_format == "diarized_json")
    try:
        batch = transcription_run(magics.state, sources, options).play(view)
    finally:
        view.close()
    if args.out and len(sources) > 1:
        magics.shell.user_ns[args.out] = list(batch.results)
    elif args.out and batch.results:
        magics.shell.user_ns[args.out] = batch.results[0]
    problem = batch.problem()
    if problem:
        kept = f" ({len(batch.results)} kept in {args.out})" if args.out and batch.results else ""
        raise UsageError(problem + kept)


def open_panel(magics: Any, line: str) -> Any:
    args = parse_line(magics.chat_panel, line)
    if not magics.rich_display():
        raise UsageError(
            "%chat_panel needs a notebook (JupyterLab, Jupyter Notebook, VS Code): this "
            "frontend cannot show widgets. Here, ask with %%chat."
        )
    from ..ui.panel.panel import ChatPanel

    return ChatPanel(args.conversation, session=magics.state, client=magics.client, side=args.side)
