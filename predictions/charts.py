"""The registry page's calibration plot, as server-rendered SVG geometry."""

from __future__ import annotations

from typing import Any


def calibration_points(bins: list[dict[str, Any]], size: int = 160) -> dict[str, Any]:
    pad = 20
    inner = size - 2 * pad
    points = [
        {
            "cx": pad + inner * b["mean_predicted"],
            "cy": size - pad - inner * b["observed_rate"],
            "r": 3 + min(6, b["count"] ** 0.5 / 2),
            "title": f"predicted {b['mean_predicted']:.2f}, observed {b['observed_rate']:.2f} (n={b['count']})",
        }
        for b in bins
        if b.get("count")
    ]
    return {"points": points, "size": size, "pad": pad, "end": size - pad}
