"""python manage.py create_staff_user USERNAME [--role ROLE ...]: a staff user for the web pages (no
admin rights), asked for a password twice; with --noinput the password comes from
RISKENGINE_PASSWORD, as createsuperuser's comes from DJANGO_SUPERUSER_PASSWORD."""

from __future__ import annotations

import getpass
import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import ROLES
from accounts.services import staff_user_create
from core.commands import Options
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a staff user (the web pages, no admin rights), optionally in roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", action="append", default=[], choices=ROLES, help="a role group (repeatable)")
        parser.add_argument("--noinput", action="store_true", help="read the password from RISKENGINE_PASSWORD")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        username = options.text("username").strip()
        if not username or len(username) > 150:
            raise CommandError("USERNAME must be 1 to 150 characters")
        password = self._password(username, noinput=options.flag("noinput"))
        roles = raw.get("role") or []
        assert isinstance(roles, list)
        try:
            staff_user_create(username=username, password=password, roles=[str(r) for r in roles])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"staff user {username} created" + (f" ({', '.join(roles)})" if roles else "") + "\n")

    def _password(self, username: str, *, noinput: bool) -> str:
        if noinput:
            password = os.environ.get("RISKENGINE_PASSWORD", "")
            if not password:
                raise CommandError("--noinput needs the password in RISKENGINE_PASSWORD")
            return password
        password = getpass.getpass(f"Password for {username}: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("the two passwords differ")
        return password
