"""Types the whole project shares: JSON as stored and sent, and an applicant's row of values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias, Union

# JSON as Python holds it after json.loads (or before json.dumps); a recursive alias needs Union.
JSON: TypeAlias = Union[str, int, float, bool, list["JSON"], dict[str, "JSON"], None]  # noqa: UP007
JSONObject: TypeAlias = dict[str, JSON]

# One applicant's values, by feature (or protected attribute) name, as a request gives them.
FeatureValue: TypeAlias = str | int | float | bool | None
FeatureRow: TypeAlias = dict[str, FeatureValue]


def json_object(values: Mapping[str, JSON]) -> JSONObject:
    """A copy of a mapping of JSON values (a FeatureRow, say) as a JSON object."""
    return dict(values)
