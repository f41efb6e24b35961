"""The Evaluate tab's background work: a sweep run as a child process, its run directory followed as it
grows, and the summary recomputed on a worker.

Why a child process (``QProcess`` running ``rsdesk evaluate``) rather than a job on the runner's threads:
a sweep is minutes to hours of torch and Python work. In this process it would compete for the GIL and
for torch's threads with the event loop and the window's own stage jobs. As a child it has its own
interpreter; ``--threads 1`` and the lowest priority (nice +19) leave the other core to the window's
interactive pipeline; Cancel can stop it at any moment by terminating it, since the engine's run directory
(rows flushed as they finish, cached adversarials) already is the point Run resumes from; a crash of the
sweep cannot take the window with it; and it runs exactly what ``rsdesk evaluate`` runs.

The window learns everything from the run directory, the public contract: plan.json and the rows appended
to results.csv since the last poll (a torn last line waits for the next poll). Summaries are computed by
the core's ``summarize`` on the runner, one at a time (rows that arrive meanwhile are taken by the next).
Starting another run or opening another directory supersedes everything of the previous one: its process
is stopped, its summary job dropped, and a generation counter keeps any late callback from landing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from rsdesk.core.errors import error_text, problems_text
from rsdesk.core.evaluation.intervals import wilson
from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.rundir import RunDirectory, RunDirError, is_run_directory
from rsdesk.core.evaluation.summary import expected_rows, summarize
from rsdesk.core.io.files import remove_stale_temps
from rsdesk.gui.models.evaluation import EvaluationResults
from rsdesk.gui.tasks.child_stop import interrupt
from rsdesk.gui.tasks.evaluation_export import export_run
from rsdesk.gui.tasks.runner import JobRunner

POLL_MS = 250
#: at most this much of results.csv is parsed per poll, so a long backlog never stalls the event loop
READ_BYTES = 256 * 1024
#: up to this many rows the summary is computed on the GUI thread (≈ 10 ms); beyond, on a worker
INLINE_ROWS = 2000
SUMMARY_SLOT = "evaluation-summary"
EXPORT_SLOT = "evaluation-export"
#: the sweep's priority below the window's (nice +19: the window and its stage jobs always come first)
CHILD_NICENESS = 19
KILL_AFTER_MS = 3000


def evaluate_command(
    inputs: Sequence[Path], plan_file: Path, out: Path, classifier: str, weights: str | None, device: str
) -> list[str]:
    """The child's arguments (after ``sys.executable``): ``rsdesk evaluate`` on one thread, quiet.

    In a frozen bundle (PyInstaller) ``sys.executable`` is the ``rsdesk`` program itself, which takes the
    command directly; elsewhere it is Python, which runs the package with ``-m rsdesk``."""
    prefix = [] if getattr(sys, "frozen", False) else ["-m", "rsdesk"]
    args = [*prefix, "evaluate", *map(str, inputs), "--plan", str(plan_file), "--out", str(out)]
    args += ["--quiet", "--threads", "1", "--classifier", classifier, "--device", device]
    return args + (["--weights", weights] if weights else [])


def compute_summary(run_json: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[dict[str, Any], int, int]:
    """The core's summary of the rows, and (rows present, rows the plan asks for): runs on a worker."""
    ids = [i["id"] for i in run_json.get("images", [])]
    have, need = expected_rows(parse_plan(run_json["plan"]), rows, ids)
    return summarize(run_json, rows), have, need


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class EvaluationRunner(QObject):
    """Runs, cancels, resumes and follows evaluations into :class:`EvaluationResults`."""

    message = Signal(str, str, str)  # kind, text, details
    state_changed = Signal()  # running or loading started or ended
    progress = Signal(float, str)  # fraction done, "12 of 40 results · about 0:30 left"

    def __init__(self, results: EvaluationResults, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self.runner = runner
        self._gen = 0
        self._proc: QProcess | None = None
        self._cancelled = False
        self._stderr = ""
        self._errors: list[str] = []
        self._log: list[str] = []
        self._offset = 0
        self._plan_stamp: tuple[int, int] | None = None
        self._summary_busy = False
        self._summary_dirty = False
        self._rate_start: tuple[float, int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        # The summary's intervals need scipy.stats: importing it holds the interpreter lock for up to a few
        # hundred milliseconds, which would freeze the window mid-sweep; do it now, while the app starts.
        runner.submit("Evaluation warm-up", lambda _ctx: wilson(1, 2))

    # ----- public -----------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """Whether a sweep process is running."""
        return self._proc is not None

    def is_loading(self) -> bool:
        """Whether the run directory is still being read or summarized (a finished run being opened)."""
        return self._timer.isActive() or self._summary_busy

    def start(
        self,
        inputs: Sequence[Path],
        plan: dict[str, Any],
        out: Path,
        classifier: str = "efficientnet-lite0",
        weights: str | None = None,
        device: str = "cpu",
    ) -> bool:
        """Run (or resume, or extend) ``plan`` on ``inputs`` into the run directory ``out``."""
        self._supersede()
        try:
            fd, name = tempfile.mkstemp(prefix="rsdesk-plan-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(plan, fh)
        except OSError as exc:
            self.message.emit("error", f"The evaluation could not start: {exc}", "")
            return False
        plan_file = Path(name)
        proc = QProcess(self)
        proc.setProgram(sys.executable)
        proc.setArguments(evaluate_command(inputs, plan_file, Path(out), classifier, weights, device))
        env = QProcessEnvironment.systemEnvironment()
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.insert(var, "1")  # one core for the sweep: the other stays with the window
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setStandardOutputFile(QProcess.nullDevice())  # the summary is read from the run directory
        proc.readyReadStandardError.connect(lambda: self._read_stderr(proc))
        proc.started.connect(lambda: self._lower_priority(proc))
        proc.finished.connect(lambda code, status: self._finished(proc, plan_file, code, status))
        proc.errorOccurred.connect(lambda err: self._failed_to_start(proc, plan_file, err))
        self._proc, self._cancelled, self._stderr, self._errors, self._log = proc, False, "", [], []
        self._rate_start = None
        self._follow(Path(out))  # after self._proc is set: a running child is followed until it ends
        proc.start()
        return True

    def open(self, run_dir: Path) -> bool:
        """Browse a run directory (a finished one, or one another process is still writing)."""
        if not is_run_directory(run_dir):
            self.message.emit(
                "error", f"{run_dir} is not an evaluation run (no plan.json and results.csv)", ""
            )
            return False
        self._supersede()
        self._follow(Path(run_dir))
        return True

    def cancel(self) -> None:
        """Stop the sweep; what it finished stays in the run directory and Run resumes from there."""
        if self._proc is not None:
            self._cancelled = True
            self._stop(self._proc)
            self.state_changed.emit()

    def export(self, folder: Path) -> None:
        """Write the run's figures (PNG) and table (Markdown, CSV) into ``folder``, on a worker."""
        summary = self.results.summary
        if summary is None:
            self.message.emit(
                "warning", "No evaluation to export: run one or open a run directory first.", ""
            )
            return
        job = self.runner.submit(
            "Export evaluation", lambda ctx: export_run(summary, Path(folder), ctx.cancel), EXPORT_SLOT
        )
        job.succeeded.connect(
            lambda files: self.message.emit(
                "info", f"Exported {len(files)} files to {folder}", "\n".join(map(str, files))
            )
        )
        job.failed.connect(lambda m, d: self.message.emit("error", f"Export failed: {m}", d))

    def shutdown(self) -> None:
        """Window closing: stop following, and stop the sweep (Run resumes it next time)."""
        self._supersede(quiet=True)

    # ----- superseding and the process --------------------------------------------------------------
    def _supersede(self, quiet: bool = False) -> None:
        self._gen += 1
        self.runner.supersede(SUMMARY_SLOT)
        self._summary_busy = self._summary_dirty = False
        self._timer.stop()
        old, self._proc = self._proc, None
        if old is not None:
            self._stop(old)
            # it must not write on while the next run starts (in the same directory, perhaps): a terminated
            # child ends within milliseconds
            if not old.waitForFinished(KILL_AFTER_MS):
                old.kill()
                old.waitForFinished(1000)
            if self.results.run_dir is not None:  # what a killed save left: no partial file stays
                remove_stale_temps(self.results.run_dir)
            if not quiet:
                self.message.emit(
                    "info", "The running evaluation was stopped; its results stay (Run resumes it).", ""
                )

    def _stop(self, proc: QProcess) -> None:
        interrupt(proc)  # as Ctrl-C: the save in progress cleans up (SIGTERM would cut it in half)
        killer = QTimer(proc)  # deleted with the process, so it never fires on a dead object
        killer.setSingleShot(True)
        killer.timeout.connect(proc.kill)
        killer.start(KILL_AFTER_MS)

    def _lower_priority(self, proc: QProcess) -> None:
        # From here rather than QProcess's child-process modifier: a Python callable run between fork and
        # exec could deadlock on the interpreter's lock. A few milliseconds at normal priority do not matter.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(
                os.PRIO_PROCESS, int(proc.processId()), os.getpriority(os.PRIO_PROCESS, 0) + CHILD_NICENESS
            )

    def _read_stderr(self, proc: QProcess) -> None:
        if proc is not self._proc:
            return
        self._stderr += bytes(proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        *lines, self._stderr = self._stderr.split("\n")
        for line in lines:
            self._log = [*self._log[-199:], line]
            if line.startswith("error: "):
                self._errors.append(line[len("error: ") :])

    def _failed_to_start(self, proc: QProcess, plan_file: Path, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or proc is not self._proc:
            return
        self._proc = None
        plan_file.unlink(missing_ok=True)
        self.message.emit("error", f"The evaluation could not start: {proc.errorString()}", "")
        proc.deleteLater()
        self.state_changed.emit()

    def _finished(self, proc: QProcess, plan_file: Path, code: int, status: QProcess.ExitStatus) -> None:
        plan_file.unlink(missing_ok=True)
        proc.deleteLater()
        if proc is not self._proc:
            return  # superseded: a stopped run reports nothing
        self._read_stderr(proc)
        self._proc = None
        self._poll()  # the last rows
        if not self._summary_busy and self.results.summary is not None:
            self._report(self.results.have, self.results.need)  # no time left to show any more
        where = self.results.run_dir
        if where is not None:
            remove_stale_temps(where)
        problems, details = self._errors, "\n".join(self._log)
        if self._cancelled:
            self.message.emit(
                "info", f"Evaluation cancelled; finished results stay in {where}. Run resumes it.", ""
            )
        elif status == QProcess.ExitStatus.NormalExit and (code == 0 or (code == 1 and self._complete())):
            if problems:
                self.message.emit("warning", problems_text("Evaluation", problems), "\n".join(problems))
            self.message.emit("info", f"Evaluation finished: {where}", "")
        else:
            why = problems[-1] if problems else f"the process ended with exit code {code}"
            self.message.emit("error", f"The evaluation stopped: {why}. Run resumes it.", details)
        self.state_changed.emit()

    def _complete(self) -> bool:
        run_json = self.results.run_json
        if run_json is None:
            return False
        rows = self.results.rows()
        have, need = expected_rows(parse_plan(run_json["plan"]), rows, [i["id"] for i in run_json["images"]])
        return need > 0 and have >= need

    # ----- following the run directory ----------------------------------------------------------------
    def _follow(self, run_dir: Path) -> None:
        """Follow ``run_dir``; the same directory again (Run after Cancel) keeps what was read of it."""
        if self.results.run_dir is None or self.results.run_dir.resolve() != run_dir.resolve():
            self.results.reset(run_dir)
            self._offset, self._plan_stamp = 0, None
        self._plan_stamp = None  # the new process rewrites plan.json (maybe with more entries)
        self._timer.start()
        self._poll()
        self.state_changed.emit()

    def _poll(self) -> None:
        run_dir = self.results.run_dir
        if run_dir is None:
            self._timer.stop()
            return
        rd = RunDirectory(run_dir)
        changed = False
        try:
            st = rd.plan_path.stat() if rd.plan_path.is_file() else None
            stamp = None if st is None else (st.st_mtime_ns, st.st_size)
            if stamp is not None and stamp != self._plan_stamp:
                run_json = rd.read_json("plan.json")
                self._plan_stamp = stamp
                if run_json is not None:
                    self.results.set_run_json(run_json)
                    changed = True
            rows, offset = rd.read_rows_since(self._offset, READ_BYTES)
        except (OSError, RunDirError) as exc:
            self._timer.stop()
            self.message.emit("error", f"The run directory could not be read: {exc}", "")
            self.state_changed.emit()
            return
        moved = offset != self._offset
        if offset < self._offset:
            self.results.clear_rows()
        self._offset = offset
        if rows:
            self.results.add_rows(rows)
        if changed or moved:
            self._want_summary()
        elif self._proc is None:
            self._timer.stop()  # caught up with a directory nobody writes any more
            self.state_changed.emit()

    # ----- summaries --------------------------------------------------------------------------------
    def _want_summary(self) -> None:
        run_json = self.results.run_json
        if run_json is None:
            return
        if self._summary_busy:
            self._summary_dirty = True
            return
        gen, rows = self._gen, self.results.rows()
        if len(rows) <= INLINE_ROWS:
            return self._summary_here(gen, run_json, rows)
        self._summary_busy, self._summary_dirty = True, False
        job = self.runner.submit(
            "Evaluation summary", lambda _ctx: compute_summary(run_json, rows), SUMMARY_SLOT
        )
        job.succeeded.connect(lambda res: self._summary_done(gen, res))
        job.failed.connect(
            lambda m, d: gen == self._gen and self.message.emit("error", f"Summary failed: {m}", d)
        )
        job.finished.connect(lambda: self._summary_finished(gen))

    def _summary_here(self, gen: int, run_json: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        # A few milliseconds (the intervals are cached), so computed right here: on a worker, niced below
        # the window, it would hold the interpreter lock while a busy machine runs something else, and the
        # event loop would wait for that lock far longer than the work itself takes.
        try:
            res = compute_summary(run_json, rows)
        except Exception as exc:  # a damaged plan.json, say: reported, never a dead window
            self.message.emit("error", f"Summary failed: {error_text(exc)}", traceback.format_exc())
            return
        self._summary_done(gen, res)

    def _summary_done(self, gen: int, res: tuple[dict[str, Any], int, int]) -> None:
        if gen != self._gen:
            return
        summary, have, need = res
        self.results.set_summary(summary, have, need)
        self._report(have, need)

    def _summary_finished(self, gen: int) -> None:
        if gen != self._gen:
            return
        self._summary_busy = False
        if self._summary_dirty:
            self._want_summary()
        elif not self._timer.isActive():
            self.state_changed.emit()

    def _report(self, have: int, need: int) -> None:
        fraction = min(1.0, have / need) if need else 0.0
        text = f"{have} of {need} results"
        if self._proc is None:
            text += "" if need and have >= need else " (incomplete: Run resumes it)"
            return self.progress.emit(fraction, text)
        now = time.monotonic()
        if self._rate_start is None:
            self._rate_start = (now, have)  # rows already there (a resumed run) say nothing about speed
        t0, h0 = self._rate_start
        if need and have >= need:
            text += " · writing the summary and figures"
        elif have > h0 and now - t0 > 1.0:
            text += f" · about {_duration((need - have) * (now - t0) / (have - h0))} left"
        self.progress.emit(fraction, text)
