"""``%oai usage``: what this session used and cost, per model and per conversation.

A teacher can show what a lesson cost. The session is the kernel: a restart resets the totals,
and the report says so.
"""

from __future__ import annotations

from typing import Any, Dict, List

from ..core.costs import Totals, format_cost, ledger_of, price_source
from ..plain_text import terminal_safe

COLUMNS = ("requests", "prompt", "cached", "completion", "reasoning", "estimated cost")
RESTART_NOTE = ("The session is this kernel: a restart resets these totals "
                "(%oai usage --reset clears them now; a budget stays). Costs are estimates.")
NOTHING_YET = "Nothing yet: no request in this session (since the kernel started or the last reset)."
ESTIMATED_NOTE = ("stopped answers whose usage the server did not report, estimated from their "
                  "characters (about 4 a token) and counted in the totals and budgets.")


def _cells(totals: Totals) -> List[str]:
    cost = None if totals.unpriced == totals.requests and totals.requests else totals.cost
    shown = format_cost(cost)
    if totals.unpriced and cost is not None:
        shown += f" (+{totals.unpriced} unpriced)"
    return [f"{totals.requests:,}", f"{totals.prompt:,}", f"{totals.cached:,}",
            f"{totals.completion:,}", f"{totals.reasoning:,}", shown]


class UsageReport:
    """Tables in a notebook, aligned text in a terminal; every name escaped (server model ids)."""

    def __init__(self, sections: List[tuple], total: Totals, budget: str,
                 source: str = "") -> None:
        self.sections, self.total, self.budget = sections, total, budget
        self.source = source  # issue 29: where prices come from and as of when

    def notes(self) -> List[str]:
        """What the numbers need said: nothing yet, estimated usage, the budget, the session."""
        notes = [] if self.total.requests else [NOTHING_YET]
        if self.total.estimated:
            notes.append(f"{self.total.estimated} estimated: {ESTIMATED_NOTE}")
        if self.budget:
            notes.append(self.budget)
        return notes + [RESTART_NOTE] + ([self.source] if self.source else [])

    def __repr__(self) -> str:
        if not self.total.requests:
            return "\n".join(self.notes())
        lines = []
        for title, rows in self.sections:
            lines.append(title)
            for name, totals in rows.items():
                lines.append(f"  {name}: " + ", ".join(
                    f"{column} {value}" for column, value in zip(COLUMNS, _cells(totals))))
        lines.append("total: " + ", ".join(
            f"{column} {value}" for column, value in zip(COLUMNS, _cells(self.total))))
        return terminal_safe("\n".join(lines + self.notes()))

    def _repr_html_(self) -> str:
        """One table, so the total row lines up with the rows above it: a heading row per
        section (model, conversation), the total as its footer. Before any request, a line."""
        from ..render.markdown import IGNORE_MATH, escape_html

        notes = "".join(f"<div style='font-size:smaller;opacity:0.75'>{escape_html(n)}</div>"
                        for n in self.notes())
        if not self.total.requests:
            return f"<div class='{IGNORE_MATH}'>{notes}</div>"
        number = "style='text-align:right'"
        head = "".join(f"<th {number}>{escape_html(c)}</th>" for c in COLUMNS)
        body = []
        for title, rows in self.sections:
            body.append(f"<tr><th style='text-align:left' colspan='{len(COLUMNS) + 1}'>"
                        f"{escape_html(title)}</th></tr>")
            body.extend(f"<tr><td>{escape_html(name)}</td>"
                        + "".join(f"<td {number}>{escape_html(v)}</td>" for v in _cells(totals))
                        + "</tr>" for name, totals in rows.items())
        total = "".join(f"<td {number}><b>{escape_html(v)}</b></td>" for v in _cells(self.total))
        table = (f"<table class='oai-usage'><thead><tr><th></th>{head}</tr></thead>"
                 f"<tbody>{''.join(body)}</tbody><tfoot><tr><td><b>total</b></td>{total}</tr>"
                 "</tfoot></table>")
        return f"<div class='{IGNORE_MATH}'>{table}{notes}</div>"


def usage_report(state: Any) -> UsageReport:
    ledger = ledger_of(state)
    with ledger.lock:
        by_model: Dict[str, Totals] = dict(ledger.by_model)
        by_conversation: Dict[str, Totals] = dict(ledger.by_conversation)
        total = ledger.total
    budget = []
    if state.budget_usd is not None:
        budget.append(f"budget ${state.budget_usd:g}")
    if state.budget_tokens is not None:
        budget.append(f"budget {state.budget_tokens:,} tokens")
    from ..core.durable import logged_totals

    said = "Session " + " and ".join(budget) + "." if budget else ""
    logged = logged_totals(state)
    if logged:
        said = f"{said} {logged}".strip()
    return UsageReport([("model", by_model), ("conversation", by_conversation)], total, said,
                       price_source(state.prices))


def reset(state: Any) -> str:
    ledger_of(state).reset()
    said = "Usage totals cleared for this session."
    if state.budget_usd is not None or state.budget_tokens is not None:
        return (f"{said} This does not lift the session budget: it still counts everything "
                "spent since the kernel started (%oai budget --clear lifts it).")
    return f"{said} A session budget (%oai budget USD) would still count what was spent."
