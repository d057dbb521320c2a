"""Every command block of the README works pasted, as written, into a new shell after `make run`.

Each ``sh`` block runs in bash (``-euo pipefail``) under a terminal, with no variables set but
``PATH`` and ``HOME``, plus two that point it at this test's database and live server instead of the
developer's (``DATABASE_URL``, ``RISKENGINE_URL``). Prompts (createsuperuser's, the password
``read``) are answered as a user would. Blocks of ``make`` targets are what CI itself runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "Readme-check-7391-horse"
ANSWERS = [
    (r"Username[^:]*: ", "rita"),  # any username: no block may assume "admin"
    (r"Email address: ", "rita@example.com"),
    (r"Password[^:]*: ", ADMIN_PASSWORD),
]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    return [block for block in blocks if not all(line.startswith("make ") for line in block.strip().splitlines())]


def _run(block: str, env: dict[str, str]) -> tuple[int, str]:
    child = pexpect.spawn(
        "bash", ["-euo", "pipefail", "-c", block], cwd=str(ROOT), env=env, encoding="utf-8", timeout=600
    )
    patterns = [pattern for pattern, _ in ANSWERS]
    while True:
        index = child.expect([*patterns, pexpect.EOF])
        if index == len(patterns):
            break
        child.sendline(ANSWERS[index][1])
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)), str(child.before)


def test_the_readme_has_the_commands_a_newcomer_needs():
    commands = " ".join(readme_blocks())
    for command in (
        "createsuperuser",
        "create_staff_user",
        "train_model",
        "model_validate",
        "model_promote",
        "backfill_records",
        "create_api_key",
    ):
        assert f".venv/bin/python manage.py {command}" in commands


def test_every_readme_command_works_in_a_new_shell(live_server, test_database_url, embedder):
    # what `make run` does first: write the local .env (never overwriting one), then bootstrap
    subprocess.run([sys.executable, "-m", "core.local_env", str(ROOT / ".env")], check=True, cwd=ROOT)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "TERM": "dumb",
        "DATABASE_URL": test_database_url,
        "RISKENGINE_URL": live_server.url,
    }
    status, output = _run(".venv/bin/python manage.py bootstrap", env)
    assert status == 0, output[-3000:]
    outputs = []
    for block in readme_blocks():
        status, output = _run(block, env)
        assert status == 0, f"README block failed:\n{block}\n---\n{output[-3000:]}"
        assert "Traceback" not in output and '"error"' not in output, f"{block}\n---\n{output[-3000:]}"
        outputs.append(output)
    everything = "\n".join(outputs)
    assert '"risk_score"' in everything  # the curl prediction with the API key
    assert '"results"' in everything  # the records listed with the JWT
    assert "inserted 1000" in everything  # the backfill
