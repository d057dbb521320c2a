"""The release page's split as a server-rendered SVG bar."""

from __future__ import annotations

WIDTH = 300


def split_bar(*, percent: float) -> dict[str, object]:
    canary = round(WIDTH * max(0.0, min(percent, 100.0)) / 100, 1)
    return {"width": WIDTH, "champion": round(WIDTH - canary, 1), "canary": canary, "percent": percent}
