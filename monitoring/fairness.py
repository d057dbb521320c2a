"""Fairness figures from decision counts per protected group: approval rates, the adverse impact
ratio against the most favoured group (four-fifths rule) with a Katz log interval, and the gaps in
true- and false-positive rates once outcomes arrive. Plain Python: monitoring reads the counts
from the record store, the release gates from a replay. docs/decisions.md defines each figure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

FOUR_FIFTHS = 0.8
MIN_GROUP = 30  # decided records a group needs to be judged: a rate of fewer says little
MIN_RATE_CASES = 20  # outcomes of one class a group needs for its TPR or FPR to count in a gap
Z95 = 1.959963984540054


@dataclass
class GroupCounts:
    """One group's decided records: how many, how many approved, and among those with an outcome
    how many were positive (the risk happened) and how many of each class were not approved."""

    records: int = 0
    approved: int = 0
    outcomes: int = 0
    positives: int = 0
    flagged_positives: int = 0  # positive outcome, not approved
    flagged_negatives: int = 0  # negative outcome, not approved

    def add(self, *, approved: bool, outcome: bool | None) -> None:
        self.records += 1
        self.approved += approved
        if outcome is not None:
            self.outcomes += 1
            self.positives += outcome
            self.flagged_positives += outcome and not approved
            self.flagged_negatives += (not outcome) and not approved


@dataclass
class GroupFairness:
    value: str
    counts: GroupCounts
    approval_rate: float
    ratio: float  # approval rate over the most favoured group's
    ratio_low: float
    ratio_high: float
    tpr: float  # share of positive outcomes not approved
    fpr: float  # share of negative outcomes not approved
    judged: bool  # enough records to count in the ratio


@dataclass
class AttributeFairness:
    attribute: str
    groups: list[GroupFairness] = field(default_factory=list)
    reference: str | None = None  # the most favoured judged group
    worst: str | None = None  # the judged group with the lowest ratio
    adverse_impact_ratio: float = math.nan
    air_low: float = math.nan
    air_high: float = math.nan
    tpr_gap: float = math.nan
    fpr_gap: float = math.nan

    @property
    def status(self) -> str:
        """ "too_few" (fewer than two judged groups), "warning" (below four fifths) or "ok"."""
        if self.adverse_impact_ratio != self.adverse_impact_ratio:
            return "too_few"
        return "warning" if self.adverse_impact_ratio < FOUR_FIFTHS else "ok"


def ratio_interval(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> tuple[float, float, float]:
    """The ratio of proportions (x1/n1) / (x0/n0) and its Katz log interval; half a count is added
    to every cell when a count is 0 or the whole group, so the interval stays finite."""
    if not n1 or not n0 or not x0:
        return math.nan, math.nan, math.nan
    ratio = (x1 / n1) / (x0 / n0)
    a1, m1, a0, m0 = float(x1), float(n1), float(x0), float(n0)
    if min(x1, x0, n1 - x1, n0 - x0) == 0:  # Haldane's correction
        a1, m1, a0, m0 = a1 + 0.5, m1 + 1, a0 + 0.5, m0 + 1
    se = math.sqrt(1 / a1 - 1 / m1 + 1 / a0 - 1 / m0)
    centre = math.log((a1 / m1) / (a0 / m0))
    return ratio, math.exp(centre - z * se), math.exp(centre + z * se)


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _gap(rates: Iterable[float]) -> float:
    values = [rate for rate in rates if rate == rate]
    return max(values) - min(values) if len(values) >= 2 else math.nan


def attribute_fairness(attribute: str, groups: Mapping[str, GroupCounts]) -> AttributeFairness:
    """The figures of one protected attribute from its groups' counts (groups ordered by value)."""
    out = AttributeFairness(attribute=attribute)
    judged = {value: c for value, c in groups.items() if c.records >= MIN_GROUP}
    best = max(sorted(judged), key=lambda v: _rate(judged[v].approved, judged[v].records), default=None)
    for value in sorted(groups):
        c = groups[value]
        ratio, low, high = (math.nan,) * 3
        if value == best:
            ratio = low = high = 1.0 if c.approved else math.nan  # the reference itself: no uncertainty
        elif best is not None:
            ratio, low, high = ratio_interval(c.approved, c.records, judged[best].approved, judged[best].records)
        out.groups.append(
            GroupFairness(
                value=value,
                counts=c,
                approval_rate=_rate(c.approved, c.records),
                ratio=ratio,
                ratio_low=low,
                ratio_high=high,
                tpr=_rate(c.flagged_positives, c.positives),
                fpr=_rate(c.flagged_negatives, c.outcomes - c.positives),
                judged=value in judged,
            )
        )
    scored = [g for g in out.groups if g.judged and g.ratio == g.ratio]
    if best is not None and len(judged) >= 2 and scored:
        worst = min(scored, key=lambda g: (g.ratio, g.value))
        out.reference, out.worst = best, worst.value
        out.adverse_impact_ratio, out.air_low, out.air_high = worst.ratio, worst.ratio_low, worst.ratio_high
    out.tpr_gap = _gap(g.tpr for g in out.groups if g.counts.positives >= MIN_RATE_CASES)
    out.fpr_gap = _gap(g.fpr for g in out.groups if g.counts.outcomes - g.counts.positives >= MIN_RATE_CASES)
    return out


def fairness_from_counts(counts: Mapping[str, Mapping[str, GroupCounts]]) -> list[AttributeFairness]:
    return [attribute_fairness(attribute, counts[attribute]) for attribute in sorted(counts)]


def group_key(value: object) -> str:
    """A protected value as a group name: booleans as PostgreSQL's jsonb text writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def counts_from_rows(
    protected: Sequence[Mapping[str, object]], approved: Sequence[bool], outcomes: Sequence[bool | None]
) -> dict[str, dict[str, GroupCounts]]:
    """Counts per attribute and group from rows (each row's protected attributes, whether it was
    approved, its outcome or None); a row counts in every attribute it has."""
    counts: dict[str, dict[str, GroupCounts]] = {}
    for attributes, is_approved, outcome in zip(protected, approved, outcomes, strict=True):
        for attribute, value in attributes.items():
            if value is None:
                continue
            group = counts.setdefault(attribute, {}).setdefault(group_key(value), GroupCounts())
            group.add(approved=bool(is_approved), outcome=outcome)
    return counts


def worst_ratio(attributes: Iterable[AttributeFairness]) -> AttributeFairness | None:
    """The attribute with the lowest adverse impact ratio (None if none could be judged)."""
    judged = [a for a in attributes if a.adverse_impact_ratio == a.adverse_impact_ratio]
    return min(judged, key=lambda a: (a.adverse_impact_ratio, a.attribute), default=None)
