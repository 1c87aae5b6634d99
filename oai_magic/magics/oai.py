"""``%oai``: settings and status. Each command reads its words, then changes one setting."""

from __future__ import annotations

import getpass
from typing import Any, List

from IPython.core.error import UsageError
from IPython.display import display

from ..state import Secret, mask_key
from . import settings_commands
from .arguments import read_words

HELP = """Settings and status.

        %oai                      status: key (masked), organization, project, base URL, model,
                                  last request id and rate limits
        %oai key [--clear]        set the API key with a hidden prompt (never typed into a cell)
        %oai org ID | --clear     OpenAI-Organization for every later request
        %oai project ID | --clear OpenAI-Project for every later request
        %oai base-url URL | --clear
        %oai base-url --audio URL | --clear   where %transcribe goes, when speech runs on a
                                  server of its own (default: the base URL)
        %oai model NAME
        %oai context N | --clear  the server's context window in tokens (history is trimmed to fit)
        %oai models               list the models the server offers
        %oai usage [--reset]      this session's requests, tokens and estimated cost, per model
                                  and per conversation (the session is the kernel: a restart
                                  resets it); --reset clears the totals, not the budget
        %oai budget [USD | --clear]   the session budget: requests are refused once this
                                  session's estimated cost reaches it
        %oai budget --daily [USD | --clear]   today's budget across every kernel, as the log
                                  counts it (a restart does not lift it)
        %oai practice [--delay S] [--stop]   start the offline practice server and use it
        %oai practice --if-no-key only when no API key is set (notebooks that run anywhere)
        %oai mcp add NAME -- COMMAND [ARGS...]    an MCP server run as a command (stdio)
        %oai mcp add NAME URL [--header K=V ...]  an MCP server over streamable HTTP
        %oai mcp load FILE        the servers of an mcpServers JSON file (Claude Desktop, Cursor,
                                  VS Code); c.OAIMagics.mcp_servers takes the same shape
        %oai mcp list             each server, its status and the tools it listed
        %oai mcp remove NAME      stop it and forget it (a server starts when a tool is first
                                  used: --tools mcp:NAME, or mcp:NAME/TOOL for one tool)
        """

COMMANDS = "key, org, project, base-url, model, context, models, usage, budget, practice or mcp"


def run(magics: Any, line: str) -> None:
    """One ``%oai`` line: a status, a question, or one setting changed through its trait."""
    state = magics.state
    words = read_words(line, "the %oai command")
    if not words:
        settings = magics.settings
        display(settings_commands.status(state, settings.max_tokens_param, settings.context_tokens,
                                         terminal=not magics.rich_display()))
        return
    command, rest = words[0], words[1:]
    if command == "key":
        set_key(magics, rest)
    elif command == "model" and not rest:  # a question, not a change
        print(settings_commands.describe_change(state, "model"))
    elif command in ("org", "organization", "project", "base-url", "model"):
        field = {"org": "organization", "base-url": "base_url"}.get(command, command)
        if command == "base-url" and rest[:1] == ["--audio"]:
            field, rest = "audio_base_url", rest[1:]
        value = settings_commands.parse_value(command, rest)
        setattr(magics, field, value)
        print(settings_commands.describe_change(state, field))
        warning = None
        if field == "base_url":
            warning = state.insecure_http_warning()
        elif field == "audio_base_url" and value:
            warning = state.insecure_http_warning(state.settings.resolved_audio_base_url())
        if warning:
            print(warning)
    elif command == "context":
        magics.context_tokens = settings_commands.parse_context(rest)
        print(settings_commands.describe_context(magics.settings.context_tokens))
    elif command == "models":
        models = settings_commands.models_table(magics.client)
        if isinstance(models, str):
            print(models)
        else:
            display(models)
    elif command == "usage":
        from ..ui import usage as usage_view

        if rest == ["--reset"]:
            print(usage_view.reset(state))
        elif rest:
            raise UsageError("%oai usage takes no argument but --reset (see %oai?).")
        else:
            display(usage_view.usage_report(state))
    elif command == "budget" and rest[:1] == ["--daily"]:
        from ..core.durable import describe_daily

        if rest[1:]:
            magics.daily_budget_usd = settings_commands.parse_budget(rest[1:])
        print(describe_daily(state))
    elif command == "budget":
        if rest:
            magics.session_budget_usd = settings_commands.parse_budget(rest)
        print(settings_commands.describe_budget(state))
    elif command == "practice":
        print(settings_commands.practice(state, rest, terminal=not magics.rich_display()))
        magics.base_url = state.settings.base_url
    elif command == "mcp":
        from . import mcp_commands

        shown = mcp_commands.run(state, rest)
        if isinstance(shown, str):
            print(shown)
        else:
            display(shown)
    else:
        raise UsageError(f"Unknown %oai command {command!r}: use {COMMANDS} (see %oai?).")


def set_key(magics: Any, rest: List[str]) -> None:
    """``%oai key``: the key only ever comes from a hidden prompt, never from a cell's text."""
    state = magics.state
    if rest == ["--clear"]:
        state.settings.api_key = None
        print("API key cleared for this session (OPENAI_API_KEY still applies if set).")
        return
    if rest:
        raise UsageError(
            "Do not type the key into a cell (it would be saved in history): "
            "run %oai key alone and paste it at the hidden prompt."
        )
    value = getpass.getpass("OpenAI API key (hidden): ").strip()
    if not value:
        raise UsageError("No key entered; nothing changed.")
    state.settings.api_key = Secret(value)
    print(f"API key set for this session: {mask_key(value)}")
