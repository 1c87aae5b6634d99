"""The transcription use case's setup, shared by ``%transcribe`` and ``Session.transcribe``:
options from the long ``%transcribe`` names, checked by one function, and the run."""

from __future__ import annotations

from typing import Any, Dict, List

from ..api.request import parse_params
from .chat_options import check_option_names
from .runs import Run

# The long %transcribe options, as keyword arguments.
TRANSCRIBE_OPTIONS = ("model", "language", "prompt", "temperature", "format", "timestamps",
                      "translate", "stream", "conversation", "org", "project", "param",
                      "speaker", "logprobs", "chunking")


def transcribe_options(settings: Any, **options: Any) -> Any:
    """A checked ``TranscribeOptions``; refused values raise before anything is sent."""
    from .transcription_inputs import chunking_strategy, known_speakers
    from .transcription_options import TranscribeOptions, checked_options

    check_option_names(options, TRANSCRIBE_OPTIONS)
    param = options.get("param") or []
    extra = dict(param) if isinstance(param, dict) else parse_params(list(param))
    chunking = chunking_strategy(options.get("chunking"))
    speakers = known_speakers(options.get("speaker"), settings.transcribe_max_speakers,
                              settings.transcribe_max_speaker_bytes)
    return checked_options(
        TranscribeOptions(
            model=options.get("model"), language=options.get("language"),
            prompt=options.get("prompt"), temperature=options.get("temperature"),
            response_format=options.get("format") or "json",
            timestamps=list(options.get("timestamps") or []),
            translate=bool(options.get("translate")), stream=bool(options.get("stream")),
            conversation=options.get("conversation"), organization=options.get("org"),
            project=options.get("project"), extra=extra, speakers=speakers,
            logprobs=bool(options.get("logprobs")), chunking=chunking,
        ),
        default_model=settings.transcribe_model,
    )


def sources_of(given: List[Any], namespace: Dict[str, Any]) -> List[Any]:
    """Paths and globs (strings), or values: bytes, an ``Audio`` object, a path object."""
    from .audio_sources import resolve_sources

    sources: List[Any] = []
    for number, entry in enumerate(given, 1):
        if isinstance(entry, str):
            sources.extend(resolve_sources([entry], namespace))
        else:
            sources.extend(resolve_sources([f"audio_{number}"], {f"audio_{number}": entry}))
    return sources


def transcription_run(session: Any, sources: List[Any], options: Any) -> Run:
    """The run of a checked transcription: its result is the batch (``transcribe.Batch``).
    The rules on the audio's length are checked here, before the run sends anything."""
    from .transcribe import transcribe_all
    from .transcription_inputs import check_lengths

    check_lengths(sources, options)
    return Run(lambda view: transcribe_all(session, session.audio_client(), sources, options, view))


def prepare_transcription(session: Any, given: List[Any], options: Dict[str, Any]) -> Run:
    """``Session.transcribe``: the run's result is the TranscriptResult (a list for several)."""
    from ..errors import InputError
    from .transcribe import transcribe_all
    from .transcription_inputs import check_lengths

    checked = transcribe_options(session.settings, **options)
    sources = sources_of(given, {})
    if not sources:
        raise InputError("transcribe: name at least one audio file (or pass its bytes).")
    check_lengths(sources, checked)

    def work(view: Any) -> Any:
        batch = transcribe_all(session, session.audio_client(), sources, checked, view)
        problem = batch.problem()
        if problem and not batch.results:
            raise InputError(problem)
        return batch.results[0] if len(sources) == 1 else list(batch.results)

    return Run(work)
