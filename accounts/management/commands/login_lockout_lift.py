from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from accounts.login_limits import login_lockout_lift
from core.commands import Options


class Command(BaseCommand):
    help = (
        "Lift USERNAME's lock-out: the failed-login ceiling that refuses it from every address for up to 15 "
        "minutes after many wrong passwords (docs/operations.md, login limits)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: str, **raw: object) -> None:
        username = Options(raw).text("username")
        cleared = login_lockout_lift(username=username)
        self.stdout.write(f"{username}: lock-out lifted ({cleared} counter(s) cleared)\n")
