def test_records_are_read_only_and_searchable_by_id_or_request_id(client, admin_user, make_records):
    from records.models import Record

    records = make_records(3)
    Record.objects.filter(pk=records[1].pk).update(request_id="trace-abc-123")
    client.force_login(admin_user)
    listing = client.get("/admin/records/record/")
    assert listing.status_code == 200
    by_request = client.get("/admin/records/record/", {"q": "trace-abc-123"}).content.decode()
    assert str(records[1].pk) in by_request and str(records[0].pk) not in by_request
    by_id = client.get("/admin/records/record/", {"q": str(records[2].pk)}).content.decode()
    assert str(records[2].pk) in by_id and str(records[1].pk) not in by_id
    detail = client.get(f"/admin/records/record/{records[0].pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/records/record/add/").status_code == 403


def test_the_admin_list_never_counts_the_table(client, admin_user, make_records, django_assert_max_num_queries):
    make_records(3)
    client.force_login(admin_user)
    with django_assert_max_num_queries(12) as queries:
        client.get("/admin/records/record/", {"risk_label": "low"})
    assert not any("COUNT(*)" in q["sql"].upper() and "records_record" in q["sql"] for q in queries.captured_queries)
