"""The files a run names travel to its Ray actors as bytes, checked against plan.json's SHA-256.

A relative ``--weights w.pth`` or ``--dictionary d.npz`` means the driver's working folder; an actor on
another node (or in another folder of this one) has neither that folder nor, on a real cluster, the file.
So the driver reads every file the plan or the command names (the classifier's weights, a transfer
source's, each dictionary or learned defense file, each retrained row's model) and ships the bytes once
through Ray's object store; each actor writes them to a private folder, checks each against the SHA-256
that plan.json recorded for the file, and opens its copy in place of the driver's path. Bundled files
(the default dictionary, the pip package's weights) are named by no one and stay where every install has
them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.worker import WorkerConfig


@dataclass(frozen=True)
class TravellingFile:
    """One file as it travels: the path the plan names it by, its bytes, and the SHA-256 they must have."""

    named: str
    data: bytes
    sha256: str


def named_files(config: WorkerConfig) -> list[str]:
    """Every file path the run's workers would open, as the plan and the command name them (not names
    such as ``random`` or a bundled default, which are not files)."""
    plan = parse_plan(config.plan)
    candidates: list[object] = [config.weights]
    candidates += [a.source_weights for a in plan.attacks.values()]
    for d in plan.defenses.values():
        candidates += [d.file, d.weights]
    seen: list[str] = []
    for c in candidates:
        if isinstance(c, (str, os.PathLike)) and os.path.isfile(c) and str(c) not in seen:
            seen.append(str(c))
    return seen


def recorded_sha256(run_json: Mapping[str, Any]) -> dict[str, str]:
    """Resolved path → SHA-256, for every file plan.json records (classifier, sources, dictionaries,
    learned files, retrained rows)."""
    records: list[tuple[object, object]] = []
    cls = run_json.get("classifier") or {}
    records.append((cls.get("weights"), cls.get("weights_sha256")))
    records += [(s.get("weights"), s.get("weights_sha256")) for s in run_json.get("sources", [])]
    records += [(r.get("file"), r.get("sha256")) for r in run_json.get("dictionaries", {}).values()]
    records += [(r.get("file"), r.get("sha256")) for r in run_json.get("learned_files", {}).values()]
    records += [(r.get("weights"), r.get("weights_sha256")) for r in run_json.get("row_models", {}).values()]
    return {_key(f): str(h) for f, h in records if f and h}


def _key(path: object) -> str:
    return str(Path(str(path)).expanduser().resolve())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_files(config: WorkerConfig, run_json: Mapping[str, Any]) -> list[TravellingFile]:
    """Read every named file on the driver. ``ValueError`` (one line) when a file no longer has the
    SHA-256 plan.json recorded: a resumed run would otherwise mix results of two different files."""
    recorded = recorded_sha256(run_json)
    packed = []
    for named in named_files(config):
        data = Path(named).read_bytes()
        actual = _sha256(data)
        expected = recorded.get(_key(named), actual)
        if actual != expected:
            raise ValueError(
                f"{named} has changed since this run began (plan.json records SHA-256 {expected[:12]}…, "
                f"the file has {actual[:12]}…): put the original back or use a new --out"
            )
        packed.append(TravellingFile(named, data, expected))
    return packed


def unpack_files(files: list[TravellingFile], folder: str | None = None) -> dict[str, str]:
    """On the actor: write each file into a private folder after checking its SHA-256; returns the map
    from the path the plan names to the local copy. ``ValueError`` naming the file if a copy is not the
    file plan.json recorded."""
    where = Path(folder or tempfile.mkdtemp(prefix="rsdesk-actor-files-"))
    where.mkdir(parents=True, exist_ok=True)
    local: dict[str, str] = {}
    for n, f in enumerate(files):
        if _sha256(f.data) != f.sha256:
            raise ValueError(f"{f.named}: the copy this node received is not the file plan.json records")
        path = where / f"{n}-{Path(f.named).name}"  # the suffix stays: loaders go by it
        path.write_bytes(f.data)
        local[f.named] = str(path)
    return local
