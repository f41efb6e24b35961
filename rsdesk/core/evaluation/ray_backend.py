"""Units of an evaluation on a Ray cluster (``--ray ADDRESS`` or ``--ray local``).

One actor per worker slot holds the classifier, any transfer source and every defense, built once; the
driver streams units to them (each carries its images and cached adversarials, so actors need none of the
driver's files) and yields the results in the units' order, so it writes the same run directory as a
local run. Ray is an optional extra: ``pip install 'rsdesk[cluster]'``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rsdesk.core.evaluation.worker import Unit, UnitResult, Worker, WorkerConfig
from rsdesk.core.progress import CancelFn, check_cancel

#: units queued per actor beyond the one it runs, so an actor never waits for the driver
_AHEAD = 1


def actor_resources(
    device: str, cluster: Mapping[str, float], gpus_per_actor: float = 0.0
) -> tuple[float, str]:
    """The GPUs each actor asks Ray for and the device its worker then uses.

    ``cuda`` always asks for a GPU; ``auto`` asks for one only where the cluster has a GPU, and otherwise
    runs its actors on the CPU (an actor asking for a GPU that no node has would never be scheduled, and the
    run would wait forever). A ``gpus_per_actor`` given explicitly is kept.
    """
    if gpus_per_actor:
        return gpus_per_actor, device
    if device == "cuda":
        return 1.0, device
    if device == "auto":
        return (1.0, device) if float(cluster.get("GPU", 0) or 0) > 0 else (0.0, "cpu")
    return 0.0, device


class _Actor:
    """The Ray actor: one :class:`Worker` (its torch threads are the CPUs Ray gave it)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.worker = Worker(config)

    def run(self, unit: Unit) -> UnitResult:
        return self.worker.run(unit)


class RayExecutor:
    """Runs units on Ray actors; ``address`` "local" starts a private Ray on this machine."""

    def __init__(
        self, address: str, config: WorkerConfig, cpus_per_actor: int = 1, gpus_per_actor: float = 0.0
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError("Ray is not installed: pip install 'rsdesk[cluster]'") from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address == "local":
                ray.init(
                    num_cpus=os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._started = True
        cluster = ray.cluster_resources()
        gpus_per_actor, device = actor_resources(config.device, cluster, gpus_per_actor)
        cpus = max(1.0, float(cluster.get("CPU", 1)))
        n_actors = max(1, int(cpus // cpus_per_actor))
        if gpus_per_actor:
            n_actors = min(n_actors, max(1, int(cluster.get("GPU", 0) // gpus_per_actor)))
        remote = ray.remote(num_cpus=cpus_per_actor, num_gpus=gpus_per_actor)(_Actor)
        actor_config = dataclasses.replace(config, threads=cpus_per_actor, device=device)
        self._actors = [remote.remote(actor_config) for _ in range(n_actors)]

    @property
    def n_actors(self) -> int:
        return len(self._actors)

    def map(self, units: Iterable[Unit], cancel: CancelFn | None) -> Iterator[UnitResult]:
        """Submit units as actors free up; yield results in submission order."""
        ray = self._ray
        source = iter(units)
        pending: dict[Any, int] = {}  # object ref → submission number
        busy: dict[int, int] = dict.fromkeys(range(len(self._actors)), 0)
        owner: dict[Any, int] = {}
        ready: dict[int, UnitResult] = {}
        submitted = next_out = 0
        exhausted = False
        while True:
            check_cancel(cancel)
            while not exhausted and (free := [a for a, n in busy.items() if n <= _AHEAD]):
                unit = next(source, None)
                if unit is None:
                    exhausted = True
                    break
                a = min(free, key=lambda k: busy[k])
                ref = self._actors[a].run.remote(unit)
                pending[ref], owner[ref] = submitted, a
                busy[a] += 1
                submitted += 1
            while next_out in ready:
                yield ready.pop(next_out)
                next_out += 1
            if not pending:
                if exhausted:
                    return
                continue
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                ready[pending.pop(ref)] = ray.get(ref)
                busy[owner.pop(ref)] -= 1

    def close(self) -> None:
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []
        if self._started:
            self._ray.shutdown()
