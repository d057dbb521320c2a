"""The release page of a model name: timeline, split, gates, shadow report, canary comparison, and
the release steps (superusers, each with a reason)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.web import HtmxHttpRequest, staff_required
from predictions.models import ModelVersion, Release
from predictions.selectors import ModelNotFound, model_version_get, model_version_list
from releases import selectors, services
from releases.charts import split_bar
from releases.forms import ACTIONS, ReleaseActionForm, ReleaseStep


def _context(request: HtmxHttpRequest, name: str) -> dict[str, object]:
    try:
        state = selectors.release_state_get(name=name)
    except ModelNotFound:
        raise Http404(f"No model {name!r}") from None
    versions = list(model_version_list(name=name))
    champion = next((v for v in versions if v.is_production), None)
    challenger = next((v for v in versions if v.model_id == state["challenger"]), None)
    shadow = None
    if challenger is not None and champion is not None and state["mode"] == Release.Mode.SHADOW:
        shadow = selectors.shadow_report(challenger=challenger, champion_bands=champion.label_bands)
    canary = None
    release = Release.objects.filter(name=name).select_related("challenger").first()
    if release is not None and release.mode == Release.Mode.CANARY:
        canary = services.canary_health(release=release)
    return {
        "name": name,
        "state": state,
        "versions": versions,
        "candidates": [v for v in versions if v.status == ModelVersion.Status.STAGING],
        "shadow": shadow,
        "canary": canary,
        "split": split_bar(percent=state["percent"] if state["mode"] == Release.Mode.CANARY else 0.0),
        "is_admin": request.user.is_superuser,
        "actions": ACTIONS,
    }


@staff_required
def release_page(request: HtmxHttpRequest, name: str) -> HttpResponse:
    context = _context(request, name)
    return render(request, "releases/release.html#release" if request.htmx else "releases/release.html", context)


def _run(action: str, name: str, step: ReleaseStep, request: HtmxHttpRequest) -> str:
    version = None
    if step.model_id:
        version = ModelVersion.objects.get(pk=model_version_get(model_id=step.model_id).pk)
        if version.name != name:
            raise ApplicationError(f"{version.model_id} is not a version of {name}.")
    user, reason, force = request.user, step.reason, step.force
    if action == "validate" and version is not None:
        validation = services.model_validate(model_version=version, user=user)
        if not validation.passed:  # a finding, not a success: shown as an error
            raise ApplicationError(f"{version.model_id} failed its gates; the gates table says which.")
        return f"{version.model_id} passed its gates."
    if action == "shadow" and version is not None:
        services.release_shadow_start(model_version=version, reason=reason, user=user)
        return f"{version.model_id} is in shadow."
    if action == "canary" and version is not None:
        release = services.release_canary_set(
            model_version=version, percent=step.percent, reason=reason, force=force, user=user
        )
        return f"{version.model_id} serves {release.percent:g}% of applicants."
    if action == "promote" and version is not None:
        services.release_promote(model_version=version, reason=reason, force=force, user=user)
        return f"{version.model_id} is the champion."
    if action == "rollback":
        return f"{services.release_rollback(name=name, reason=reason, user=user).model_id} is the champion again."
    services.release_abort(name=name, reason=reason, user=user)
    return f"{name} has no challenger now."


@staff_required
@require_POST
def release_action(request: HtmxHttpRequest, name: str, action: str) -> HttpResponseBase:
    if not request.user.is_superuser:
        return HttpResponseForbidden("Only administrators can change a release.")
    if action not in ACTIONS:
        raise Http404("No such release step")
    form = ReleaseActionForm(request.POST, action=action)
    if not form.is_valid():
        for field, problems in form.errors.items():
            messages.error(request, f"{field}: {' '.join(str(p) for p in problems)}")
    else:
        try:
            messages.success(request, _run(action, name, form.step(), request))
        except ApplicationError as exc:
            messages.error(request, str(exc))
    if request.htmx:
        return release_page(request, name)
    return redirect("model-release", name=name)
