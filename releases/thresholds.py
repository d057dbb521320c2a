"""The release gates' thresholds and the canary ramp's timings: defaults a name's ``Release.gates``
overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from core.types import JSONObject


@dataclass(frozen=True)
class Thresholds:
    """Every gate's threshold, and the ramp's timings (docs/operations.md states each)."""

    auc_margin: float = -0.005  # the lower bound of the paired 95 % interval of AUC(candidate) - AUC(champion)
    bootstrap_rounds: int = 1000
    min_labelled: int = 100
    ece_max: float = 0.03
    citl_max: float = 0.02
    psi_max: float = 0.25
    label_change_max: float = 0.2
    stability_days: int = 30
    min_stability_records: int = 100
    latency_p99_ms: float = 5.0
    air_min: float = 0.8  # the four-fifths rule, on the candidate's decisions of the replayed records
    air_drop_max: float = 0.05  # and at most this far below the champion's on the same records
    ramp_min_records: int = 200
    ramp_min_minutes: float = 60
    canary_error_rate_max: float = 0.02
    canary_psi_max: float = 0.25

    def as_json(self) -> JSONObject:
        return dict(asdict(self))


def thresholds_get(overrides: JSONObject | None) -> Thresholds:
    """The defaults with a name's overrides (numbers only; unknown keys and other types are ignored)."""
    known = {f.name: f.type for f in fields(Thresholds)}
    chosen: dict[str, float | int] = {}
    for key, value in (overrides or {}).items():
        if key in known and isinstance(value, int | float) and not isinstance(value, bool):
            chosen[key] = int(value) if known[key] == "int" else float(value)
    return replace(Thresholds(), **chosen)  # type: ignore[arg-type]  # each value cast to its field's type above
