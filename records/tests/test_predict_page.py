"""Each HTML view three ways: the htmx request gets a fragment, the plain one the full page, and a
user without access is redirected (or refused)."""

import pytest

FULL_PAGE = "<!DOCTYPE html>"


def _form(row):
    return {"model": "credit", **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in row.items()}}


def test_the_predict_page_full_and_fragment(client, staff_user, demo_model):
    client.force_login(staff_user)
    page = client.get("/").content.decode()
    assert page.startswith(FULL_PAGE) and 'id="predict-form"' in page and "htmx-2.0.8.min.js" in page
    assert '"X-CSRFToken"' in page  # the CSRF token travels in hx-headers on <body>
    fragment = client.get("/?model=credit", HTTP_HX_REQUEST="true").content.decode()
    assert not fragment.lstrip().startswith("<!DOCTYPE") and fragment.lstrip().startswith('<div id="workspace"')


def test_the_form_is_built_from_the_schema(client, staff_user, demo_model):
    client.force_login(staff_user)
    html = client.get("/").content.decode()
    assert (
        'id="f-duration_in_month" name="duration_in_month" type="number" inputmode="decimal" step="1" min="4" max="72"'
        in html
    )
    assert '<select id="f-purpose" name="purpose" required' in html
    assert "Requested loan duration, in months." in html  # help text from the description file
    assert html.count('<span class="sr-only">(required)</span>') == 18
    # the protected attributes are asked apart, optional
    protected = html[html.index('id="protected-fields"') :]
    assert '<select id="f-foreign_worker" name="foreign_worker"' in protected
    assert "never used for the score" in protected


def test_posting_the_form_scores_and_stores(client, staff_user, demo_model, embedder, german_credit_row):
    from records.models import Record

    client.force_login(staff_user)
    html = client.post("/", _form(german_credit_row), HTTP_HX_REQUEST="true").content.decode()
    record = Record.objects.get()
    assert record.created_by == staff_user and f"/records/{record.pk}/" in html
    assert 'id="risk-score"' in html and "driver-bar" in html


def test_try_without_saving_shows_the_same_result_and_stores_nothing(
    client, staff_user, demo_model, embedder, german_credit_row
):
    from records.models import Record

    client.force_login(staff_user)
    html = client.post("/", {**_form(german_credit_row), "dry_run": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="risk-score"' in html and 'id="dry-run"' in html and "driver-bar" in html
    assert not Record.objects.exists() and "/records/" not in html.split('id="result"')[1]
    saved = client.post("/", _form(german_credit_row), HTTP_HX_REQUEST="true").content.decode()
    score = Record.objects.get().risk_score
    assert f">{score:.3f}<" in saved and f">{score:.3f}<" in html  # the same score, saved or not


def test_the_application_reference_is_stored_as_the_subject_id(
    client, staff_user, demo_model, embedder, german_credit_row
):
    from records.models import Record

    client.force_login(staff_user)
    html = client.post("/", {**_form(german_credit_row), "subject_id": " LOAN-2026-0042 "}).content.decode()
    assert Record.objects.get().subject_id == "LOAN-2026-0042" and 'value="LOAN-2026-0042"' in html


def test_invalid_input_rerenders_with_errors_and_keeps_values(
    client, staff_user, demo_model, embedder, german_credit_row
):
    from records.models import Record

    client.force_login(staff_user)
    data = _form({**german_credit_row, "age_in_years": "abc", "purpose": ""})
    html = client.post("/", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="e-age_in_years"' in html and "Expected an integer, got &#x27;abc&#x27;." in html
    assert 'id="e-purpose"' in html and "This feature is required." in html
    assert 'value="1169"' in html and 'value="abc"' in html
    assert Record.objects.count() == 0


@pytest.mark.parametrize("url", ["/", "/models/", "/records/"])
def test_anonymous_users_are_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    htmx = client.get(url, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/", "/models/", "/records/"])
def test_non_staff_users_are_refused_not_looped_through_the_login(client, api_user, url):
    client.force_login(api_user)
    assert client.get(url).status_code == 403  # a redirect to the login page would send them straight back


def test_the_registry_page_full_and_fragment(client, staff_user, demo_model):
    client.force_login(staff_user)
    page = client.get("/models/").content.decode()
    assert page.startswith(FULL_PAGE) and "credit@1" in page and "calibration" in page
    fragment = client.get("/models/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="versions"')


def test_login_and_logout(client, staff_user):
    from conftest import PASSWORD

    page = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username"' in page and '<label for="id_password"' in page
    response = client.post("/accounts/login/", {"username": "staff", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("word", ["yes", "No"])
def test_the_form_takes_a_booleans_training_words(client, staff_user, demo_model, embedder, german_credit_row, word):
    from records.models import Record

    client.force_login(staff_user)
    data = {**_form(german_credit_row), "foreign_worker": word}
    html = client.post("/", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="risk-score"' in html, html[:2000]
    assert Record.objects.get().protected["foreign_worker"] is (word == "yes")
    assert "foreign_worker" not in Record.objects.get().features_json


def test_a_declined_case_shows_its_decision_and_reasons_and_a_printable_notice(
    client, staff_user, demo_model, embedder, declined_row
):
    from records.models import Record

    client.force_login(staff_user)
    data = {**_form(declined_row), "foreign_worker": "yes"}
    html = client.post("/", data, HTTP_HX_REQUEST="true").content.decode()
    record = Record.objects.get()
    assert record.decision == "decline" and record.protected == {"foreign_worker": True}
    assert 'id="decision"' in html and ">Decline</span>" in html
    sentences = [reason["sentence"] for reason in record.reasons]
    assert len(sentences) == 4 and all(sentence in html for sentence in sentences)
    notice_url = f"/records/{record.pk}/notice/"
    assert f'href="{notice_url}"' in html
    notice = client.get(notice_url).content.decode()
    assert "We are unable to approve this application" in notice
    assert all(sentence in notice for sentence in sentences)
    assert "foreign" not in notice.split('id="notice-reasons"')[1].split("</ol>")[0]  # never a protected value
    detail = client.get(f"/records/{record.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert ">Decline</span>" in detail and 'id="protected"' in detail and sentences[0] in detail


def test_an_approved_case_shows_no_reasons(client, staff_user, demo_model, embedder, german_credit_row):
    client.force_login(staff_user)
    html = client.post("/", _form(german_credit_row), HTTP_HX_REQUEST="true").content.decode()
    assert ">Approve</span>" in html and 'id="reasons"' not in html and "Reason notice" not in html


def test_a_bad_protected_value_on_the_form_is_named_and_nothing_is_stored(
    client, staff_user, demo_model, german_credit_row
):
    from records.models import Record

    client.force_login(staff_user)
    data = {**_form(german_credit_row), "personal_status_and_sex": "not a status"}
    html = client.post("/", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="e-personal_status_and_sex"' in html and "Unknown category" in html
    assert not Record.objects.exists()


def test_a_form_submission_is_validated_once(client, staff_user, demo_model, embedder, german_credit_row, monkeypatch):
    """The view used to validate the features itself and then again on the predict path."""
    from predictions.ml import features
    from records.models import Record

    calls = []
    for module in ("predictions.inference", "records.views"):
        for name in ("validate_features", "validate_protected"):
            original = getattr(features, name)

            def counted(*args, _name=name, _original=original, **kwargs):
                calls.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(f"{module}.{name}", counted)
    client.force_login(staff_user)
    data = {**_form(german_credit_row), "foreign_worker": "yes"}
    html = client.post("/", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="risk-score"' in html and Record.objects.count() == 1
    assert sorted(calls) == ["validate_features", "validate_protected"]
