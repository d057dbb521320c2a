"""Rate-limit counters skip the write-ahead log.

Each API request increments one counter, and a committed write to a logged table waits for a WAL
flush. Losing counts in a crash is harmless (a window restarts from zero), so the table is
UNLOGGED: its writes need no WAL flush, and it is not copied to replicas, which never throttle.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE accounts_throttlecounter SET UNLOGGED",
            reverse_sql="ALTER TABLE accounts_throttlecounter SET LOGGED",
        )
    ]
