"""The monitoring page's SVG geometry (computed here, drawn by the templates; no JS library)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from monitoring import stats
from monitoring.fairness import FOUR_FIFTHS, AttributeFairness
from monitoring.selectors.drift import AttributionReport, Comparison, DayDrift
from monitoring.selectors.outcomes import Performance

WIDTH = 600
PAD = 28
STATUS_FILL = {
    "stable": "fill-emerald-500",
    "warning": "fill-amber-500",
    "critical": "fill-rose-500",
    "too_few": "fill-slate-300",
}


def _finite(value: float) -> bool:
    return value is not None and math.isfinite(value)


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


@dataclass
class Cell:
    x: float
    y: float
    size: float
    fill: str
    title: str
    feature: int
    day: date


@dataclass
class Heatmap:
    cells: list[Cell]
    rows: list[dict[str, object]]  # each row's name, shortened name and label position
    label_width: float
    width: float
    height: float
    first: date | None
    last: date | None


def heatmap(drift: DayDrift) -> Heatmap:
    """Features (then the score and the label) down, days across; a cell's colour is its day's PSI
    status against the baseline (grey: fewer than 500 records that day, coloured by PSI anyway)."""
    label_width = 170
    size = max(6.0, min(18.0, (WIDTH - label_width) / max(len(drift.days), 1)))
    cells = []
    for row, name in enumerate(drift.names):
        for col, day in enumerate(drift.days):
            value, n = drift.psi[row][col], drift.records[col]
            status = stats.psi_status(value, n, minimum=1) if n else "too_few"
            judged = "" if n >= stats.MIN_RECORDS else " (too few to judge)"
            cells.append(
                Cell(
                    x=label_width + col * size,
                    y=4 + row * size,
                    size=size - 1,
                    fill=STATUS_FILL[status] + ("" if judged == "" else " opacity-50"),
                    title=f"{name}, {day}: PSI {value:.3f}, {n} records{judged}" if n else f"{name}, {day}: no records",
                    feature=row,
                    day=day,
                )
            )
    return Heatmap(
        cells=cells,
        rows=[
            {"name": name, "short": _short(name), "y": 4 + row * size + size * 0.7}
            for row, name in enumerate(drift.names)
        ],
        label_width=label_width,
        width=label_width + len(drift.days) * size + 4,
        height=8 + len(drift.names) * size + 16,
        first=drift.days[0] if drift.days else None,
        last=drift.days[-1] if drift.days else None,
    )


@dataclass
class PairedBar:
    x: float
    width: float
    reference_y: float
    reference_height: float
    window_x: float
    window_y: float
    window_height: float
    title: str


def paired_histogram(comparison: Comparison, height: int = 160) -> dict[str, object]:
    """Each bin's share of the baseline (grey) beside its share of the window (blue)."""
    base_total = sum(comparison.baseline) or 1
    window_total = sum(comparison.window) or 1
    shares = [(b / base_total, w / window_total) for b, w in zip(comparison.baseline, comparison.window, strict=True)]
    top = max((max(pair) for pair in shares), default=0.0) or 1.0
    slot = (WIDTH - 2 * PAD) / max(len(shares), 1)
    scale = (height - 2 * PAD) / top
    bars = []
    for i, ((ref, win), name) in enumerate(zip(shares, comparison.bins, strict=True)):
        bars.append(
            PairedBar(
                x=PAD + i * slot + 2,
                width=max(1.0, slot / 2 - 3),
                reference_y=height - PAD - ref * scale,
                reference_height=ref * scale,
                window_x=PAD + i * slot + 2 + max(1.0, slot / 2 - 3),
                window_y=height - PAD - win * scale,
                window_height=win * scale,
                title=f"{name}: baseline {ref:.1%}, window {win:.1%}",
            )
        )
    labels = [{"x": PAD + (i + 0.5) * slot, "text": name[:14]} for i, name in enumerate(comparison.bins)]
    return {"bars": bars, "labels": labels, "width": WIDTH, "height": height, "pad": PAD, "c": comparison}


def attribution_bars(report: AttributionReport, limit: int = 10) -> dict[str, object]:
    """Each feature's part of the shift in mean log-odds, as a bar right (riskier) or left of zero."""
    parts = [p for p in report.parts if _finite(p.delta)][:limit]
    top = max((abs(p.delta) for p in parts), default=0.0) or 1.0
    label_width, row = 200, 18
    half = (WIDTH - label_width - 10) / 2
    zero = label_width + half
    bars = []
    for i, part in enumerate(parts):
        length = half * abs(part.delta) / top
        bars.append(
            {
                "x": zero if part.delta >= 0 else zero - length,
                "y": 4 + i * row,
                "width": max(length, 0.5),
                "name": _short(part.name),
                "label_y": 4 + i * row + 12,
                "fill": "fill-rose-500" if part.delta >= 0 else "fill-emerald-500",
                "title": f"{part.name}: {part.delta:+.3f} log-odds; drift impact {part.drift_impact:.3f}",
            }
        )
    return {
        "bars": bars,
        "zero": zero,
        "width": WIDTH,
        "height": 8 + max(len(parts), 1) * row,
        "label_width": label_width,
    }


def attribution_sentence(report: AttributionReport) -> str:
    """ "The average risk rose by 0.40 log-odds; 70 % of that is credit_amount." """
    if not report.records or not _finite(report.shift):
        return "No records in this window."
    direction = "rose" if report.shift > 0 else "fell"
    top = next((p for p in report.parts if _finite(p.share)), None)
    sentence = f"The average risk {direction} by {abs(report.shift):.2f} log-odds"
    if top is None or not report.shift:
        return sentence + "."
    return f"{sentence}; {top.share:.0%} of that is {top.name}."


def _y(value: float, low: float, high: float, height: int) -> float:
    return height - PAD - (value - low) / (high - low) * (height - 2 * PAD)


def series_chart(
    windows: Sequence[Performance], metric: str, *, low: float, high: float, height: int = 150
) -> dict[str, object]:
    """A line of one metric over the windows (judged windows only), with the AUC's DeLong band."""
    n = len(windows)
    step = (WIDTH - 2 * PAD) / max(n - 1, 1)
    points, band_top, band_bottom, dots = [], [], [], []
    for i, window in enumerate(windows):
        value = getattr(window, metric)
        if window.status != "judged" or not _finite(value):
            continue
        x = PAD + i * step
        y = _y(min(max(value, low), high), low, high, height)
        points.append(f"{x:.1f},{y:.1f}")
        dots.append(
            {"x": x, "y": y, "title": f"{window.start} to {window.end}: {value:.3f} ({window.outcomes} outcomes)"}
        )
        if metric == "auc":
            band_top.append(f"{x:.1f},{_y(window.auc_high, low, high, height):.1f}")
            band_bottom.append(f"{x:.1f},{_y(window.auc_low, low, high, height):.1f}")
    band = " ".join(band_top + band_bottom[::-1]) if len(band_top) > 1 else ""
    ticks = [{"y": _y(v, low, high, height), "text": f"{v:g}"} for v in (low, (low + high) / 2, high)]
    return {
        "points": " ".join(points),
        "band": band,
        "dots": dots,
        "ticks": ticks,
        "width": WIDTH,
        "height": height,
        "pad": PAD,
        "first": windows[0].start if windows else None,
        "last": windows[-1].end if windows else None,
    }


def coverage_bars(windows: Sequence[Performance], height: int = 110) -> dict[str, object]:
    slot = (WIDTH - 2 * PAD) / max(len(windows), 1)
    bars = []
    for i, window in enumerate(windows):
        share = window.coverage if _finite(window.coverage) else 0.0
        bar_height = (height - 2 * PAD) * share
        bars.append(
            {
                "x": PAD + i * slot + 1,
                "y": height - PAD - bar_height,
                "width": max(slot - 2, 1),
                "height": bar_height,
                "title": f"{window.start} to {window.end}: {window.outcomes} of {window.records} have an outcome",
            }
        )
    return {"bars": bars, "width": WIDTH, "height": height, "pad": PAD}


def reliability_diagram(performance: Performance, size: int = 220) -> dict[str, object]:
    """Mean score (x) against observed rate (y) per equal-count bin, with the diagonal."""
    inner = size - 2 * PAD
    points = [
        {
            "x": PAD + b.mean_score * inner,
            "y": size - PAD - b.observed_rate * inner,
            "title": f"{b.n:.0f} records: mean score {b.mean_score:.3f}, observed {b.observed_rate:.3f}",
        }
        for b in performance.reliability
    ]
    return {"points": points, "size": size, "pad": PAD, "line": " ".join(f"{p['x']:.1f},{p['y']:.1f}" for p in points)}


def fairness_bars(attribute: AttributeFairness, row: int = 22) -> dict[str, object]:
    """Approval rate per group as horizontal bars, with the four-fifths line of the most favoured
    group's rate: a judged group's bar ending left of it is below four fifths (rose)."""
    label_width, right = 190, 56
    inner = WIDTH - label_width - right
    reference = next((g for g in attribute.groups if g.value == attribute.reference), None)
    line = None
    if reference is not None and _finite(reference.approval_rate):
        line = label_width + FOUR_FIFTHS * reference.approval_rate * inner
    bars = []
    for i, group in enumerate(attribute.groups):
        rate = group.approval_rate if _finite(group.approval_rate) else 0.0
        below = group.judged and _finite(group.ratio) and group.ratio < FOUR_FIFTHS
        fill = "fill-slate-300" if not group.judged else ("fill-rose-500" if below else "fill-emerald-500")
        bars.append(
            {
                "y": 4 + i * row,
                "label": _short(group.value, 34),
                "width": max(rate * inner, 1.0),
                "text": f"{rate:.0%}",
                "text_x": label_width + max(rate * inner, 1.0) + 4,
                "fill": fill,
                "title": f"{group.value}: {group.counts.approved} of {group.counts.records} approved"
                + ("" if group.judged else " (too few to judge)"),
            }
        )
    height = 8 + len(bars) * row
    return {"bars": bars, "width": WIDTH, "height": height, "label_width": label_width, "line": line, "row": row}
