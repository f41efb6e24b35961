"""Units of an evaluation on a Ray cluster (``--ray ADDRESS`` or ``--ray local``).

One actor per worker slot holds the classifier, any transfer source and every defense, built once; the
driver streams units to them (each carries its images and cached adversarials, and the files the plan
names travel as checked bytes, :mod:`.ray_files`) and yields the results in the units' order, so it writes
the same run directory as a local run.

What a cluster does to a run, and what this module does about it:

- **A node is lost** (its raylet killed, the machine gone): its actors' calls fail; the units they held go
  back to the queue and run on the actors left. A unit is pure (images in, rows out) and only the driver
  writes, so a unit that ran twice still gives each row once. With no actor left, and none that can start
  within the time allowed, the run ends with :class:`ClusterError` (the finished results stay written).
- **An actor cannot start** (its node's CPUs busy, a GPU asked for that no node has, a node that died but
  is still listed): every actor gets :data:`STARTUP_TIMEOUT_S` to become ready; work goes only to actors
  that are ready, the others are given up, and if none is ready the error names what is missing.
- **Threads**: each actor runs torch with the run's ``--threads`` (1 when not given) and asks Ray for that
  many CPUs, so a cluster run equals a local run with the same threads row for row.

Ray is an optional extra: ``pip install 'rsdesk[cluster]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rsdesk.core.errors import ClusterError
from rsdesk.core.evaluation.ray_files import TravellingFile, pack_files, unpack_files
from rsdesk.core.evaluation.worker import Unit, UnitResult, Worker, WorkerConfig
from rsdesk.core.progress import CancelFn, check_cancel

#: units queued per actor beyond the one it runs, so an actor never waits for the driver
_AHEAD = 1
#: how long an actor may take to be scheduled and build its models before the run goes on without it
STARTUP_TIMEOUT_S = float(os.environ.get("RSDESK_RAY_STARTUP_S", "90"))
#: how often the driver looks at the cluster while it waits
_POLL_S = 0.5


def actor_resources(
    device: str, cluster: Mapping[str, float], gpus_per_actor: float = 0.0
) -> tuple[float, str]:
    """The GPUs each actor asks Ray for and the device its worker then uses.

    ``cuda`` asks for a GPU and fails at once where no node has one (as ``--device cuda`` fails on a
    machine without CUDA); ``auto`` asks for one only where the cluster has a GPU, and otherwise runs its
    actors on the CPU (an actor asking for a GPU that no node has would never be scheduled). A
    ``gpus_per_actor`` given explicitly is kept.
    """
    gpus = float(cluster.get("GPU", 0) or 0)
    if device == "cuda" and gpus <= 0:
        raise ClusterError(
            "CUDA was requested but no node of the Ray cluster has a GPU; use --device cpu or auto"
        )
    if gpus_per_actor:
        return gpus_per_actor, device
    if device == "cuda":
        return 1.0, device
    if device == "auto":
        return (1.0, device) if gpus > 0 else (0.0, "cpu")
    return 0.0, device


def connection_failure(address: str, exc: BaseException | None, log: str = "") -> str:
    """One line for a failed connection: the address the user gave (Ray's own message names the host's
    resolved IP instead) and the likely cause, read from Ray's error and what it logged meanwhile."""
    text = f"{exc or ''}\n{log}".lower()
    if "invalidauthtoken" in text or "unauthenticated" in text or "auth token" in text:
        why = (
            "the cluster uses token authentication: set RAY_AUTH_MODE=token and give its token in "
            "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token); `ray get-auth-token` on the "
            "head node prints it"
        )
    elif exc is None or "timed out" in text or "failed to connect" in text or "refused" in text:
        why = "no Ray head answers there (is `ray start --head` running there, and is the port right?)"
    else:
        why = _first_line(exc)
    return f"cannot connect to the Ray cluster at {address}: {why}"


def _reachable(address: str, timeout: float = 5.0) -> bool:
    """Whether something listens at a ``host:port`` address (Ray itself retries for minutes before it
    gives up on an address where nothing listens). Other forms (``auto``, ``ray://…``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return True
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Ray's C++ client logs each refused attempt straight to file descriptor 2 (two dozen raw lines for
    a missing token): keep them out of the terminal and hand them over, so the one error line can say why."""
    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def connect(address: str) -> tuple[Any, bool]:
    """Ray, connected to ``address`` ('local': a private Ray on this machine), and whether this call
    started it (so :meth:`RayExecutor.close` shuts it down). ``ClusterError`` in one line if not."""
    try:
        import ray
    except ImportError:
        raise ValueError("Ray is not installed: pip install 'rsdesk[cluster]'") from None
    if ray.is_initialized():
        return ray, False
    if address == "local":
        ray.init(
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        return ray, True
    if not _reachable(address):
        raise ClusterError(connection_failure(address, None))
    with _captured_stderr() as log:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            failure: BaseException | None = None
        except Exception as exc:  # ConnectionError, RuntimeError, Ray's own: all one message
            failure = exc
    if failure is not None:
        raise ClusterError(connection_failure(address, failure, "".join(log))) from None
    return ray, True


class _Actor:
    """The Ray actor: one :class:`Worker` (its torch threads are the CPUs Ray gave it). A failure to
    build it is kept and reported by :meth:`ready` (one line), not as a dead actor's traceback."""

    def __init__(self, config: WorkerConfig, files: list[TravellingFile]) -> None:
        self.worker: Worker | None = None
        self.error = ""
        try:
            local = unpack_files(files)
            self.worker = Worker(dataclasses.replace(config, files=local))
        except Exception as exc:  # reported to the driver, which ends the run with it
            from rsdesk.core.errors import error_text

            self.error = error_text(exc)

    def ready(self) -> str:
        return self.error

    def run(self, unit: Unit) -> UnitResult:
        assert self.worker is not None
        return self.worker.run(unit)


@dataclasses.dataclass
class _Slot:
    """One actor as the driver sees it: starting (``probe`` pending), ready, or given up."""

    handle: Any
    probe: Any
    since: float
    ready: bool = False
    busy: int = 0


class RayExecutor:
    """Runs units on Ray actors; ``address`` "local" starts a private Ray on this machine."""

    def __init__(
        self,
        address: str,
        config: WorkerConfig,
        run_json: Mapping[str, Any] | None = None,
        gpus_per_actor: float = 0.0,
        startup_timeout: float | None = None,
        connection: tuple[Any, bool] | None = None,
    ) -> None:
        ray, started = connection or connect(address)
        self._ray, self._started = ray, started
        self._startup_timeout = startup_timeout
        self.lost: list[str] = []  # why actors were given up, for the error that ends a run
        self._replaced = False  # actors started to replace lost ones, none of them ready yet
        try:
            cluster = ray.cluster_resources()
            gpus_per_actor, device = actor_resources(config.device, cluster, gpus_per_actor)
            self.threads = config.threads or 1
            self._remote = ray.remote(num_cpus=self.threads, num_gpus=gpus_per_actor, max_restarts=0)(_Actor)
            self._config = dataclasses.replace(config, threads=self.threads, device=device)
            self._files = ray.put(pack_files(config, run_json or {}))
            self._gpus = gpus_per_actor
            self._slots: list[_Slot] = []
            n = self._capacity()
            if n == 0:
                raise ClusterError(self._why_none(cluster))
            for _ in range(n):
                self._start_actor()
        except BaseException:
            self.close()
            raise

    @property
    def startup_timeout(self) -> float:
        """Seconds an actor may take to start: the one given, else :data:`STARTUP_TIMEOUT_S` as it is now."""
        return STARTUP_TIMEOUT_S if self._startup_timeout is None else self._startup_timeout

    # ----- actors -----------------------------------------------------------------------------------
    def _capacity(self) -> int:
        """How many more actors the cluster's free resources take now."""
        free = self._ray.available_resources()
        n = int(float(free.get("CPU", 0)) // self.threads)
        if self._gpus:
            n = min(n, int(float(free.get("GPU", 0)) // self._gpus))
        return max(0, n)

    def _why_none(self, cluster: Mapping[str, float]) -> str:
        free = self._ray.available_resources()
        cpus, free_cpus = float(cluster.get("CPU", 0)), float(free.get("CPU", 0))
        if self._gpus and float(free.get("GPU", 0)) < self._gpus:
            return f"no Ray actor can start: each asks for {self._gpus:g} GPU and none is free"
        if cpus < self.threads:
            return (
                f"no Ray actor can start: each asks for {self.threads} CPUs (--threads) and the "
                f"cluster has {cpus:g}"
            )
        return (
            f"no Ray actor can start: {free_cpus:g} of the cluster's {cpus:g} CPUs are free and each actor "
            f"needs {self.threads} (the CPUs are busy with other work)"
        )

    def _start_actor(self) -> None:
        handle = self._remote.remote(self._config, self._files)
        self._slots.append(_Slot(handle, handle.ready.remote(), time.monotonic()))

    @property
    def n_actors(self) -> int:
        return len(self._slots)

    def _give_up(self, slot: _Slot, why: str) -> None:
        self.lost.append(why)
        self._slots.remove(slot)
        try:
            self._ray.kill(slot.handle)
        except Exception:  # already gone with its node
            pass

    def _check_starting(self) -> None:
        """Mark actors ready whose probe came back; give up those past the startup time."""
        starting = [s for s in self._slots if not s.ready]
        if not starting:
            return
        done, _ = self._ray.wait([s.probe for s in starting], num_returns=len(starting), timeout=0)
        now = time.monotonic()
        for s in starting:
            if s.probe in done:
                try:
                    error = self._ray.get(s.probe)
                except self._ray.exceptions.RayError as exc:
                    self._give_up(s, f"an actor died while starting ({_first_line(exc)})")
                    continue
                if error:
                    raise ClusterError(f"a Ray actor could not build its models: {error}")
                s.ready, self._replaced = True, False
            elif now - s.since > self.startup_timeout:
                self._give_up(
                    s, f"an actor was not scheduled within {self.startup_timeout:g} s (busy or lost node)"
                )

    def _no_worker_left(self) -> ClusterError:
        why = "; ".join(dict.fromkeys(self.lost)) or "no actor could start"
        return ClusterError(f"no Ray worker is left to run the evaluation ({why})")

    # ----- the work ---------------------------------------------------------------------------------
    def map(self, units: Iterable[Unit], cancel: CancelFn | None) -> Iterator[UnitResult]:
        """Submit units to ready actors as they free up; yield results in submission order. A unit whose
        actor is lost is submitted again to another."""
        ray = self._ray
        source = iter(units)
        retry: list[tuple[int, Unit]] = []  # units whose actor was lost, first in line
        pending: dict[Any, tuple[int, Unit, _Slot]] = {}
        ready: dict[int, UnitResult] = {}
        submitted = next_out = 0
        exhausted = False
        while True:
            check_cancel(cancel)
            self._check_starting()
            while free := [s for s in self._slots if s.ready and s.busy <= _AHEAD]:
                if retry:
                    number, unit = retry.pop(0)
                elif not exhausted and (unit := next(source, None)) is not None:  # type: ignore[assignment]
                    number, submitted = submitted, submitted + 1
                else:
                    exhausted = True
                    break
                slot = min(free, key=lambda s: s.busy)
                pending[slot.handle.run.remote(unit)] = (number, unit, slot)
                slot.busy += 1
            while next_out in ready:
                yield ready.pop(next_out)
                next_out += 1
            if not pending and not retry and exhausted:
                return
            if not self._slots:
                self._replace_lost()
                continue
            if not pending:
                time.sleep(_POLL_S)  # actors still starting
                continue
            done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
            for ref in done:
                number, unit, slot = pending.pop(ref)
                try:
                    ready[number] = ray.get(ref)
                    slot.busy -= 1
                except ray.exceptions.RayTaskError as exc:  # our own code raised: not the cluster's doing
                    raise exc.as_instanceof_cause() from None
                except ray.exceptions.RayError as exc:  # the actor or its node is gone
                    retry.append((number, unit))
                    retry.sort(key=lambda t: t[0])
                    lost = [n for n, (num, u, s) in pending.items() if s is slot]
                    for other in lost:
                        num, u, _s = pending.pop(other)
                        retry.append((num, u))
                    retry.sort(key=lambda t: t[0])
                    if slot in self._slots:
                        self._give_up(slot, f"a node was lost ({_first_line(exc)})")

    def _replace_lost(self) -> None:
        """Every actor is gone: start as many as the cluster now takes, or end the run (also when the
        last replacements never became ready: the cluster lists resources it no longer has)."""
        if self._replaced:
            raise self._no_worker_left()
        self._replaced = True
        n = self._capacity()
        if n == 0:
            deadline = time.monotonic() + self.startup_timeout
            while n == 0 and time.monotonic() < deadline:
                time.sleep(_POLL_S)
                n = self._capacity()
        if n == 0:
            raise self._no_worker_left()
        for _ in range(n):
            self._start_actor()

    def close(self) -> None:
        for s in getattr(self, "_slots", []):
            try:
                self._ray.kill(s.handle)
            except Exception:  # its node is gone
                pass
        self._slots = []
        if self._started:
            self._ray.shutdown()
            self._started = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]
