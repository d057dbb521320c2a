"""House rules as checks: what a review would otherwise have to catch by eye."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Every package the import contract knows, so that a new app or package cannot fall outside the rules.
PACKAGES = tuple(PYPROJECT["tool"]["importlinter"]["root_packages"])
MAX_FUNCTION_LINES = 50


def local_apps() -> list[str]:
    """The project's own apps, from INSTALLED_APPS."""
    return [config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT]


def _project_modules() -> list[Path]:
    top_level = [path for path in sorted(ROOT.glob("*.py")) if path.name != "conftest.py"]  # gunicorn.conf.py ...
    return top_level + [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "tests" not in path.parts and "migrations" not in path.parts and "node_modules" not in path.parts
    ]


def test_every_app_is_in_the_layers_the_type_check_and_the_test_paths() -> None:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    [layers] = [contract["layers"] for contract in contracts if contract["type"] == "layers"]
    mypy_files = PYPROJECT["tool"]["mypy"]["files"]
    testpaths = PYPROJECT["tool"]["pytest"]["ini_options"]["testpaths"]
    own = [app for app in local_apps() if app != "theme"]  # theme: django-tailwind's CSS build, no Python
    assert own and "releases" in own
    assert [app for app in own if app not in layers or app not in mypy_files or app not in testpaths] == []
    assert set(local_apps()) <= set(PACKAGES)


def test_the_architecture_doc_names_every_app() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert [app for app in local_apps() if app != "theme" and f"`{app}`" not in doc] == []


def test_gunicorn_reads_the_environment_through_core_env() -> None:
    source = (ROOT / "gunicorn.conf.py").read_text()
    assert "from core.env import env" in source
    assert not re.search(r"os\.environ(\.get)?\(|os\.environ\[[^]]+\](?!\s*=)|os\.getenv", source)


def _numba_kernels(source: str) -> set[str]:
    """Functions the module compiles with numba (``numba.njit(...)(name)``): kept whole for speed."""
    return set(re.findall(r"numba\.njit\([^)]*\)\((\w+)\)", source))


def long_functions(path: Path) -> list[str]:
    source = path.read_text()
    kernels = _numba_kernels(source)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in kernels:
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_over_50_lines_outside_numba_kernels() -> None:
    assert [found for path in _project_modules() for found in long_functions(path)] == []


def test_the_length_check_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    module = tmp_path / "probe.py"
    module.write_text(f"def too_long():\n{body}\n\n\ndef kernel():\n{body}\n\n\nkernel = numba.njit()(kernel)\n")
    assert [line.split()[1] for line in long_functions(module)] == ["too_long"]


def test_no_module_unpickles() -> None:
    """Model artifacts are skops with an allowlist; pickle and joblib run code from the file."""
    imports = re.compile(r"^\s*(import|from)\s+(pickle|joblib|cloudpickle|dill)\b", re.MULTILINE)
    loads = re.compile(r"pickle\.loads?\(|joblib\.load\(")
    # The one exception to the imports: the peer benchmark writes MLServer's own model format, in
    # .venv-peers, and never reads it back (MLServer does, in its own process).
    peers = {"bench/peers.py"}
    found = []
    for path in _project_modules():
        name, text = str(path.relative_to(ROOT)), path.read_text()
        if loads.search(text) or (imports.search(text) and name not in peers):
            found.append(name)
    assert found == []


def test_every_type_ignore_says_why() -> None:
    """A targeted ``# type: ignore[code]`` followed by ``# reason`` on the same line."""
    ignore = re.compile(r"#\s*type:\s*ignore(?!\[[-a-z_, ]+\]\s+#\s*\S)")
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _project_modules()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ignore.search(line)
    ]
    assert bare == []
