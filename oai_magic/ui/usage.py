"""``%oai usage``: what this session used and cost, per model and per conversation.

A teacher can show what a lesson cost. The session is the kernel: a restart resets the totals,
and the report says so.
"""

from __future__ import annotations

from typing import Any, Dict, List

from ..core.costs import Totals, format_cost, ledger_of, price_source

COLUMNS = ("requests", "prompt", "cached", "completion", "reasoning", "estimated cost")
RESTART_NOTE = ("The session is this kernel: a restart resets these totals "
                "(%oai usage --reset clears them now). Costs are estimates; ")


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
        self.note = RESTART_NOTE + (source or "prices: none")

    def __repr__(self) -> str:
        lines = []
        for title, rows in self.sections:
            lines.append(title)
            for name, totals in rows.items():
                lines.append(f"  {name}: " + ", ".join(
                    f"{column} {value}" for column, value in zip(COLUMNS, _cells(totals))))
        lines.append("total: " + ", ".join(
            f"{column} {value}" for column, value in zip(COLUMNS, _cells(self.total))))
        if self.budget:
            lines.append(self.budget)
        lines.append(self.note)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ..render.markdown import IGNORE_MATH, escape_html

        head = "".join(f"<th>{escape_html(c)}</th>" for c in COLUMNS)
        parts = []
        for title, rows in self.sections:
            body = "".join(
                f"<tr><td>{escape_html(name)}</td>"
                + "".join(f"<td>{escape_html(v)}</td>" for v in _cells(totals)) + "</tr>"
                for name, totals in rows.items())
            parts.append(f"<table class='oai-usage'><thead><tr><th>{escape_html(title)}</th>"
                         f"{head}</tr></thead><tbody>{body}</tbody></table>")
        total = "".join(f"<td><b>{escape_html(v)}</b></td>" for v in _cells(self.total))
        parts.append(f"<table class='oai-usage'><tbody><tr><td><b>total</b></td>{total}</tr>"
                     "</tbody></table>")
        if self.budget:
            parts.append(f"<div>{escape_html(self.budget)}</div>")
        parts.append(f"<div style='font-size:smaller;opacity:0.75'>{escape_html(self.note)}</div>")
        return f"<div class='{IGNORE_MATH}'>{''.join(parts)}</div>"


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
    return UsageReport([("model", by_model), ("conversation", by_conversation)], total,
                       "Session " + " and ".join(budget) + "." if budget else "",
                       price_source(state.prices))


def reset(state: Any) -> str:
    ledger_of(state).reset()
    return "Usage totals cleared for this session."
