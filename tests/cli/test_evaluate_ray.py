"""``rsdesk evaluate --ray ADDRESS`` when the cluster cannot be reached: one line naming the address the
user gave and the likely cause, exit 1, and no run directory left behind."""

from __future__ import annotations

import os

import pytest
from cli_helpers import error_lines

pytest.importorskip("ray")

from rsdesk.cli import main
from rsdesk.core.evaluation import ray_backend
from rsdesk.core.io.assets import resource_path


def test_an_address_where_nothing_listens_is_one_line_and_leaves_no_run_directory(capsys, tmp_path):
    out = tmp_path / "run"
    samples = str(resource_path("samples"))
    code = main(
        ["evaluate", samples, "--attacks", "fgsm", "--ray", "127.0.0.1:1", "--out", str(out), "--quiet"]
    )
    assert code == 1
    assert error_lines(capsys.readouterr().err) == [
        "error: cannot connect to the Ray cluster at 127.0.0.1:1: no Ray head answers there (is `ray start "
        "--head` running there, and is the port right?)"
    ]
    assert not out.exists()


def test_a_refused_token_is_named_with_what_to_set():
    """Ray's error only says it failed (and names the host's IP); its C++ log says why."""
    log = "gcs_client.cc:210: Failed to get cluster ID from GCS server: Unauthenticated: InvalidAuthToken"
    text = ray_backend.connection_failure(
        "10.0.0.5:6379", ConnectionError("Failed to connect to Ray cluster at 192.0.2.2:6379"), log
    )
    assert text.startswith(
        "cannot connect to the Ray cluster at 10.0.0.5:6379: the cluster uses token authentication"
    )
    assert "RAY_AUTH_MODE=token" in text and "RAY_AUTH_TOKEN" in text and "192.0.2.2" not in text


def test_ray_s_raw_log_lines_are_captured_not_printed(capfd):
    with ray_backend._captured_stderr() as log:
        os.write(2, b"W gcs_client.cc: InvalidAuthToken\n")  # as Ray's C++ client writes
    assert "".join(log) == "W gcs_client.cc: InvalidAuthToken\n"
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("address", "expected"), [("127.0.0.1:1", False), ("auto", True), ("ray://head:10001", True)]
)
def test_only_host_port_addresses_are_probed(address, expected):
    assert ray_backend._reachable(address, timeout=2) is expected


def test_a_cluster_lost_mid_run_is_one_line_saying_where_the_results_are(capsys, tmp_path, monkeypatch):
    import rsdesk.core.evaluation as evaluation
    from rsdesk.core.errors import ClusterError

    out = tmp_path / "run"

    def lost(plan, items, run_dir, **kwargs):
        run_dir.mkdir()
        (run_dir / "results.csv").write_text("file\n")  # what finished before the loss
        raise ClusterError("no Ray worker is left to run the evaluation (a node was lost)")

    monkeypatch.setattr(evaluation, "run_evaluation", lost)
    samples = str(resource_path("samples"))
    code = main(
        ["evaluate", samples, "--attacks", "fgsm", "--ray", "127.0.0.1:6379", "--out", str(out), "--quiet"]
    )
    assert code == 1
    assert error_lines(capsys.readouterr().err) == [
        "error: no Ray worker is left to run the evaluation (a node was lost); finished results are kept in "
        f"{out}: run the same command to resume"
    ]
