"""Decision policies and adverse-action reasons (predictions.ml.decisions), on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from predictions.ml.decisions import (
    MAX_REASONS,
    DecisionPolicy,
    LabelBand,
    PolicyError,
    ReasonCoder,
    ReasonFamily,
    policy_check,
    policy_from_bands,
    reason_table_build,
)
from predictions.ml.features import FeatureSpec

SCHEMA = [FeatureSpec(name=f"f{j}", type="number", description=f"Feature number {j}.") for j in range(8)]
FAMILIES = [
    ReasonFamily("A", "First reason.", ("f0", "f1")),
    ReasonFamily("B", "Second reason.", ("f2",)),
    ReasonFamily("C", "Third reason.", ("f3", "f4")),
    ReasonFamily("D", "Fourth reason.", ("f5",)),
    ReasonFamily("E", "Fifth reason.", ("f6",)),
    ReasonFamily("F", "Sixth reason.", ("f7",)),
]


def _expected(
    contributions: np.ndarray, families: list[ReasonFamily], hidden: frozenset[str] = frozenset()
) -> list[str]:
    """An independent reading of the rule: sum each family's drivers (protected ones left out),
    keep the ones that raise the risk, largest first, ties by code, four at most."""
    index = {spec.name: j for j, spec in enumerate(SCHEMA)}
    totals = []
    for family in families:
        total = sum(contributions[index[name]] for name in family.features if name not in hidden)
        if total > 0:
            totals.append((-total, family.code))
    return [code for _, code in sorted(totals)][:MAX_REASONS]


def test_it_decides_by_the_cut_offs_inclusive_from_each_one():
    policy = DecisionPolicy(refer_at=0.3, decline_at=0.6)
    assert policy.decide(np.array([0.0, 0.2999, 0.3, 0.5999, 0.6, 1.0])) == [
        "approve", "approve", "refer", "refer", "decline", "decline",
    ]  # fmt: skip
    assert DecisionPolicy(0.5, 0.5).decide(np.array([0.49, 0.5])) == ["approve", "decline"]


def test_the_default_policy_follows_the_label_bands():
    bands: list[LabelBand] = [
        {"label": "low", "min": 0.0},
        {"label": "medium", "min": 0.25},
        {"label": "high", "min": 0.7},
    ]
    assert policy_from_bands(bands) == DecisionPolicy(0.25, 0.7)
    assert policy_from_bands(bands[:1] + bands[2:]) == DecisionPolicy(0.7, 0.7)


@pytest.mark.parametrize(
    "policy",
    [
        {"refer_at": 0.6, "decline_at": 0.3},
        {"refer_at": 0.0, "decline_at": 0.5},
        {"refer_at": 0.3, "decline_at": 1.5},
        {"refer_at": True, "decline_at": 0.5},
        {"refer_at": "0.3", "decline_at": 0.5},
        {"refer_at": 0.3},
        {"refer_at": 0.3, "decline_at": 0.6, "approve_at": 0.1},
        [0.3, 0.6],
    ],
)
def test_it_refuses_a_policy_that_cannot_work(policy):
    with pytest.raises(PolicyError):
        policy_check(policy)


def test_reasons_are_the_top_risk_raising_families_at_most_four():
    rng = np.random.default_rng(7)
    coder = ReasonCoder(SCHEMA, FAMILIES)
    for _ in range(500):
        contributions = rng.normal(size=len(SCHEMA))
        reasons = coder.reasons(contributions)
        assert [r["code"] for r in reasons] == _expected(contributions, FAMILIES)
        assert len(reasons) <= MAX_REASONS
        assert all(r["contribution"] > 0 for r in reasons)
        totals = [r["contribution"] for r in reasons]
        assert totals == sorted(totals, reverse=True)


def test_a_family_sums_its_features_so_one_raising_and_one_lowering_can_cancel():
    coder = ReasonCoder(SCHEMA, FAMILIES)
    contributions = np.zeros(len(SCHEMA))
    contributions[0], contributions[1] = 0.9, -0.95  # family A nets -0.05: not a reason
    contributions[2] = 0.1
    assert [r["code"] for r in coder.reasons(contributions)] == ["B"]
    [reason] = coder.reasons(contributions)
    assert reason == {"code": "B", "sentence": "Second reason.", "features": ["f2"], "contribution": 0.1}


def test_equal_contributions_are_ordered_by_code_whatever_the_table_order():
    contributions = np.array([0.2, 0.0, 0.2, 0.1, 0.1, 0.2, 0.2, 0.2])  # A, B, C, D, E, F all 0.2
    for order in (FAMILIES, FAMILIES[::-1], FAMILIES[2:] + FAMILIES[:2]):
        reasons = ReasonCoder(SCHEMA, order).reasons(contributions)
        assert [r["code"] for r in reasons] == ["A", "B", "C", "D"]


def test_no_reason_for_a_row_where_nothing_raised_the_risk():
    assert ReasonCoder(SCHEMA, FAMILIES).reasons(-np.ones(len(SCHEMA))) == []


def test_a_protected_feature_never_counts_in_a_reason():
    # were a protected column ever in a schema, its driver would still never be a reason
    coder = ReasonCoder(SCHEMA, FAMILIES, protected=["f2", "f0"])
    contributions = np.array([5.0, 0.1, 9.0, 0.0, 0.0, 0.3, 0.0, 0.0])
    reasons = coder.reasons(contributions)
    assert [r["code"] for r in reasons] == _expected(contributions, FAMILIES, frozenset({"f0", "f2"})) == ["D", "A"]
    assert reasons[1]["contribution"] == pytest.approx(0.1)


def test_the_table_gets_a_reason_for_every_feature_it_leaves_out():
    table = reason_table_build(SCHEMA, {"reasons": [{"code": "A", "sentence": "Both.", "features": ["f0", "f1"]}]})
    assert [f.code for f in table] == ["A", "F2", "F3", "F4", "F5", "F6", "F7"]
    assert table[1].sentence == "Feature number 2: the applicant's value raised the estimated risk."
    assert sorted(name for family in table for name in family.features) == [s.name for s in SCHEMA]


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ([{"code": "A", "sentence": "x", "features": ["sex"]}], "protected attribute"),
        ([{"code": "A", "sentence": "x", "features": ["nope"]}], "not a feature"),
        ([{"code": "A", "sentence": "x", "features": ["f0"]}, {"code": "B", "sentence": "y", "features": ["f0"]}],
         "in two reasons"),
        ([{"code": "A", "sentence": "x", "features": ["f0"]}, {"code": "A", "sentence": "y", "features": ["f1"]}],
         "unique"),
        ([{"code": "lower", "sentence": "x", "features": ["f0"]}], "capital letters"),
        ([{"code": "A", "sentence": " ", "features": ["f0"]}], "sentence"),
        ([{"code": "A", "sentence": "x", "features": []}], "non-empty list"),
        ([{"code": "A", "sentence": "x", "features": ["f0"], "weight": 2}], "must be an object"),
        ("not a list", "list of reasons"),
    ],
)  # fmt: skip
def test_it_refuses_a_reason_table_that_cannot_work(reasons, message):
    with pytest.raises(PolicyError, match=message):
        reason_table_build(SCHEMA, reasons, protected=["sex"])
