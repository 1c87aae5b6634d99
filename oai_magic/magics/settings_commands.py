"""What ``%oai`` shows and changes: status, settings, the model list, the practice server."""

from __future__ import annotations

import datetime
import os
from typing import Any, List, Optional

from ..core.models import MAX_MODELS, MODELS_NOT_LISTED, listed_models
from ..errors import InputError
from ..render.chrome import rate_limit_rows
from ..render.table import Table
from ..state import PRACTICE_KEY, KernelState, from_practice_server, mask_key


def status(
    state: KernelState,
    max_tokens_param: str = "max_completion_tokens",
    context_tokens: Optional[int] = None,
    terminal: bool = False,
) -> Table:
    settings = state.settings
    # The last reply's facts belong to the server that sent them: after a switch (practice to
    # a key, another base URL) they would describe the wrong server.
    current = state.last_headers_from == settings.resolved_base_url()
    headers = state.last_headers if current else {}
    rows = [
        ("API key", key_status(state, terminal)),
        ("organization", settings.resolved_organization() or "(none: the key's default)"),
        ("project", settings.resolved_project() or "(none: the key's default)"),
        ("base URL", settings.resolved_base_url()),
        ("audio base URL", audio_base_url(settings)),
        ("model", settings.model),
        ("--max-tokens sent as", max_tokens_field(state, max_tokens_param)),
        *schema_row(state),
        ("context window", describe_context(context_tokens).split(": ", 1)[1]),
        ("session budget", describe_budget(state).split(": ", 1)[1]),
        ("daily budget", daily_budget(state)),
    ]
    if settings.extra_headers:
        from ..masking import shown_headers

        rows.append(("extra headers", shown_headers(settings.extra_headers)))
    if state.practice_server is not None:
        rows.append(("practice server", f"running at {state.practice_server.base_url}"))
    if from_practice_server(headers):
        rows.append(("answered by", "practice (the last reply came from the practice server)"))
    if state.last_headers and not current:
        rows.append(("last reply", "none from this server yet"))
    if headers.get("x-request-id"):
        rows.append(("last request id", headers["x-request-id"]))
    if headers.get("openai-organization"):
        rows.append(("last billed organization", headers["openai-organization"]))
    rows += rate_limit_rows(headers)
    return Table(["setting", "value"], rows, title="oai_magic status")


def audio_base_url(settings: Any) -> str:
    """Where %transcribe goes, and whether that is the chat server."""
    if settings.audio_base_url:
        return settings.resolved_audio_base_url()
    return "the base URL (%oai base-url --audio URL for a separate speech server)"


def schema_row(state: KernelState) -> List[tuple]:
    """How --schema goes to this server, once it refused json_schema (else nothing to say)."""
    if state.settings.resolved_base_url() not in state.json_schema_refused:
        return []
    return [("--schema sent as", "json_object with the schema (this server refused json_schema)")]


def max_tokens_field(state: KernelState, configured: str) -> str:
    """The name --max-tokens goes out as for the current server, and where that came from."""
    base_url = state.settings.resolved_base_url()
    learned = state.max_tokens_fields.get(base_url)
    if learned and learned != configured:
        return f"{learned} (this server refused {configured})"
    return f"{configured} (%config OAIMagics.max_tokens_param)"


def parse_context(rest: List[str]) -> Optional[int]:
    """``%oai context 2048`` → 2048; ``--clear`` → None (no window: only the history budget)."""
    if rest == ["--clear"]:
        return None
    if len(rest) == 1 and rest[0].isdigit() and int(rest[0]) >= 256:
        return int(rest[0])
    raise InputError("usage: %oai context TOKENS (at least 256, e.g. %oai context 2048) "
                     "or %oai context --clear")


def describe_context(tokens: Optional[int]) -> str:
    if tokens is None:
        return "context window: not set (history is trimmed only by OAIMagics.history_max_tokens)"
    return (f"context window: {tokens:,} tokens (history is trimmed so the prompt and room "
            "for the answer fit)")


def parse_budget(rest: List[str]) -> Optional[float]:
    """``%oai budget 2`` (or ``$2``) → 2.0; ``--clear`` → None. A finite amount >= 0 only."""
    import math

    if rest == ["--clear"]:
        return None
    try:
        amount = float(rest[0].lstrip("$")) if len(rest) == 1 else math.nan
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount) or amount < 0:
        raise InputError("usage: %oai budget USD (e.g. %oai budget 2 for two dollars) or "
                         "%oai budget --clear")
    return amount


def daily_budget(state: KernelState) -> str:
    from ..core.durable import describe_daily

    return describe_daily(state).split(": ", 1)[1]


def describe_budget(state: KernelState) -> str:
    """The session budget and what it has counted so far (a reset of %oai usage does not)."""
    from ..core.costs import format_cost, ledger_of

    spent = ledger_of(state).spent
    limits = []
    if state.budget_usd is not None:
        limits.append(f"${state.budget_usd:g}")
    if state.budget_tokens is not None:
        limits.append(f"{state.budget_tokens:,} tokens")
    if not limits:
        return "Session budget: none (%oai budget USD sets one)"
    return (f"Session budget: {' and '.join(limits)} ({format_cost(spent.cost)} and "
            f"{spent.tokens:,} tokens spent so far; requests are refused once it is reached)")


def key_status(state: KernelState, terminal: bool = False) -> str:
    """The key, masked, and where it comes from; no key and the practice placeholder said plainly."""
    settings = state.settings
    key = settings.resolved_key()
    if not key and not settings.key_required():
        return "none needed (requests to this server go without one)"
    if not key:
        return f"not set (%oai key, or OPENAI_API_KEY before starting {'IPython' if terminal else 'Jupyter'})"
    if key == PRACTICE_KEY:
        return "none needed (the practice server takes any key)"
    return f"{mask_key(key)} (from {settings.key_source()})"


def parse_value(command: str, rest: List[str]) -> Optional[str]:
    """``%oai org ID`` → "ID"; ``--clear`` → None (back to the environment)."""
    if rest == ["--clear"]:
        if command == "model":
            raise InputError("%oai model needs a name, e.g. %oai model gpt-4o-mini")
        return None
    if len(rest) != 1 or rest[0].startswith("-"):
        raise InputError(f"usage: %oai {command} VALUE  or  %oai {command} --clear")
    value = rest[0]
    if command == "base-url" and not value.startswith(("http://", "https://")):
        raise InputError(f"the base URL must start with http:// or https://, got {value!r}")
    if command == "base-url" and "@" in value.split("/")[2]:
        raise InputError(
            "the base URL contains a user name or password (user:pw@host): remove them; "
            "the API key is sent as a Bearer header (%oai key)"
        )
    return value.rstrip("/") if command == "base-url" else value


def describe_change(state: KernelState, field: str) -> str:
    settings = state.settings
    shown = {
        "organization": settings.resolved_organization(),
        "project": settings.resolved_project(),
        "base_url": settings.resolved_base_url(),
        "audio_base_url": audio_base_url(settings),
        "model": settings.model,
    }[field]
    label = field.replace("_", " ")
    return f"{label}: {shown or '(none)'}"


def _day(created: Any) -> str:
    """A ``created`` timestamp as a date, or "" when it is not a plausible one (``1e20``)."""
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        return ""
    try:
        return datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return ""


def models_table(client: Any) -> Any:
    """The server's models as a table; a line saying so when it has no /models (404)."""
    from ..errors import NotFoundError

    try:
        response = client.list_models()
    except NotFoundError:
        return (f"{MODELS_NOT_LISTED.capitalize()} (404 on /models): name a model with "
                "%oai model NAME or -m NAME.")
    models = [m for m in listed_models(response.data) if isinstance(m, dict)]
    rows = []
    for model in sorted(models, key=lambda m: str(m.get("id", ""))):
        rows.append((str(model.get("id", "?")), str(model.get("owned_by", "")), _day(model.get("created"))))
    title = f"{len(rows)} models"
    entries = response.data.get("data") if isinstance(response.data, dict) else None
    if isinstance(entries, list) and len(entries) > MAX_MODELS:
        title = f"the first {MAX_MODELS:,} of {len(entries):,} models"
    return Table(["model", "owned by", "created"], rows, title=title)


PRACTICE_USAGE = "usage: %oai practice [--delay SECONDS] [--if-no-key] | %oai practice --stop"


def practice(state: KernelState, rest: List[str], terminal: bool = False) -> str:
    """Start (or stop) the offline practice server and point this session at it.

    ``--if-no-key`` is for notebooks that must run anywhere: with a real key (session or
    ``OPENAI_API_KEY``) they use the configured server, without one they practise offline.
    """
    from ..core.practice_control import local_practice_server, start_practice, stop_practice

    if rest == ["--stop"]:
        return stop_practice(state)
    if_no_key = "--if-no-key" in rest
    rest = [word for word in rest if word != "--if-no-key"]
    delay = 0.02
    if rest[:1] == ["--delay"] and len(rest) == 2:
        try:
            delay = float(rest[1])
        except ValueError:
            raise InputError("--delay takes seconds between tokens, e.g. 0.02") from None
        if delay < 0:
            raise InputError("--delay takes seconds between tokens, e.g. 0.02")
    elif rest:
        raise InputError(PRACTICE_USAGE)
    key = state.settings.resolved_key()
    if if_no_key and key and key != PRACTICE_KEY:
        if state.practice_server is not None:
            stop_practice(state)
        url = state.settings.resolved_base_url()
        said = f"Using {url} with your key {mask_key(key)} (from {state.settings.key_source()})"
        if local_practice_server(url, key):
            return (f"{said}: that is a practice server (it says so in its replies), so answers "
                    "are practice output, marked 'practice' in their footer.")
        return f"{said}. Answers from a practice server are marked 'practice' in their footer."
    start_practice(state, delay)
    if if_no_key and terminal:  # no Jupyter to restart, no cell to run again
        how = ("OPENAI_BASE_URL is set but no key: set OPENAI_API_KEY too before starting "
               "IPython, or run %oai key (any value for a server that needs none)"
               if os.environ.get("OPENAI_BASE_URL") else
               "For a real model run %oai key (or set OPENAI_API_KEY, and OPENAI_BASE_URL for "
               "another server, before starting IPython)")
        return ("Using the practice server: answers are PRACTICE OUTPUT, not a real model "
                f"(no API key is set). {how}, then %oai practice --stop.")
    if if_no_key:
        if os.environ.get("OPENAI_BASE_URL"):
            how = ("OPENAI_BASE_URL is set but no key: set OPENAI_API_KEY too (any value for a "
                   "server that needs none)")
        else:
            how = ("For a real model set OPENAI_API_KEY (and OPENAI_BASE_URL for another server) "
                   "before starting Jupyter, or run %oai key")
        return (
            "Using the practice server: answers are PRACTICE OUTPUT, not a real model "
            f"(no API key is set). {how}, then run this cell again."
        )
    return (
        f"Practice server at {state.practice_server.base_url}: answers are PRACTICE OUTPUT "
        "made offline, not a real model. %oai practice --stop goes back."
    )
