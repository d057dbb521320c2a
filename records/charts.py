"""Server-rendered SVG charts: geometry computed here, drawn by the templates (no JS library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, F, IntegerField, QuerySet
from django.db.models.functions import Cast, Floor, Least, TruncDate
from django.utils import timezone

from records.models import Record

WIDTH = 600
HEIGHT = 160
PAD = 24
WINDOW_DAYS = 30


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int
    colour: str = "sky"


def score_histogram(queryset: QuerySet[Record], bins: int = 10) -> dict[str, object]:
    bucket = Least(Cast(Floor(F("risk_score") * bins), IntegerField()), bins - 1)
    rows = queryset.order_by().annotate(bucket=bucket).values("bucket").annotate(n=Count("pk"))
    counts = [0] * bins
    for row in rows:
        counts[int(row["bucket"])] += row["n"]
    top = max(counts) or 1
    slot = (WIDTH - 2 * PAD) / bins
    bars = []
    for i, count in enumerate(counts):
        height = (HEIGHT - 2 * PAD) * count / top
        bars.append(
            Bar(
                x=PAD + i * slot + 2,
                y=HEIGHT - PAD - height,
                width=slot - 4,
                height=height,
                label=f"{i / bins:.1f} to {(i + 1) / bins:.1f}",
                count=count,
            )
        )
    return {
        "bars": bars,
        "total": sum(counts),
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "ticks": [{"x": PAD + i * slot, "text": f"{i / bins:.1f}"} for i in range(0, bins + 1, 2)],
    }


def daily_volume(
    queryset: QuerySet[Record], labels: list[tuple[str, str]], end: date | None = None
) -> dict[str, object]:
    """Records per day and label, stacked, over the last WINDOW_DAYS days of the filtered range."""
    end = end or timezone.now().date()
    start = end - timedelta(days=WINDOW_DAYS - 1)
    rows = (
        queryset.order_by()
        .filter(timestamp__date__gte=start, timestamp__date__lte=end)
        .annotate(day=TruncDate("timestamp"))
        .values("day", "risk_label")
        .annotate(n=Count("pk"))
    )
    per_day: dict[date, dict[str, int]] = {}
    for row in rows:
        per_day.setdefault(row["day"], {})[row["risk_label"]] = row["n"]
    days = [start + timedelta(days=i) for i in range(WINDOW_DAYS)]
    top = max((sum(per_day.get(day, {}).values()) for day in days), default=0) or 1
    slot = (WIDTH - 2 * PAD) / WINDOW_DAYS
    bars = []
    for i, day in enumerate(days):
        y: float = HEIGHT - PAD
        for label, colour in labels:
            count = per_day.get(day, {}).get(label, 0)
            if not count:
                continue
            height = (HEIGHT - 2 * PAD) * count / top
            y -= height
            bars.append(
                Bar(
                    x=PAD + i * slot + 1,
                    y=y,
                    width=max(slot - 2, 1),
                    height=height,
                    label=f"{day:%b %d} {label}",
                    count=count,
                    colour=colour,
                )
            )
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "start": start,
        "end": end,
        "legend": labels,
        "max": top,
    }
