"""rsdesk.core.evaluation.ray_backend and ray_files without Ray: the resources each actor asks for, the
files that travel to the actors and their checks, and the threads plan.json records."""

from __future__ import annotations

import hashlib
import json

import pytest

from rsdesk.core.errors import ClusterError
from rsdesk.core.evaluation import record_threads
from rsdesk.core.evaluation.ray_backend import actor_resources
from rsdesk.core.evaluation.ray_files import TravellingFile, named_files, pack_files, unpack_files
from rsdesk.core.evaluation.worker import WorkerConfig

CPUS_ONLY = {"CPU": 16.0, "memory": 1e10}
WITH_GPUS = {"CPU": 16.0, "GPU": 2.0}


@pytest.mark.parametrize(
    ("device", "cluster", "expected"),
    [
        ("auto", CPUS_ONLY, (0.0, "cpu")),  # no GPU anywhere: CPU actors, not actors that never start
        ("auto", {**CPUS_ONLY, "GPU": 0.0}, (0.0, "cpu")),
        ("auto", WITH_GPUS, (1.0, "auto")),  # the actor's worker resolves auto to the GPU Ray gave it
        ("cuda", WITH_GPUS, (1.0, "cuda")),
        ("cpu", WITH_GPUS, (0.0, "cpu")),
    ],
)
def test_auto_asks_for_a_gpu_only_where_the_cluster_has_one(device, cluster, expected):
    assert actor_resources(device, cluster) == expected


def test_gpus_per_actor_given_explicitly_is_kept():
    assert actor_resources("auto", CPUS_ONLY, 0.5) == (0.5, "auto")
    assert actor_resources("cuda", WITH_GPUS, 0.25) == (0.25, "cuda")


def test_cuda_on_a_cluster_without_gpus_fails_at_once_as_it_does_locally():
    with pytest.raises(ClusterError, match="CUDA was requested but no node of the Ray cluster has a GPU"):
        actor_resources("cuda", CPUS_ONLY)


def _plan(dictionary):
    return {
        "attacks": {"fgsm": {"attack": "fgsm"}},
        "defenses": {"none": {}, "regionsparse": {"dictionary": dictionary}},
        "experiments": [{"name": "g", "attacks": {"fgsm": [8]}, "defenses": ["regionsparse"]}],
    }


def test_the_files_a_plan_names_travel_with_the_sha256_plan_json_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.npz").write_bytes(b"dictionary bytes")
    (tmp_path / "w.pth").write_bytes(b"weights bytes")
    config = WorkerConfig(_plan("d.npz"), "efficientnet-lite0", weights="w.pth")
    assert named_files(config) == ["w.pth", "d.npz"]  # "random", None and bundled files are not named
    assert named_files(WorkerConfig(_plan("random"), "efficientnet-lite0")) == []
    sha = hashlib.sha256(b"dictionary bytes").hexdigest()
    run_json = {"dictionaries": {"regionsparse": {"file": str(tmp_path / "d.npz"), "sha256": sha}}}
    packed = pack_files(config, run_json)
    assert [(f.named, f.data, f.sha256) for f in packed][1] == ("d.npz", b"dictionary bytes", sha)
    local = unpack_files(packed, str(tmp_path / "actor"))
    assert (tmp_path / "actor" / "1-d.npz").read_bytes() == b"dictionary bytes"
    assert local == {
        "w.pth": str(tmp_path / "actor" / "0-w.pth"),
        "d.npz": str(tmp_path / "actor" / "1-d.npz"),
    }


def test_a_file_changed_since_the_run_began_is_refused_before_it_travels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.npz").write_bytes(b"the new bytes")
    run_json = {"dictionaries": {"regionsparse": {"file": str(tmp_path / "d.npz"), "sha256": "ab" * 32}}}
    with pytest.raises(
        ValueError, match=r"d\.npz has changed since this run began \(plan.json records SHA-256 abab"
    ):
        pack_files(WorkerConfig(_plan("d.npz"), "efficientnet-lite0"), run_json)


def test_an_actor_refuses_a_copy_that_is_not_the_recorded_file(tmp_path):
    spoiled = TravellingFile("d.npz", b"spoiled", hashlib.sha256(b"original").hexdigest())
    with pytest.raises(
        ValueError, match=r"d\.npz: the copy this node received is not the file plan\.json records"
    ):
        unpack_files([spoiled], str(tmp_path))


def test_plan_json_records_each_attempt_s_threads_and_a_change_is_noted():
    run_json: dict = {}
    notes: list[str] = []
    record_threads(run_json, 2, notes.append)
    record_threads(run_json, 2, notes.append)
    assert run_json["threads"] == [2] and notes == []
    record_threads(run_json, 1, notes.append)
    assert run_json["threads"] == [2, 1]
    assert notes == [
        "this run was made with 2 torch threads and now runs with 1: rows finished now may differ from "
        "earlier ones in their last digits (--threads)"
    ]
    json.dumps(run_json)
