"""The evaluation driver: plans the units of work, skips what the run directory already holds, hands the
rest to an executor (this process, or Ray actors) and alone writes the results as they come back.

Order of work: every image clean through every defense (this decides which images count under the
protocol), then each attack entry at each strength on the counted images, its adversarials judged through
each defense. Shards are fixed slices of the counted images, so a resumed run attacks the same batches as
an uninterrupted one and writes the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rsdesk.core.errors import ImageError
from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.rundir import ImageItem, RunDirectory, row_key
from rsdesk.core.evaluation.worker import Unit, UnitResult, Worker, WorkerConfig
from rsdesk.core.io.datasets import LabelLookup, PathLike, find_images
from rsdesk.core.io.images import load_image
from rsdesk.core.models import classifier_spec
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report

#: rough cost of judging one image through one defense (purify + classify), in attacked image-iterations
#: (measured on the dev run: ≈ 0.08 s against ≈ 0.04 s; for progress and ETA only)
_JUDGE_COST = 2.0


def collect_images(
    inputs: Iterable[PathLike],
    limit: int | None = None,
    on_problem: Callable[[str], None] | None = None,
    cancel: CancelFn | None = None,
    on_unlabelled: Callable[[str], None] | None = None,
) -> list[ImageItem]:
    """The labelled, decodable images under ``inputs`` (the one folder walk), in walk order.
    ``on_problem`` hears the files that could not be used; ``on_unlabelled`` the images left out for want
    of a label (no error: a folder may hold other pictures)."""
    inputs = [Path(p) for p in inputs]
    found = find_images(inputs, cancel)
    for text in found.problems:
        if on_problem:
            on_problem(text)
    label_of = LabelLookup(on_problem)  # a broken labels.csv is named; its folder counts as unlabelled
    items: list[ImageItem] = []
    seen: set[str] = set()
    for path in found.files:
        if limit is not None and len(items) >= limit:
            break
        check_cancel(cancel)
        label = label_of(path)
        if label is None:
            if on_unlabelled:
                on_unlabelled(f"{path.name}: no label (labels.csv or an ImageNet synset in its name)")
            continue
        try:
            load_image(path)
        except ImageError as exc:
            if on_problem:
                on_problem(str(exc))
            continue
        root = next((p for p in inputs if p.is_dir() and path.is_relative_to(p)), None)
        ident = path.relative_to(root).as_posix() if root else path.name
        if ident in seen:
            ident = f"{path.parent.name}/{ident}"
        seen.add(ident)
        items.append(ImageItem(ident, str(path.resolve()), int(label)))
    return items


class Executor(Protocol):
    """Runs units and yields their results in the order the units were given."""

    def map(self, units: Iterable[Unit], cancel: CancelFn | None) -> Iterator[UnitResult]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs every unit in this process, one after the other (torch uses the cores inside each)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._worker: Worker | None = None

    def map(self, units: Iterable[Unit], cancel: CancelFn | None) -> Iterator[UnitResult]:
        if self._worker is None:
            self._worker = Worker(self.config)
        for unit in units:
            yield self._worker.run(unit, cancel)

    def close(self) -> None:
        self._worker = None


class Evaluation:
    """One run: ``run()`` does whatever the run directory is missing and returns the summary."""

    def __init__(
        self,
        run_json: dict[str, Any],
        out: RunDirectory,
        executor: Executor,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.run_json = run_json
        self.plan = parse_plan(run_json["plan"])
        self.images = [ImageItem(i["id"], i["path"], int(i["true_index"])) for i in run_json["images"]]
        self.spec = classifier_spec(run_json["classifier"]["name"])
        self.out = out
        self.executor = executor
        self.progress = progress
        self.cancel = cancel
        self.on_rows = on_rows
        self.rows: dict[tuple[str, str, float, str], dict[str, Any]] = {}
        self._counted: dict[str, bool] | None = None
        self._done_cost = 0.0
        self._total_cost = 1.0

    # ----- bookkeeping ------------------------------------------------------------------------------
    def _clean(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(file, defense) → a clean row of it (any attack's: clean results do not depend on the attack)."""
        return {(k[0], k[3]): r for k, r in self.rows.items() if k[2] == 0.0}

    def counted(self) -> dict[str, bool]:
        """Which images the summary counts: under "correct-only", those the bare classifier gets right."""
        if self._counted is not None:
            return self._counted
        none = self.plan.undefended
        out = {}
        for img in self.images:
            key = next((k for a in self.plan.attacks if (k := (img.id, a, 0.0, none)) in self.rows), None)
            if key is not None:
                out[img.id] = self.plan.protocol == "all" or bool(self.rows[key]["correct"])
        return out

    def _write(self, rows: list[dict[str, Any]]) -> None:
        rows = [r for r in rows if row_key(r) not in self.rows]
        if not rows:
            return
        self.out.append_rows(rows)
        for r in rows:
            self.rows[row_key(r)] = r
        if self.on_rows:
            self.on_rows(rows)

    def _fan_out_clean(self, clean_rows: Iterable[dict[str, Any]]) -> None:
        """Write a clean (file, defense) result as the strength-0 row of every attack of the plan."""
        clean_rows = list(clean_rows)
        counted = self.counted()
        for r in clean_rows:
            if r["file"] not in counted and self.plan.defenses[r["defense"]].identity:
                counted[r["file"]] = self.plan.protocol == "all" or bool(r["correct"])
        rows = []
        for r in clean_rows:
            for akey, a in self.plan.attacks.items():
                rows.append(
                    {
                        **r,
                        "attack": akey,
                        "threat": a.threat,
                        "source": a.source or "",
                        "counted": int(counted.get(r["file"], False)),
                    }
                )
        self._write(rows)

    # ----- units ------------------------------------------------------------------------------------
    def _load(self, items: Sequence[ImageItem]) -> np.ndarray:
        return np.stack([self.spec.prepare(load_image(Path(i.path))) for i in items]).astype(np.float32)

    def _clean_units(self) -> list[tuple[list[ImageItem], list[str]]]:
        clean = self._clean()
        b = self.plan.batch_size
        units = []
        for s in range(0, len(self.images), b):
            chunk = self.images[s : s + b]
            todo = [d for d in self.plan.defenses if any((i.id, d) not in clean for i in chunk)]
            if todo:
                units.append((chunk, todo))
        return units

    def _attack_units(
        self, counted: list[ImageItem]
    ) -> list[tuple[str, str | None, list[ImageItem], dict[float, list[str]]]]:
        """(attack key, via, images, strength → defenses) for the work still missing."""
        b = self.plan.batch_size
        groups: dict[tuple[str, str | None], dict[float, dict[str, int | None]]] = {}
        for (akey, s, dkey), limit in self.plan.needed().items():
            per_row = self.plan.attacks[akey].per_row
            g = groups.setdefault((akey, dkey if per_row else None), {})
            g.setdefault(s, {})[dkey] = limit
        units = []
        for (akey, via), by_strength in groups.items():
            entry = self.plan.attacks[akey]
            together = entry.scaled
            batches = [sorted(by_strength)] if together else [[s] for s in sorted(by_strength)]
            for strengths in batches:
                for start in range(0, len(counted), b):
                    todo: dict[float, list[str]] = {}
                    reach = 0
                    for s in strengths:
                        for dkey, limit in by_strength[s].items():
                            stop = len(counted) if limit is None else min(limit, len(counted))
                            if start >= stop:
                                continue
                            chunk = counted[start : min(start + b, stop)]
                            if any((i.id, akey, s, dkey) not in self.rows for i in chunk):
                                todo.setdefault(s, []).append(dkey)
                            reach = max(reach, len(chunk))
                    if todo:
                        units.append((akey, via, counted[start : start + reach], todo))
        return units

    def _cost(self, akey: str | None, via: str | None, n: int, todo: dict[float, list[str]]) -> float:
        judged = sum(len(v) for v in todo.values()) * n * _JUDGE_COST
        if akey is None:
            return judged
        entry = self.plan.attacks[akey]
        randomized = via is not None and self.plan.defenses[via].randomized
        through = entry.threat == "aware" and via is not None and not self.plan.defenses[via].identity
        iters = entry.iterations(randomized) * (1 + through)
        crafts = 1 if entry.scaled else len(todo)
        return judged + crafts * n * iters

    def _make_unit(
        self,
        index: int,
        akey: str | None,
        via: str | None,
        items: list[ImageItem],
        todo: dict[float, list[str]],
    ) -> Unit:
        unit = Unit(
            index=index,
            ids=[i.id for i in items],
            labels=[i.true_index for i in items],
            images=self._load(items),
            attack=akey,
            via=via,
            strengths=sorted(todo),
            defenses=todo,
            cost=self._cost(akey, via, len(items), todo),
        )
        if akey is not None:
            shape = unit.images.shape[1:]
            levels: list[float | str] = ["base", *unit.strengths]
            for level in levels:
                arrs = [
                    self.out.load_adversarial(self.out.adversarial_path(akey, level, i, via), shape)
                    for i in unit.ids
                ]
                if all(a is not None for a in arrs):
                    unit.cached[level] = np.stack(arrs)  # type: ignore[arg-type]
        return unit

    def _execute(self, units: list[Unit] | Iterator[Unit]) -> None:
        for res in self.executor.map(units, self.cancel):
            check_cancel(self.cancel)
            u = res.unit
            for level, arr in res.adversarials.items():
                for img_id, img in zip(u.ids, arr):
                    self.out.save_adversarial(
                        self.out.adversarial_path(str(u.attack), level, img_id, u.via), img
                    )
            if u.attack is None:
                by_file = {(r["file"], r["defense"]): r for r in res.rows}
                self._fan_out_clean(by_file.values())
            else:
                counted = self.counted()
                self._write([{**r, "counted": int(counted.get(r["file"], False))} for r in res.rows])
            self._done_cost += u.cost
            what = (
                "clean images"
                if u.attack is None
                else f"{u.attack} {', '.join(f'{s:g}' for s in u.strengths)}"
            )
            report(self.progress, self._done_cost / self._total_cost, what)

    def run(self) -> dict[str, Any]:
        """Do the missing work, then write summary.json, summary.md and the figures; returns the summary."""
        from rsdesk.core.evaluation.summary import write_summary

        self.out.write_json("plan.json", self.run_json)
        for r in self.out.read_rows():
            self.rows.setdefault(row_key(r), r)
        self._fan_out_clean(self._clean().values())  # attacks added to an existing run
        clean_units = self._clean_units()
        estimate = self._attack_units(self.images)  # before the protocol is known: every image
        todo_clean = [(c, d) for c, d in clean_units]
        self._total_cost = max(
            1e-9,
            sum(self._cost(None, None, len(c), {0.0: d}) for c, d in todo_clean)
            + sum(self._cost(a, v, len(i), t) for a, v, i, t in estimate),
        )
        report(self.progress, 0.0, "starting")
        self._execute(self._make_unit(n, None, None, c, {0.0: d}) for n, (c, d) in enumerate(todo_clean))
        counted_ids = self._counted = self.counted()  # fixed from here on: the clean phase is over
        counted = [i for i in self.images if counted_ids.get(i.id)]
        attack_units = self._attack_units(counted)
        self._total_cost = self._done_cost + sum(self._cost(a, v, len(i), t) for a, v, i, t in attack_units)
        self._execute(
            self._make_unit(n, a, v, i, t)
            for n, (a, v, i, t) in enumerate(attack_units, start=len(todo_clean))
        )
        report(self.progress, 1.0, "done")
        return write_summary(self.out, self.run_json, list(self.rows.values()))
