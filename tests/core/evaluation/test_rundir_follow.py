"""Following a growing results.csv: only the bytes appended since the last read; a torn tail waits."""

from __future__ import annotations

from rsdesk.core.evaluation.rundir import COLUMNS, RunDirectory, is_run_directory


def _row(name: str) -> dict:
    return dict.fromkeys(COLUMNS, 0) | {"file": name, "attack": "fgsm", "defense": "none"}


def test_read_rows_since_follows_appends_and_waits_for_a_torn_line(tmp_path):
    run = RunDirectory(tmp_path)
    assert run.read_rows_since(0) == ([], 0)  # nothing written yet
    run.append_rows([_row("a.png"), _row("b.png")])
    rows, offset = run.read_rows_since(0)
    assert [r["file"] for r in rows] == ["a.png", "b.png"] and offset == run.results_path.stat().st_size
    assert run.read_rows_since(offset) == ([], offset)
    with open(run.results_path, "a") as fh:
        fh.write("c.png,1,graybox,,fgsm,4,no")  # a line still being written
    assert run.read_rows_since(offset) == ([], offset)
    with open(run.results_path, "a") as fh:
        fh.write("ne,1,1,1,0,0,0,1,0,0,0,efficientnet-lite0\n")
    rows, offset2 = run.read_rows_since(offset)
    assert [r["file"] for r in rows] == ["c.png"] and rows[0]["strength"] == 4.0
    assert offset2 == run.results_path.stat().st_size
    # the incremental reads agree with reading the whole file
    assert [r["file"] for r in run.read_rows()] == ["a.png", "b.png", "c.png"]


def test_read_rows_since_starts_over_when_the_file_was_replaced(tmp_path):
    run = RunDirectory(tmp_path)
    run.append_rows([_row("a.png"), _row("b.png")])
    _, offset = run.read_rows_since(0)
    run.results_path.unlink()
    run.append_rows([_row("z.png")])
    assert run.read_rows_since(offset) == ([], 0)
    assert [r["file"] for r in run.read_rows_since(0)[0]] == ["z.png"]


def test_a_run_directory_is_recognised_by_its_two_files(tmp_path):
    assert not is_run_directory(tmp_path)
    (tmp_path / "plan.json").write_text("{}")
    assert not is_run_directory(tmp_path)
    RunDirectory(tmp_path).append_rows([_row("a.png")])
    assert is_run_directory(tmp_path) and not is_run_directory(tmp_path / "results.csv")


def test_read_rows_since_reads_a_long_file_in_bounded_steps(tmp_path):
    run = RunDirectory(tmp_path)
    run.append_rows([_row(f"img{i}.png") for i in range(50)])
    got, offset, calls = [], 0, 0
    while True:
        rows, offset = run.read_rows_since(offset, max_bytes=300)
        calls += 1
        if not rows:
            break
        got += rows
    assert [r["file"] for r in got] == [f"img{i}.png" for i in range(50)] and calls > 5
    assert offset == run.results_path.stat().st_size
    rows, _ = run.read_rows_since(0, max_bytes=5)  # shorter than a line: the line is read whole
    assert [r["file"] for r in rows] == []  # the header alone
