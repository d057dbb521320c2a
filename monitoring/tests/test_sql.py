"""The record columns monitoring's SQL names exist on ``Record``: a renamed field fails here, not in
a query at run time (the tables themselves come from the models' ``_meta``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from records.models import Record

MONITORING = Path(__file__).resolve().parent.parent
SQL_MODULES = [
    MONITORING / "sql.py",
    MONITORING / "binning.py",
    *sorted((MONITORING / "services").glob("*.py")),
    *sorted((MONITORING / "selectors").glob("*.py")),
]


def _strings(path: Path) -> list[str]:
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_every_record_column_the_sql_names_exists():
    columns = {field.column for field in Record._meta.concrete_fields}
    named = {
        (path.name, column)
        for path in SQL_MODULES
        for text in _strings(path)
        for column in re.findall(r"\br\.([a-z_]+)\b", text)
    }
    assert {column for _, column in named} >= {"timestamp", "stored_at", "risk_score", "protected", "decision"}
    assert [(name, column) for name, column in sorted(named) if column not in columns] == []


def test_no_sql_names_a_table_in_a_string():
    tables = {model._meta.db_table for model in Record._meta.apps.get_models()}
    found = [
        (path.name, table)
        for path in SQL_MODULES
        for text in _strings(path)
        for table in tables
        if re.search(rf"\b{table}\b", text)
    ]
    assert found == []
