from predictions.models import ModelVersion, Release
from releases.models import ReleaseEvent


def test_the_registry_links_each_name_to_its_release_page(client, staff_user, demo_model):
    client.force_login(staff_user)
    page = client.get("/models/").content.decode()
    assert 'href="/models/credit/"' in page and "promote-button" not in page


def test_the_release_page_full_and_fragment(client, staff_user, register):
    register()
    client.force_login(staff_user)
    page = client.get("/models/credit/").content.decode()
    assert "Release of credit" in page and "credit@1" in page and "Timeline" in page
    assert "release-promote" not in page  # staff who are not admins get no release buttons
    fragment = client.get("/models/credit/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="release"')
    assert client.get("/models/nope/").status_code == 404


def test_the_release_page_says_which_versions_wait_for_release(client, staff_user, register):
    candidate = register()
    client.force_login(staff_user)
    page = client.get("/models/credit/").content.decode()
    waiting = page.split('id="waiting"')[1].split("</section>")[0]
    assert "Waiting for release" in waiting and candidate.model_id in waiting and "not released yet" in waiting
    assert "credit@1" not in waiting  # the champion does not wait


def test_only_admins_take_release_steps_each_with_a_reason(client, staff_user, admin_user, register):
    candidate = register()
    url = "/models/credit/release/{}/"
    client.force_login(staff_user)
    assert client.post(url.format("validate"), {"model_id": candidate.model_id}).status_code == 403
    client.force_login(admin_user)
    html = client.post(url.format("validate"), {"model_id": candidate.model_id}, HTTP_HX_REQUEST="true")
    assert f"{candidate.model_id} passed its gates." in html.content.decode()
    html = client.post(url.format("shadow"), {"model_id": candidate.model_id}, HTTP_HX_REQUEST="true")
    assert "reason: Give a reason" in html.content.decode()
    assert not Release.objects.filter(mode="shadow").exists()
    html = client.post(
        url.format("shadow"), {"model_id": candidate.model_id, "reason": "watch"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f"{candidate.model_id} is in shadow." in html and 'id="shadow"' in html
    html = client.post(
        url.format("canary"), {"model_id": candidate.model_id, "percent": "25", "reason": "go"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "serves 25% of applicants" in html and 'id="canary"' in html
    plain = client.post(url.format("promote"), {"model_id": candidate.model_id, "reason": "healthy"})
    assert plain.status_code == 302 and plain["Location"] == "/models/credit/"
    assert ModelVersion.objects.get(pk=candidate.pk).status == "production"
    html = client.post(url.format("rollback"), {"reason": "back"}, HTTP_HX_REQUEST="true").content.decode()
    assert "credit@1 is the champion again." in html
    assert list(ReleaseEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "validate", "shadow", "canary", "promote", "rollback",
    ]  # fmt: skip
    assert client.post(url.format("explode"), {"reason": "x"}).status_code == 404


def test_a_refused_step_is_a_message_not_an_error(client, admin_user, register):
    weak = register(scramble=True)
    client.force_login(admin_user)
    html = client.post(
        "/models/credit/release/promote/", {"model_id": weak.model_id, "reason": "r"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "has not been validated" in html
    html = client.post(
        "/models/credit/release/shadow/", {"model_id": "other@1", "reason": "r"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "does not exist" in html


def test_failed_gates_are_an_error_banner_not_a_green_one(client, admin_user, register):
    weak = register(scramble=True)
    client.force_login(admin_user)
    html = client.post(
        "/models/credit/release/validate/", {"model_id": weak.model_id}, HTTP_HX_REQUEST="true"
    ).content.decode()
    [banner] = [line for line in html.splitlines() if "failed its gates" in line]
    assert "bg-rose-50" in banner and "bg-emerald-50" not in banner
