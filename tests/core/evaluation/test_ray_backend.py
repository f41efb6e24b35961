"""rsdesk.core.evaluation.ray_backend without Ray: the resources each actor asks for."""

from __future__ import annotations

import pytest

from rsdesk.core.evaluation.ray_backend import actor_resources

CPUS_ONLY = {"CPU": 16.0, "memory": 1e10}
WITH_GPUS = {"CPU": 16.0, "GPU": 2.0}


@pytest.mark.parametrize(
    ("device", "cluster", "expected"),
    [
        ("auto", CPUS_ONLY, (0.0, "cpu")),  # no GPU anywhere: CPU actors, not actors that never start
        ("auto", {**CPUS_ONLY, "GPU": 0.0}, (0.0, "cpu")),
        ("auto", WITH_GPUS, (1.0, "auto")),  # the actor's worker resolves auto to the GPU Ray gave it
        ("cuda", CPUS_ONLY, (1.0, "cuda")),  # asked for explicitly: stays a GPU request
        ("cuda", WITH_GPUS, (1.0, "cuda")),
        ("cpu", WITH_GPUS, (0.0, "cpu")),
    ],
)
def test_auto_asks_for_a_gpu_only_where_the_cluster_has_one(device, cluster, expected):
    assert actor_resources(device, cluster) == expected


def test_gpus_per_actor_given_explicitly_is_kept():
    assert actor_resources("auto", CPUS_ONLY, 0.5) == (0.5, "auto")
    assert actor_resources("cuda", WITH_GPUS, 0.25) == (0.25, "cuda")
