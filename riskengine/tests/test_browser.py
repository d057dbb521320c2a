"""End-to-end: a real Chromium (Debian's) driven by Playwright against live_server."""

import os
import re

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


@pytest.fixture(autouse=True)
def no_csp_violations(page):
    """htmx and the pages must work under the Content Security Policy: no violation may be logged."""
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    yield
    assert not [m for m in messages if "Content Security Policy" in m], messages


@pytest.fixture
def logged_in(page, live_server, staff_user, demo_model, embedder):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url  # anonymous users are sent to the login page
    page.get_by_label("Username").fill(staff_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


def _fill_predict_form(page, row):
    for name, value in row.items():
        field = page.locator(f"#f-{name}")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(str(value).lower() if isinstance(value, bool) else str(value))
        else:
            field.fill(str(value))


def test_login_predict_and_see_score_label_drivers_and_similar_cases(logged_in, german_credit_row, shot):
    page = logged_in
    shot(page, "login-then-predict-empty")
    _fill_predict_form(page, german_credit_row)
    page.get_by_role("button", name="Score").click()
    page.wait_for_selector("#risk-score")
    score = float(page.locator("#risk-score").inner_text())
    assert 0 < score < 1
    assert page.locator("#result .label-badge").inner_text() in {"low", "medium", "high"}
    assert page.locator("#result .driver-bar").count() >= 10
    assert page.locator("#result").get_by_text("credit@1").count() >= 1
    # a second, different case: the first one is now among its similar past records
    page.locator("#f-age_in_years").fill("30")
    page.get_by_role("button", name="Score").click()
    expect(page.locator("#result tbody tr")).to_have_count(1)
    shot(page, "predict-result")


@pytest.mark.usefixtures("no_console_errors")
def test_a_declined_case_shows_the_decision_and_its_reasons_in_plain_sentences(
    logged_in, live_server, declined_row, shot
):
    from records.models import Record

    page = logged_in
    _fill_predict_form(page, {**declined_row, "personal_status_and_sex": "male : single", "foreign_worker": True})
    page.get_by_role("button", name="Score").click()
    expect(page.locator("#decision")).to_have_text("Decline")
    reasons = page.locator("#reasons li .reason-sentence")
    expect(reasons).to_have_count(4)
    record = Record.objects.get()
    assert reasons.all_inner_texts() == [reason["sentence"] for reason in record.reasons]
    assert reasons.first.inner_text() == "Savings, bonds or property insufficient."
    assert record.protected == {"personal_status_and_sex": "male : single", "foreign_worker": True}
    page.locator("#reasons").scroll_into_view_if_needed()
    shot(page, "predict-declined-reasons")
    page.get_by_role("link", name="Reason notice (printable)").click()
    page.wait_for_url(f"{live_server.url}/records/{record.pk}/notice/")
    expect(page.locator("#notice-reasons li")).to_have_count(4)
    expect(page.locator("#notice")).to_contain_text("We are unable to approve this application")
    shot(page, "reason-notice")


def test_a_bad_value_shows_the_fields_error_and_keeps_the_values(logged_in, german_credit_row, shot):
    page = logged_in
    _fill_predict_form(page, {**german_credit_row, "credit_amount": 999999999})
    page.get_by_role("button", name="Score").click()
    error = page.locator("#e-credit_amount")
    error.wait_for()
    assert "far outside the range" in error.inner_text()
    assert page.locator("#f-age_in_years").input_value() == "67"
    assert page.locator("#f-credit_amount").get_attribute("aria-invalid") == "true"
    shot(page, "predict-error")


def test_filtering_the_dashboard_narrows_rows_and_changes_the_url(logged_in, live_server, make_records, shot):
    records = make_records(12)
    page = logged_in
    page.goto(f"{live_server.url}/records/")
    assert page.locator(".record-row").count() == 12
    shot(page, "dashboard")
    high = sum(1 for r in records if r.risk_label == "high")
    page.get_by_label("high").check()
    page.wait_for_url(re.compile(r"risk_label=high"))
    expect(page.locator(".record-row")).to_have_count(high)
    page.reload()
    assert page.get_by_label("high").is_checked()
    assert page.locator(".record-row").count() == high


def test_the_detail_modal_sets_an_outcome_and_closes_with_escape(logged_in, live_server, make_records, shot):
    records = make_records(6)
    page = logged_in
    page.goto(f"{live_server.url}/records/")
    page.locator(".record-row a").first.click()
    dialog = page.locator("#modal")
    dialog.locator("#record-detail").wait_for()
    assert dialog.is_visible()
    assert dialog.locator("#similar tbody tr").count() == 5
    dialog.locator("#k-select").select_option("10")
    expect(page.locator("#similar tbody tr")).to_have_count(5)  # only 5 others exist
    shot(page, "record-modal")
    dialog.get_by_role("button", name="It happened").click()
    page.wait_for_selector("#record-detail >> text=set by")
    from records.models import Record

    newest = max(records, key=lambda r: r.timestamp)
    assert Record.objects.get(pk=newest.pk).outcome is True
    for _ in range(12):  # Tab cycles inside the dialog
        page.keyboard.press("Tab")
        expect(page.locator("#modal :focus")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#modal")).not_to_have_attribute("open", "")


def test_pages_stay_usable_at_375px(logged_in, live_server, make_records, shot):
    make_records(3)
    page = logged_in
    page.set_viewport_size({"width": 375, "height": 800})
    for path, name in (("/", "predict-mobile"), ("/records/", "dashboard-mobile"), ("/models/", "models-mobile")):
        page.goto(f"{live_server.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px"
        shot(page, name)
