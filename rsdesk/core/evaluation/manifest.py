"""The run's manifest, plan.json: what ran, on what, with which files — and reopening a run from it.

:func:`describe_run` records the provenance a run can be repeated and trusted from (the plan, the images,
the classifier and every source with their weights' SHA-256, each dictionary's file and SHA-256, the
versions of RSDesk, Python and the numeric packages). :func:`open_run` reads an existing run directory's
plan.json back and merges a new plan into it, refusing a directory made by another classifier or on other
images. The directory's files themselves (results.csv, the adversarials) are :mod:`.rundir`'s.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rsdesk.core.defenses import RANDOM_DICTIONARY, defense_class
from rsdesk.core.defenses.regionsparse import dictionary_source
from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.plan import Plan, PlanError
from rsdesk.core.evaluation.rundir import ImageItem, RunDirectory, RunDirError

#: The format of plan.json, written into every one.
FORMAT_VERSION = 1
#: The packages whose versions plan.json records (their numbers decide the run's numbers).
PACKAGES = ("torch", "torchvision", "numpy", "cv2", "sklearn", "scipy", "PIL")


def describe_run(
    plan: Plan, images: Sequence[ImageItem], classifier: str, weights: str | None
) -> dict[str, Any]:
    """plan.json: the plan, the images, and the identity of every model, weights file and dictionary (a
    learned defense's file and each retrained row's model too)."""
    from rsdesk import __version__

    sources = {(a.source, a.source_weights) for a in plan.attacks.values() if a.threat == "transfer"}
    dictionaries = {}
    learned_files: dict[str, Any] = {}  # a learned defense's other files (ComDefend's weights)
    row_models: dict[str, Any] = {}  # the retrained models that judge rows of their own
    for key, d in plan.defenses.items():
        cls = defense_class(d.name)
        if cls.needs_dictionary:
            dictionaries[key] = dictionary_identity(d.dictionary)
        elif cls.learned_file is not None:
            path = cls.learned_file.resolve(d.file)
            if isinstance(path, Path):
                learned_files[key] = {"file": str(path), "sha256": _sha256_or_none(path)}
        if d.own_model:
            row_models[key] = model_identity(d.classifier or classifier, d.weights)
    packages = {}
    for mod in PACKAGES:
        try:
            packages[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            packages[mod] = None
    return {
        "format": FORMAT_VERSION,
        "rsdesk": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "packages": packages,
        "classifier": model_identity(classifier, weights),
        "sources": [model_identity(str(n), w) for n, w in sorted(sources, key=str)],
        "dictionaries": dictionaries,
        "learned_files": learned_files,
        "row_models": row_models,
        "images": [{"id": i.id, "path": i.path, "true_index": i.true_index} for i in images],
        "plan": plan.as_dict(),
    }


def model_identity(name: str, weights: str | None) -> dict[str, Any]:
    """A classifier as plan.json records it: its name, title, weights file and that file's SHA-256 (so a
    run is reopened only with the same weights)."""
    from rsdesk.core.io.assets import file_sha256
    from rsdesk.core.models.registry import classifier_spec, weights_file

    f = weights_file(name, weights)
    return {
        "name": name,
        "title": classifier_spec(name).title,
        "weights": str(f) if f else None,
        "weights_sha256": file_sha256(f) if f and f.is_file() else None,
    }


def _sha256_or_none(path: Path) -> str | None:
    from rsdesk.core.io.assets import file_sha256

    return file_sha256(path) if path.is_file() else None


def dictionary_identity(name: str | None) -> dict[str, Any]:
    """A plan's dictionary as plan.json records it: the file it resolves to and its SHA-256."""
    from rsdesk.core.io.assets import default_dictionary_path, file_sha256

    source = dictionary_source(name)
    if source == RANDOM_DICTIONARY:
        return {"file": None, "sha256": None, "note": "random unit-norm atoms, seed 0 (noTR)"}
    path = Path(source) if source is not None else default_dictionary_path()
    return {"file": str(path), "sha256": file_sha256(path)}


def open_run(out: RunDirectory, fresh: dict[str, Any]) -> dict[str, Any]:
    """The run's plan.json: ``fresh`` for a new run; for an existing one, its plan merged with the new
    entries, after checking that it was made with the same classifier and images."""
    old = out.read_json("plan.json")
    if old is None:
        return fresh
    for what in ("classifier",):
        a, b = old.get(what) or {}, fresh[what]
        if (a.get("name"), a.get("weights_sha256")) != (b["name"], b["weights_sha256"]):
            raise RunDirError(
                f"{out.path} holds a run of another classifier ({a.get('name')}); use a new --out"
            )
    if [(i["id"], i["true_index"]) for i in old.get("images", [])] != [
        (i["id"], i["true_index"]) for i in fresh["images"]
    ]:
        raise RunDirError(
            f"{out.path} holds a run on other images; use a new --out (or the same inputs and --limit)"
        )
    try:
        merged = parse_plan(old["plan"]).merged(parse_plan(fresh["plan"]))
    except (KeyError, PlanError) as exc:
        raise RunDirError(f"{out.path}/plan.json: {exc}") from None
    out_plan = dict(old)
    out_plan["plan"] = merged.as_dict()
    out_plan["dictionaries"] = {**old.get("dictionaries", {}), **fresh["dictionaries"]}
    for part in ("learned_files", "row_models"):  # runs made before these were recorded have none
        out_plan[part] = {**old.get(part, {}), **fresh[part]}
    out_plan["sources"] = old.get("sources", []) + [
        s for s in fresh["sources"] if s not in old.get("sources", [])
    ]
    return out_plan
