"""The gates' results as a text or Markdown table (commands, CI job summaries)."""

from __future__ import annotations

from typing import Any

_VERDICT = {True: "pass", False: "FAIL", None: "n/a"}


def _value(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def gates_table(results: list[dict[str, Any]], *, markdown: bool = False) -> str:
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
