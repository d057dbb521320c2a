"""Credit decisions from scores: a version's decision policy (score cut-offs to approve, refer and
decline) and its adverse-action reasons (the reason families whose exact SHAP drivers raised the
risk most against the training population). docs/decisions.md states the rules."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from core.errors import ApplicationError
from core.types import JSON
from predictions.ml.features import FeatureSpec

APPROVE, REFER, DECLINE = "approve", "refer", "decline"
DECISIONS = (APPROVE, REFER, DECLINE)
# Regulation B's commentary: more than four principal reasons are unlikely to help an applicant.
MAX_REASONS = 4
_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
MAX_SENTENCE = 300


class LabelBand(TypedDict):
    label: str
    min: float  # the band applies from here (inclusive) to the next band's min


class PolicyError(ApplicationError, ValueError):
    """A decision policy or reason table that cannot be used; the message names the problem."""

    code = "invalid_policy"


@dataclass(frozen=True)
class DecisionPolicy:
    """Scores below ``refer_at`` are approved, from ``refer_at`` referred to a person, from
    ``decline_at`` declined; ``refer_at == decline_at`` leaves no referral band."""

    refer_at: float
    decline_at: float

    def to_dict(self) -> dict[str, float]:
        return {"refer_at": self.refer_at, "decline_at": self.decline_at}

    def decide(self, scores: np.ndarray) -> list[str]:
        scores = np.asarray(scores, dtype=np.float64)
        index = (scores >= self.refer_at).astype(np.int64) + (scores >= self.decline_at).astype(np.int64)
        return [DECISIONS[i] for i in index.tolist()]


def _cut_off(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        raise PolicyError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def policy_check(data: object) -> DecisionPolicy:
    """``{"refer_at", "decline_at"}`` with ``0 < refer_at <= decline_at <= 1``."""
    if not isinstance(data, Mapping) or set(data) != {"refer_at", "decline_at"}:
        raise PolicyError("a decision policy is an object with exactly 'refer_at' and 'decline_at'")
    refer_at, decline_at = _cut_off(data["refer_at"], "refer_at"), _cut_off(data["decline_at"], "decline_at")
    if refer_at > decline_at:
        raise PolicyError(f"refer_at ({refer_at:g}) must not be above decline_at ({decline_at:g})")
    return DecisionPolicy(refer_at, decline_at)


def policy_from_bands(bands: Sequence[LabelBand]) -> DecisionPolicy:
    """The default policy: the lowest label band approves, the highest declines, any between refers."""
    if len(bands) < 2:
        return DecisionPolicy(1.0, 1.0)  # one band says nothing about risk: only a certain score declines
    return DecisionPolicy(float(bands[1]["min"]), float(bands[-1]["min"]))


def policy_get(stored: Mapping[str, JSON] | None, bands: Sequence[LabelBand]) -> DecisionPolicy:
    """A version's policy: the one stored with it, else the default from its label bands."""
    return policy_check(stored) if stored else policy_from_bands(bands)


# --- reasons ---------------------------------------------------------------------------------


class ReasonFamilyDict(TypedDict):
    code: str
    sentence: str
    features: list[str]


@dataclass(frozen=True)
class ReasonFamily:
    """Features that share one adverse-action reason: their drivers add up into it."""

    code: str
    sentence: str
    features: tuple[str, ...]

    def to_dict(self) -> ReasonFamilyDict:
        return {"code": self.code, "sentence": self.sentence, "features": list(self.features)}


class Reason(TypedDict):
    code: str
    sentence: str
    features: list[str]
    contribution: float  # the family's summed log-odds contribution (exact SHAP)


def default_sentence(spec: FeatureSpec) -> str:
    subject = spec.description.strip().rstrip(".") or spec.name.replace("_", " ").capitalize()
    return f"{subject}: the applicant's value raised the estimated risk."


def default_code(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")[:32] or "FEATURE"


def _family(item: object, index: int, known: set[str], protected: set[str]) -> ReasonFamily:
    where = f"reason {index + 1}"
    if not isinstance(item, Mapping) or set(item) - {"code", "sentence", "features"}:
        raise PolicyError(f"{where} must be an object with 'code', 'sentence' and 'features'")
    code, sentence, features = item.get("code"), item.get("sentence"), item.get("features")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise PolicyError(f"{where}: code must be 1-32 capital letters, digits, '_' or '-', got {code!r}")
    if not isinstance(sentence, str) or not sentence.strip() or len(sentence) > MAX_SENTENCE:
        raise PolicyError(f"{where} ({code}): sentence must be 1-{MAX_SENTENCE} characters")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise PolicyError(f"{where} ({code}): features must be a non-empty list of feature names")
    for name in features:
        if name in protected:
            raise PolicyError(f"{where} ({code}): {name!r} is a protected attribute and can never be a reason")
        if name not in known:
            raise PolicyError(f"{where} ({code}): {name!r} is not a feature of the model")
    return ReasonFamily(code, sentence.strip(), tuple(features))


def reason_table_build(
    schema: Sequence[FeatureSpec], table: object = None, *, protected: Sequence[str] = ()
) -> list[ReasonFamily]:
    """The complete reason table: the given families (``{"reasons": [...]}`` or the list itself),
    checked, then one family per feature they leave out, its sentence from the feature's description."""
    items = table.get("reasons") if isinstance(table, Mapping) else table
    if items is None:
        items = []
    if not isinstance(items, list):
        raise PolicyError("a reason table is a list of reasons (or an object with a 'reasons' list)")
    known, hidden = {spec.name for spec in schema}, set(protected)
    families = [_family(item, i, known, hidden) for i, item in enumerate(items)]
    seen: dict[str, str] = {}
    for family in families:
        for name in family.features:
            if name in seen:
                raise PolicyError(f"feature {name!r} is in two reasons, {seen[name]} and {family.code}")
            seen[name] = family.code
    codes = [family.code for family in families]
    for spec in schema:
        if spec.name not in seen:
            code = default_code(spec.name)
            while code in codes:
                code = f"{code[:28]}_{len(codes)}"
            codes.append(code)
            families.append(ReasonFamily(code, default_sentence(spec), (spec.name,)))
    if len(set(codes)) != len(codes):
        raise PolicyError("reason codes must be unique")
    return families


def reason_table_from_dicts(items: Sequence[ReasonFamilyDict]) -> list[ReasonFamily]:
    return [ReasonFamily(str(i["code"]), str(i["sentence"]), tuple(i["features"])) for i in items]


class ReasonCoder:
    """Picks a row's principal reasons from its drivers (contributions in schema order)."""

    def __init__(
        self, schema: Sequence[FeatureSpec], families: Sequence[ReasonFamily], protected: Sequence[str] = ()
    ) -> None:
        position = {spec.name: j for j, spec in enumerate(schema)}
        hidden = set(protected)
        # a family's columns; protected names and names the schema lacks never count
        kept = [
            (family, [position[name] for name in family.features if name in position and name not in hidden])
            for family in families
        ]
        kept = sorted(((family, columns) for family, columns in kept if columns), key=lambda pair: pair[0].code)
        self.families = [family for family, _ in kept]
        # families x features, 1 where a feature counts in a family: one product sums every family
        self.matrix = np.zeros((len(kept), len(schema)), dtype=np.float64)
        for i, (_, columns) in enumerate(kept):
            self.matrix[i, columns] = 1.0

    def reasons(self, contributions: np.ndarray | Sequence[float]) -> list[Reason]:
        """The families whose summed contribution raised the risk (> 0), largest first, ties by
        code, at most MAX_REASONS."""
        return self.reasons_many(np.asarray(contributions, dtype=np.float64)[None, :])[0]

    def reasons_many(self, contributions: np.ndarray) -> list[list[Reason]]:
        """:meth:`reasons` of every row of an (N, features) matrix, in one product."""
        totals = np.asarray(contributions, dtype=np.float64) @ self.matrix.T
        out: list[list[Reason]] = []
        for row in totals.tolist():
            # the families are in code order, and a stable sort keeps it among equal totals
            raising = sorted((i for i, total in enumerate(row) if total > 0), key=lambda i: -row[i])
            out.append(
                [
                    {
                        "code": self.families[i].code,
                        "sentence": self.families[i].sentence,
                        "features": list(self.families[i].features),
                        "contribution": row[i],
                    }
                    for i in raising[:MAX_REASONS]
                ]
            )
        return out
