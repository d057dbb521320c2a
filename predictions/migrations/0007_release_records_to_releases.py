"""Validation and ReleaseEvent move to the releases app: the state only, the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0006_decisions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ReleaseEvent"),
                migrations.DeleteModel(name="Validation"),
            ],
            database_operations=[],
        ),
    ]
