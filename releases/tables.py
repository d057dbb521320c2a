"""The gates' results as a text or Markdown table (commands, CI job summaries)."""

from __future__ import annotations

from collections.abc import Sequence

from releases.gates import GateResult

_VERDICT = {True: "pass", False: "FAIL", None: "n/a"}


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def gates_table(results: Sequence[GateResult], *, markdown: bool = False) -> str:
    header = ["gate", "set", "value", "threshold", "result", "detail"]
    rows = [
        [r["gate"], r["set"], _value(r["value"]), _value(r["threshold"]), _VERDICT[r["passed"]], r["detail"]]
        for r in results
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        out.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return "\n".join(out)
