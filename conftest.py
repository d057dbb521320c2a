"""Shared fixtures: the users (staff, API client, admin) and API clients.

Later fixtures (the registered demo model) build on these.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - test users only


def _make_user(username: str, *, is_staff: bool = False, is_superuser: bool = False) -> AbstractUser:
    user: AbstractUser = get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=is_staff, is_superuser=is_superuser
    )
    return user


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """A ``replica`` alias mirroring the test database, for the read-replica router's tests.

    The router uses it only where a test also sets ``DATABASE_REPLICA_URL``
    (riskengine/tests/test_replica_router.py); everywhere else it stays unused.
    """
    from django.conf import settings

    default: dict[str, Any] = settings.DATABASES["default"]
    test: dict[str, Any] = {**default.get("TEST", {}), "MIRROR": "default"}
    settings.DATABASES.setdefault("replica", {**default, "TEST": test})


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Test users hash their passwords with a cheap hasher: production's PBKDF2 (a million rounds)
    costs half a second a user and a login, which the tests would pay hundreds of times. Processes
    the tests start (the README's commands, servers) keep the real one."""
    from django.test.utils import override_settings

    # PBKDF2 stays second: users made by a subprocess (the README's createsuperuser) still log in.
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    with override_settings(PASSWORD_HASHERS=hashers):
        yield


@pytest.fixture(autouse=True)
def _no_leftover_rate_limit_leases():
    """Each test starts with no leased admissions (the counters they came from were rolled back)."""
    from accounts.throttling import leases

    leases.clear()


@pytest.fixture
def staff_user(db) -> AbstractUser:
    return _make_user("staff", is_staff=True)


@pytest.fixture
def admin_user(db) -> AbstractUser:
    return _make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def risk_manager(db) -> AbstractUser:
    """A staff user in the ``risk manager`` group (accounts/roles.py; a transactional test's flush
    empties the table its migration filled)."""
    from django.contrib.auth.models import Group

    from accounts.roles import RISK_MANAGER

    user = _make_user("risk-manager", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=RISK_MANAGER)[0])
    return user


@pytest.fixture
def api_user(db) -> AbstractUser:
    """A non-staff API client (a service account)."""
    return _make_user("service")


@pytest.fixture
def other_api_user(db) -> AbstractUser:
    return _make_user("other-service")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def german_credit_trained():
    """The demo model, trained once per test session (deterministic)."""
    import json
    from pathlib import Path

    from django.conf import settings

    from predictions.ml.training import file_sha256, read_training_csv, train
    from predictions.services import DEMO_PROTECTED

    csv = Path(settings.BASE_DIR) / "data" / "german_credit.csv"
    descriptions = json.loads((csv.parent / "german_credit.descriptions.json").read_text())
    return train(
        read_training_csv(csv),
        target="creditability",
        positive="bad",
        algorithm="logistic",
        protected=DEMO_PROTECTED,
        descriptions=descriptions,
        training_sha256=file_sha256(csv),
    )


@pytest.fixture(scope="session")
def german_credit_reasons():
    """The demo's reason table (data/german_credit.reasons.json)."""
    import json
    from pathlib import Path

    from django.conf import settings

    return json.loads((Path(settings.BASE_DIR) / "data" / "german_credit.reasons.json").read_text())


_DEMO_COLUMNS: dict[str, Any] = {}  # the demo version's columns as the registry wrote them, per process


@pytest.fixture
def demo_model(db, german_credit_trained, german_credit_reasons):
    """The registered, production demo model ``credit`` (protected: personal_status_and_sex and
    foreign_worker), as ``make run`` registers it. The first test of a process registers it through
    the registry; later ones store the same columns again (the artifact, profile and tables are
    deterministic), which spares each test the half second of serialising and profiling."""
    from predictions.models import ModelVersion
    from predictions.selectors import loaded_model_cache_clear
    from predictions.services import model_version_promote, model_version_register

    loaded_model_cache_clear()
    if _DEMO_COLUMNS:
        version = ModelVersion.objects.create(**_DEMO_COLUMNS)
    else:
        version = model_version_register(trained=german_credit_trained, name="credit", reasons=german_credit_reasons)
        skipped = {"id", "created_at", "created_by_id", "promoted_at"}
        _DEMO_COLUMNS.update(
            {
                f.attname: getattr(version, f.attname)
                for f in ModelVersion._meta.concrete_fields
                if f.attname not in skipped
            }
        )
    yield model_version_promote(model_version=version)
    loaded_model_cache_clear()


@pytest.fixture
def test_database_url(db) -> str:
    """A DATABASE_URL for the test database, for subprocesses (commands, servers) that share it."""
    from django.db import connection

    settings_dict = connection.settings_dict
    host = settings_dict["HOST"] or settings_dict.get("OPTIONS", {}).get("host", "")
    port = settings_dict.get("PORT") or ""
    password = settings_dict.get("PASSWORD") or ""
    where = "" if host.startswith("/") else host
    netloc = f"{settings_dict['USER']}:{password}@{where}{':' + str(port) if port else ''}"
    return f"postgresql://{netloc}/{settings_dict['NAME']}" + (f"?host={host}" if host.startswith("/") else "")


@pytest.fixture
def german_credit_row():
    """One valid feature dict for the demo model (the first applicant of the data set)."""
    from predictions.api_docs import EXAMPLE_FEATURES

    return dict(EXAMPLE_FEATURES)


@pytest.fixture
def declined_row():
    """An applicant of the data set (row 5) the demo model declines, with four principal reasons."""
    return {
        "status_of_existing_checking_account": "... < 0 DM", "duration_in_month": 24,
        "credit_history": "delay in paying off in the past", "purpose": "car (new)", "credit_amount": 4870,
        "savings_account_and_bonds": "... < 100 DM", "present_employment_since": "1 <= ... < 4 years",
        "installment_rate_in_percentage_of_disposable_income": 3, "other_debtors_or_guarantors": "none",
        "present_residence_since": 4, "property": "unknown / no property", "age_in_years": 53,
        "other_installment_plans": "none", "housing": "for free", "number_of_existing_credits_at_this_bank": 2,
        "job": "skilled employee / official", "number_of_people_being_liable_to_provide_maintenance_for": 2,
        "telephone": "none",
    }  # fmt: skip


@pytest.fixture
def german_credit_protected():
    """That applicant's protected attributes."""
    from predictions.api_docs import EXAMPLE_PROTECTED

    return dict(EXAMPLE_PROTECTED)


@pytest.fixture(scope="session")
def embedder():
    """The real embedding model (exported to ONNX once, then cached under RISKENGINE_DATA_DIR)."""
    from predictions.embedding_runtime import embedder_get

    return embedder_get()


@pytest.fixture
def api_key(db):
    """(ApiKey, plain key) for a service client."""
    from accounts.services import api_key_create

    return api_key_create(name="scoring-service")


@pytest.fixture
def jwt_client(api_client, api_user, embedder, demo_model):
    """An API client authenticated with a real JWT obtained from /api/token/."""
    response = api_client.post("/api/token/", {"username": api_user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return api_client


# --- browser tests (pytest-playwright driving Debian's Chromium) -------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def shot():
    """shot(page, name): a full-page screenshot under test-artifacts/."""
    from pathlib import Path

    artifacts = Path(__file__).resolve().parent / "test-artifacts"
    artifacts.mkdir(exist_ok=True)

    def take(page, name):
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def no_console_errors(page):
    """Any console error (a CSP violation is one), failed request or uncaught exception fails the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on(
        "response",
        lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield
    assert not errors, errors


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def german_rows():
    from django.conf import settings

    from predictions.ml.training import read_training_csv

    return read_training_csv(settings.BASE_DIR / "data" / "german_credit.csv")


@pytest.fixture
def make_records(demo_model, embedder, german_credit_trained, german_rows):
    """make_records(n, user=..., start=0): store n real predictions, one hour apart, newest last."""
    from datetime import timedelta

    from django.utils import timezone

    from predictions.ml.features import decode_row, encode_frame
    from predictions.selectors import loaded_model_get
    from records.models import Record
    from records.prediction import prediction_create

    schema = german_credit_trained.schema
    encoded = encode_frame(german_rows.drop(columns=["creditability"]), schema)

    def make(n, *, user=None, start=0, model_name="credit"):
        model = loaded_model_get(name=model_name)
        items = [decode_row(schema, encoded[(start + i) % len(encoded)]) for i in range(n)]
        created = prediction_create(model=model, items=items, created_by=user)
        base = timezone.now() - timedelta(hours=n + start)
        for i, record in enumerate(created):
            Record.objects.filter(pk=record.pk).update(timestamp=base + timedelta(hours=i))
        return list(Record.objects.filter(pk__in=[record.pk for record in created]).order_by("timestamp"))

    return make


def pytest_collection_modifyitems(config, items):
    """Every test that drives a browser is marked ``browser`` (so ``make test-fast`` leaves it out):
    a browser test without the mark fails the collection."""
    unmarked = [item.nodeid for item in items if "page" in item.fixturenames and not item.get_closest_marker("browser")]
    if unmarked:
        raise pytest.UsageError(f"browser tests without @pytest.mark.browser: {', '.join(unmarked)}")
