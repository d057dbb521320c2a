"""Each HTML view three ways: htmx fragment, full page, and refused for users without access."""

import pytest

from records.models import Record


def test_the_dashboard_full_page_and_fragment(client, staff_user, make_records):
    make_records(4)
    client.force_login(staff_user)
    page = client.get("/records/").content.decode()
    assert page.startswith("<!DOCTYPE html>") and 'id="filters"' in page and page.count("record-row") == 4
    fragment = client.get("/records/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="results"') and 'id="filters"' not in fragment


def test_filters_work_as_a_plain_get_form(client, staff_user, make_records):
    records = make_records(10)
    client.force_login(staff_user)
    html = client.get("/records/", {"risk_label": "low"}).content.decode()
    assert html.count("record-row") == sum(1 for r in records if r.risk_label == "low")
    assert 'value="low" checked' in html


def test_staff_find_a_case_by_its_reference_and_see_it_on_the_record(client, staff_user, make_records):
    first, _ = make_records(2)
    Record.objects.filter(pk=first.pk).update(subject_id="application-17")
    client.force_login(staff_user)
    html = client.get("/records/", {"find": "application-17"}).content.decode()
    assert html.count("record-row") == 1 and 'value="application-17"' in html
    assert "application-17" in client.get(f"/records/{first.pk}/").content.decode()


def test_the_decision_is_a_column_and_a_filter(client, staff_user, make_records):
    records = make_records(12)
    client.force_login(staff_user)
    declined = sum(1 for r in records if r.decision == "decline")
    assert 0 < declined < 12
    html = client.get("/records/", {"decision": "decline"}).content.decode()
    assert (
        html.count("record-row") == declined and html.count('record-decision px-3 py-2 text-sm">decline<') == declined
    )
    both = client.get("/records/?decision=decline&decision=refer").content.decode()
    assert both.count("record-row") == sum(1 for r in records if r.decision in ("decline", "refer"))
    assert 'name="decision" value="refer" checked' in both


def test_dates_from_the_date_inputs_cover_whole_days(client, staff_user, make_records):
    records = make_records(3)
    day = records[-1].timestamp.date().isoformat()
    client.force_login(staff_user)
    html = client.get("/records/", {"created_after": day, "created_before": day}).content.decode()
    assert html.count("record-row") == sum(1 for r in records if r.timestamp.date().isoformat() == day)


def test_bad_filters_are_reported_not_crashed(client, staff_user, make_records):
    make_records(2)
    client.force_login(staff_user)
    response = client.get("/records/", {"score_min": "lots"})
    assert response.status_code == 200 and "score_min" in response.content.decode()


def test_paging_and_sorting_links(client, staff_user, make_records):
    make_records(30)
    client.force_login(staff_user)
    html = client.get("/records/", {"ordering": "-risk_score"}).content.decode()
    assert html.count("record-row") == 25 and "Older →" in html and "cursor=" in html
    scores = [r.risk_score for r in Record.objects.order_by("-risk_score")[:25]]
    assert html.index(f"{scores[0]:.3f}") < html.index(f"{scores[24]:.3f}")


def test_the_detail_modal_fragment_full_page_and_similar(client, staff_user, make_records):
    records = make_records(8)
    client.force_login(staff_user)
    target = records[0]
    fragment = client.get(f"/records/{target.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="record-detail"') and "It happened" in fragment
    page = client.get(f"/records/{target.pk}/").content.decode()
    assert page.startswith("<!DOCTYPE html>") and 'id="record-detail"' in page
    similar = client.get(f"/records/{target.pk}/similar/", {"k": 5}, HTTP_HX_REQUEST="true").content.decode()
    assert similar.lstrip().startswith('<section id="similar"') and similar.count("<tr>") == 6  # header + 5


def test_outcome_buttons_set_the_outcome(client, staff_user, make_records):
    record = make_records(1)[0]
    client.force_login(staff_user)
    html = client.post(f"/records/{record.pk}/outcome/", {"outcome": "false"}, HTTP_HX_REQUEST="true").content.decode()
    assert "did not happen" in html and "set by staff" in html
    assert Record.objects.get(pk=record.pk).outcome is False


@pytest.mark.parametrize("suffix", ["", "similar/", "notice/"])
def test_record_pages_refuse_users_without_access(client, api_user, make_records, suffix):
    record = make_records(1)[0]
    assert client.get(f"/records/{record.pk}/{suffix}").status_code == 302  # anonymous
    client.force_login(api_user)
    assert client.get(f"/records/{record.pk}/{suffix}").status_code == 403  # not staff (no login loop)
    assert client.post(f"/records/{record.pk}/outcome/", {"outcome": "true"}).status_code == 403
    assert Record.objects.get(pk=record.pk).outcome is None


def test_an_unknown_record_is_a_404(client, staff_user, db):
    client.force_login(staff_user)
    assert client.get("/records/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/records/00000000-0000-0000-0000-000000000000/notice/").status_code == 404
    assert client.get("/records/not-a-uuid/notice/").status_code == 404


@pytest.mark.parametrize("value", [None, "", "maybe"])
def test_a_bad_outcome_value_is_a_400_and_changes_nothing(client, staff_user, make_records, value):
    record = make_records(1)[0]
    client.force_login(staff_user)
    data = {} if value is None else {"outcome": value}
    assert client.post(f"/records/{record.pk}/outcome/", data, HTTP_HX_REQUEST="true").status_code == 400
    assert Record.objects.get(pk=record.pk).outcome is None


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00Z"])
def test_dates_outside_the_supported_years_are_reported_not_crashed(client, staff_user, make_records, value):
    make_records(2)
    client.force_login(staff_user)
    for key in ("created_before", "created_after"):
        response = client.get("/records/", {key: value})
        assert response.status_code == 200
        assert "1900 to 2999" in response.content.decode()
