"""Test data the tests make themselves: mixed-type CSVs with missing values and a categorical target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make_loans_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 15_000, rows).round(2)
    age = rng.integers(18, 80, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    has_guarantor = rng.choice(["yes", "no"], rows)
    utilisation = rng.uniform(0, 1, rows).round(4)
    logit = (
        -1.0
        - (income - 50_000) / 20_000
        + 2.5 * (utilisation - 0.5)
        + np.where(region == "south", 0.8, 0.0)
        - np.where(has_guarantor == "yes", 0.7, 0.0)
        + (age < 25) * 0.5
    )
    default = rng.uniform(0, 1, rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "income": income,
            "age": age,
            "region": region,
            "has_guarantor": has_guarantor,
            "utilisation": utilisation,
            "status": np.where(default, "default", "repaid"),
        }
    )
    # missing values in a numeric and a categorical column
    frame.loc[rng.choice(rows, rows // 20, replace=False), "income"] = np.nan
    frame.loc[rng.choice(rows, rows // 25, replace=False), "region"] = np.nan
    return frame


def write_loans_csv(path: Path, rows: int = 400, seed: int = 0) -> Path:
    make_loans_frame(rows, seed).to_csv(path, index=False)
    return path
