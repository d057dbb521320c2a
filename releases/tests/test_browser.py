"""The release page in a real Chromium: an admin takes a version from validation to promotion."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from predictions.models import ModelVersion

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_console_errors"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


def _traffic(german_rows, n):
    from predictions.ml.features import decode_row, encode_frame
    from predictions.selectors import loaded_model_cache_clear, loaded_route_get
    from records.prediction import prediction_create

    loaded_model_cache_clear()
    route = loaded_route_get(name="credit")
    encoded = encode_frame(german_rows.drop(columns=["creditability"]), route.champion.schema)
    prediction_create(model=route, items=[decode_row(route.champion.schema, row) for row in encoded[:n]])


def test_an_admin_validates_shadows_canaries_and_promotes_a_version(
    page, live_server, admin_user, register, german_rows, embedder, shot
):
    candidate = register()
    page.goto(f"{live_server.url}/accounts/login/?next=/models/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/models/")
    page.get_by_role("link", name="Release: gates, shadow, canary →").click()
    page.wait_for_url(f"{live_server.url}/models/credit/")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text(f"{candidate.model_id} passed its gates.")).to_be_visible()
    expect(page.locator("#gates")).to_contain_text("auc_non_inferiority")
    page.get_by_label("Reason (recorded)").fill("watch it on live traffic")
    page.get_by_role("button", name="Shadow").click()
    expect(page.locator("#mode")).to_have_text("shadow")
    _traffic(german_rows, 40)  # each served record gets a shadow result
    page.reload()
    expect(page.locator("#shadow dd").first).to_have_text("40")
    shot(page, "release-shadow")
    page.get_by_label("Canary %").fill("25")
    page.get_by_label("Reason (recorded)").fill("gates passed; first applicants")
    page.get_by_role("button", name="Canary").click()
    expect(page.locator("#percent")).to_have_text("25 %")
    expect(page.locator("#canary")).to_be_visible()
    shot(page, "release-canary")
    page.get_by_label("Reason (recorded)").fill("healthy")
    page.get_by_role("button", name="Promote").click()
    expect(page.locator("#champion")).to_have_text(candidate.model_id)
    expect(page.locator("#timeline li")).to_have_count(4)
    shot(page, "release-timeline")
    assert ModelVersion.objects.get(pk=candidate.pk).status == "production"


def test_staff_see_the_release_but_no_steps(page, live_server, staff_user, demo_model, shot):
    page.goto(f"{live_server.url}/accounts/login/?next=/models/credit/")
    page.get_by_label("Username").fill(staff_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/models/credit/")
    expect(page.get_by_text("No release steps yet.")).to_be_visible()
    expect(page.get_by_role("button", name="Promote")).to_have_count(0)
    page.set_viewport_size({"width": 375, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the release page scrolls sideways by {overflow}px"
    shot(page, "release-mobile")
