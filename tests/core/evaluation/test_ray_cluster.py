"""An evaluation on a real Ray cluster made in the test (``ray.cluster_utils.Cluster``: a head and worker
nodes on this machine), and faults on it: a node killed mid-run, every node lost, CPUs busy, CUDA asked
of a cluster without GPUs, files named by relative paths, a changed file. The cluster rows must equal a
local run's with the same threads."""

from __future__ import annotations

import json
import os
import shutil

import pytest

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from rsdesk.core.errors import ClusterError  # noqa: E402
from rsdesk.core.evaluation import RunDirectory, ray_backend, ray_files, run_evaluation  # noqa: E402
from rsdesk.core.io.assets import default_dictionary_path, resource_path  # noqa: E402

pytestmark = pytest.mark.slow

TIMING = {"seconds", "attack_seconds"}
#: a lost node is noticed within about a second (Ray's default is tens of seconds)
HEALTH = {
    "RAY_health_check_period_ms": "300",
    "RAY_health_check_timeout_ms": "300",
    "RAY_health_check_failure_threshold": "3",
}


@pytest.fixture(scope="module")
def cluster():
    """A head with no CPUs of its own (so no actor lives on it) and the driver connected to it; each test
    adds the worker nodes it needs and removes them."""
    saved = {k: os.environ.get(k) for k in HEALTH}
    os.environ.update(HEALTH)
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    ray.init(address=c.address, log_to_driver=False, configure_logging=False)
    yield c
    ray.shutdown()
    c.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def nodes(cluster):
    """``add(n)``: n one-CPU worker nodes, all removed at the end of the test."""
    added = []

    def add(n: int):
        new = [cluster.add_node(num_cpus=1) for _ in range(n)]
        cluster.wait_for_nodes()
        added.extend(new)
        return new

    yield add
    for node in added:
        if node in cluster.worker_nodes:
            cluster.remove_node(node, allow_graceful=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster") / "photos"
    folder.mkdir()
    for name in ("coffee.jpg", "camera.jpg"):
        shutil.copy(resource_path("samples", name), folder / name)
    (folder / "labels.csv").write_text("file,class_index\ncoffee.jpg,967\ncamera.jpg,872\n")
    return folder


def plan(defenses=("jpeg",), dictionary=None):
    entries = {d: {} for d in defenses}
    if dictionary is not None:
        entries["regionsparse"] = {"dictionary": dictionary, "params": {"stride": 8}}
    return {
        "protocol": "all",
        "batch_size": 1,  # many small units: a node dies while some are on it
        "attacks": {"fgsm": {"attack": "fgsm"}, "bim": {"attack": "bim", "params": {"steps": 2}}},
        "defenses": {"none": {}, **entries},
        "experiments": [{"name": "grid", "attacks": {"fgsm": [2, 8], "bim": [4]}, "defenses": list(entries)}],
    }


def comparable(rows):
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k not in TIMING)) for r in rows)


@pytest.fixture(scope="module")
def local_run(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    run_evaluation(plan(), [photos], out, threads=1)
    return RunDirectory(out).read_rows()


def test_a_node_killed_mid_run_costs_no_row(cluster, nodes, photos, local_run, tmp_path):
    """Its units run again on the node left: every row exactly once, equal to a local run's (1 thread)."""
    workers = nodes(2)
    killed = []

    def progress(fraction: float, what: str) -> None:
        if fraction > 0.3 and not killed:
            cluster.remove_node(workers[0], allow_graceful=False)  # its raylet and actor die: a crash
            killed.append(fraction)

    out = tmp_path / "run"
    run_evaluation(plan(), [photos], out, ray=cluster.address, threads=1, progress=progress)
    assert killed, "the run ended before the node could be killed"
    rows = RunDirectory(out).read_rows()
    keys = [(r["file"], r["attack"], r["strength"], r["defense"]) for r in rows]
    assert len(keys) == len(set(keys)), "a row was written twice"
    assert comparable(rows) == comparable(local_run)
    assert json.loads((out / "plan.json").read_text())["threads"] == [1]


def test_every_node_lost_ends_with_one_error_and_the_finished_rows_kept(
    cluster, nodes, photos, tmp_path, monkeypatch
):
    (worker,) = nodes(1)
    killed = []

    def progress(fraction: float, what: str) -> None:
        if fraction > 0.3 and not killed:
            # from now on, give a replacement 3 s (a first start on 2 busy cores can take longer)
            monkeypatch.setattr(ray_backend, "STARTUP_TIMEOUT_S", 3.0)
            cluster.remove_node(worker, allow_graceful=False)
            killed.append(fraction)

    out = tmp_path / "run"
    with pytest.raises(
        ClusterError, match=r"^no Ray worker is left to run the evaluation \(.*a node was lost"
    ):
        run_evaluation(plan(), [photos], out, ray=cluster.address, threads=1, progress=progress)
    finished = RunDirectory(out).read_rows()
    assert finished, "the rows finished before the loss are kept"
    # and a resume on a healthy cluster completes them, each row once
    nodes(1)
    run_evaluation(plan(), [photos], out, ray=cluster.address, threads=1)
    rows = RunDirectory(out).read_rows()
    keys = [(r["file"], r["attack"], r["strength"], r["defense"]) for r in rows]
    assert len(keys) == len(set(keys)) and len(rows) > len(finished)


def test_busy_cpus_are_named_instead_of_a_silent_wait(cluster, nodes, photos, tmp_path):
    nodes(1)

    @ray.remote(num_cpus=1)
    class Busy:
        def ready(self) -> bool:
            return True

    busy = Busy.remote()
    ray.get(busy.ready.remote())
    try:
        with pytest.raises(ClusterError, match=r"0 of the cluster's 1 CPUs are free .*busy"):
            run_evaluation(plan(), [photos], tmp_path / "run", ray=cluster.address, threads=1)
    finally:
        ray.kill(busy)


def test_cuda_without_gpus_fails_as_it_does_locally_and_auto_uses_cpus(cluster, nodes, photos, tmp_path):
    nodes(1)
    with pytest.raises(ClusterError, match=r"CUDA was requested but no node of the Ray cluster has a GPU"):
        run_evaluation(plan(), [photos], tmp_path / "cuda", ray=cluster.address, device="cuda")
    small = plan(defenses=())
    small["experiments"][0]["attacks"] = {"fgsm": [8]}
    summary = run_evaluation(
        small, [photos], tmp_path / "auto", ray=cluster.address, device="auto", threads=1
    )
    assert summary["n_counted"] == 2


def test_relative_files_travel_to_the_actors_as_checked_bytes(cluster, nodes, photos, tmp_path, monkeypatch):
    """A dictionary named by a relative path: the actors get its bytes (the driver's file is spoiled once
    they are packed) and purify with it, as a local run does."""
    nodes(1)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(default_dictionary_path(), work / "d.npz")
    monkeypatch.chdir(work)
    small = plan(defenses=(), dictionary="d.npz")
    small["experiments"][0]["attacks"] = {"fgsm": [8]}
    run_evaluation(small, [photos], tmp_path / "local", threads=1)
    packed = ray_files.pack_files

    def pack_then_hide(config, run_json):
        files = packed(config, run_json)
        (work / "d.npz").write_bytes(b"not a dictionary")  # an actor that opened the path would fail
        return files

    monkeypatch.setattr(ray_backend, "pack_files", pack_then_hide)
    run_evaluation(small, [photos], tmp_path / "ray", ray=cluster.address, threads=1)
    a = RunDirectory(tmp_path / "local").read_rows()
    b = RunDirectory(tmp_path / "ray").read_rows()
    assert comparable(a) == comparable(b)
    assert {r["defense"] for r in b} == {"none", "regionsparse"}
