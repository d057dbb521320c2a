"""Write the local ``.env`` once: debug on and random keys, so every ``manage.py`` command of the
README works in a new shell. An existing file is never touched. Standard library only: it runs
before anything else is set up.

    python -m core.local_env [PATH]   (default: .env in the project root)
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

TEMPLATE = """\
# Written once by `make run` for local development; it is never overwritten (delete it for new keys).
# Real environment variables win over these. Production does not use this file: see .env.example.
DEBUG=1
SECRET_KEY={secret_key}
JWT_SIGNING_KEY={jwt_signing_key}
"""


def write_local_env(path: Path) -> bool:
    """Create ``path`` with fresh keys unless it exists. Returns whether it was written."""
    if path.exists():
        return False
    text = TEMPLATE.format(secret_key=secrets.token_urlsafe(50), jwt_signing_key=secrets.token_urlsafe(50))
    with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite, even in a race
        handle.write(text)
    path.chmod(0o600)
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / ".env"
    if write_local_env(path):
        sys.stdout.write(f"wrote {path} (debug on, random keys)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
