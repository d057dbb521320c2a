import numpy as np
import pytest

from predictions.models import Release
from predictions.selectors import LoadedRoute, canary_bucket, loaded_model_cache_clear, loaded_route_get


def test_the_canary_split_is_stable_per_subject_and_within_two_percent_over_10000(demo_model, register):
    challenger = register(shift=0.0)
    Release.objects.create(name="credit", challenger=challenger, mode="canary", percent=25.0)
    loaded_model_cache_clear()
    route = loaded_route_get(name="credit")
    subjects = [f"applicant-{i}" for i in range(10_000)]
    first = [route.serve(s)[1] for s in subjects]
    assert first == [route.serve(s)[1] for s in subjects]  # the same applicant meets the same version
    share = first.count("canary") / len(subjects)
    assert abs(share - 0.25) <= 0.02
    assert {route.serve(s)[0].model_id for s, why in zip(subjects, first, strict=True) if why == "canary"} == {
        challenger.model_id
    }


def test_raising_the_share_only_adds_applicants_to_the_canary(demo_model, register):
    challenger = register()
    buckets = np.array([canary_bucket(name="credit", version=challenger.version, key=str(i)) for i in range(2000)])
    assert ((buckets < 5) <= (buckets < 25)).all()
    assert buckets.min() >= 0 and buckets.max() < 100


def test_a_pinned_version_and_a_shadow_are_never_rerouted(demo_model, register):
    challenger = register()
    route = LoadedRoute(champion=loaded_route_get(name="credit").champion, pinned=True)
    assert route.serve("anyone")[1] == "pinned"
    Release.objects.create(name="credit", challenger=challenger, mode="shadow")
    loaded_model_cache_clear()
    shadowed = loaded_route_get(name="credit")
    assert shadowed.shadow is not None and shadowed.canary is None
    assert {shadowed.serve(str(i))[1] for i in range(500)} == {"champion"}


@pytest.mark.parametrize("percent", [0.0, 100.0])
def test_the_edges_of_the_share(demo_model, register, percent):
    challenger = register()
    Release.objects.create(name="credit", challenger=challenger, mode="canary", percent=percent)
    loaded_model_cache_clear()
    route = loaded_route_get(name="credit")
    expected = "canary" if percent == 100 else "champion"
    assert {route.serve(str(i))[1] for i in range(500)} == {expected}
