"""Evaluations of defenses at training time: rows judged by a model of their own (made by ``rsdesk finetune``
or loaded), the presets that need them (the paper's Fig. 6, Fig. 7 and Table II's adversarial-training
rows), and the rule that keeps every image a row's model was fine-tuned on out of its evaluation.

A preset marks the rows that need a retrained model (``"retrained": true``); :func:`attach_models` puts the
user's files into them (``--model ROW=FILE`` on the command line), and a plan that still lacks one is refused
with the command that makes it. The classifier each file is comes from its card (``MODEL.json``, written
beside it by ``rsdesk finetune``), else it is the plan's own.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rsdesk.core.defenses import defense_class
from rsdesk.core.evaluation.builder import attack_spec
from rsdesk.core.evaluation.plan import PlanError
from rsdesk.core.evaluation.rundir import ImageItem
from rsdesk.core.models.weights import card_classifier, model_card

#: the plan key of a row that must be judged by a retrained model
RETRAINED = "retrained"
#: Table II's strengths (the paper's), which Fig. 6 and Fig. 7 also use here: a 2-core machine cannot
#: afford Fig. 5's whole grid once per retrained model
LINF = [2, 14, 22]
D = [0.01, 0.14, 0.2]
TRANSFORMS = ["regionsparse", "jpeg", "squeeze", "tvm"]


def _attacks(threat: str) -> dict[str, Any]:
    """The paper's four attacks and fixed-budget PGD-L2, under one threat model (keys ``bim-blackbox`` …)."""
    specs = {
        "fgsm": attack_spec("fgsm"),
        "bim": attack_spec("bim", {"steps": 10}),
        "pgd-l2": attack_spec("pgd-l2", {"steps": 10}),
        "cw": attack_spec("cw", {"c": 0.1, "steps": 30, "lr": 0.01}),
        "mifgsm": attack_spec("mifgsm", {"eps": 16, "steps": 10}, measured_in="d"),
    }
    return {f"{k}-{threat}": {**v, "threat": threat} for k, v in specs.items()}


def _grid(attacks: Mapping[str, Any]) -> dict[str, list[float]]:
    return {k: (D if k.startswith(("cw", "mifgsm", "pgd-l2")) else LINF) for k in attacks}


def _retrained(defense: str, title: str) -> dict[str, Any]:
    return {"defense": defense, RETRAINED: True, "title": title}


def _preset(
    attacks: dict[str, Any], rows: dict[str, Any], experiments: list[tuple[str, str, str, str]]
) -> dict[str, Any]:
    """A plan of ``attacks`` and ``rows`` (the undefended reference first) with one experiment per
    (name, kind, title, threat): the attacks of that threat against every row but the reference."""
    return {
        "attacks": attacks,
        "defenses": rows,
        "experiments": [
            {
                "name": name,
                "kind": kind,
                "title": title,
                "attacks": _grid({k: a for k, a in attacks.items() if a["threat"] == threat}),
                "defenses": list(rows)[1:],  # after the undefended reference
            }
            for name, kind, title, threat in experiments
        ],
    }


def fig6() -> dict[str, Any]:
    """Fig. 6, black box: models retrained on each defense's outputs, shown adversarials crafted on the
    normal model through that defense; beside each, the same defense with the normal model (gray-box)."""
    rows: dict[str, Any] = {"none": {}}
    for d in TRANSFORMS:
        rows[d] = {}
        rows[f"{d}-retrained"] = _retrained(d, f"{d} · retrained on its outputs")
    title = "Retrained on transformed images, attacked on the normal model (Fig. 6, black box)"
    return _preset(_attacks("blackbox"), rows, [("fig6", "curves", title, "blackbox")])


def fig7() -> dict[str, Any]:
    """Fig. 7, extended gray box: the retrained models attacked directly (the attacker has each model, not
    the defense)."""
    rows = {
        "none": {},
        **{f"{d}-retrained": _retrained(d, f"{d} · retrained on its outputs") for d in TRANSFORMS},
    }
    title = "Retrained models attacked directly (Fig. 7, extended gray box)"
    return _preset(_attacks("extended-graybox"), rows, [("fig7", "curves", title, "extended-graybox")])


def table2_adversarial() -> dict[str, Any]:
    """Table II's four rows: Normal, FGSM Adversarial, RegionSparse, RegionSparse + FGSM Adversarial, each
    attacked on its own model (extended gray box) and with adversarials crafted on the normal model."""
    attacks = {**_attacks("extended-graybox"), **_attacks("blackbox")}
    rows = {
        "none": {},
        "fgsm-adv": _retrained("none", "FGSM Adversarial"),
        "regionsparse": {},
        "regionsparse-fgsm-adv": _retrained("regionsparse", "RegionSparse + FGSM Adversarial"),
    }
    return _preset(
        attacks,
        rows,
        [
            (f"table2-adv-{threat}", "table", f"Adversarial training (Table II), attacked on {where}", threat)
            for threat, where in (("extended-graybox", "each row's model"), ("blackbox", "the normal model"))
        ],
    )


RETRAINED_PRESETS: dict[str, Callable[[], dict[str, Any]]] = {
    "paper-fig6": fig6,
    "paper-fig7": fig7,
    "paper-table2-adv": table2_adversarial,
}


def _how(defense: str, title: str) -> str:
    """The command that makes a missing row's model: trained on its defense's outputs (none for the
    undefended row), with FGSM adversarial examples where the row is an adversarial-training one."""
    transform = "" if defense_class(defense).identity else f" --transform {defense}"
    adversarial = " --adversarial fgsm" if "FGSM" in title else ""
    return f"rsdesk finetune FOLDER{transform}{adversarial} --out MODEL.pth"


def parse_model_options(values: Sequence[str] | None) -> dict[str, str]:
    """``--model ROW=FILE`` options → {row: file}; a malformed one is one ValueError sentence."""
    out: dict[str, str] = {}
    for item in values or []:
        row, sep, file = item.partition("=")
        if not sep or not row.strip() or not file.strip():
            raise ValueError(
                f"--model expects ROW=FILE (a defense row of the plan and a weights file), got {item!r}"
            )
        out[row.strip()] = file.strip()
    return out


def attach_models(plan: dict[str, Any], models: Mapping[str, str]) -> dict[str, Any]:
    """``plan`` with each named row judged by its model file (the classifier from the file's card);
    a row the plan marks retrained that gets no file, or a file for a row the plan lacks, is a
    :class:`PlanError` naming the rows and the command that makes a model."""
    out = copy.deepcopy(plan)
    rows: dict[str, Any] = out.get("defenses") or {}
    unknown = [r for r in models if r not in rows]
    if unknown:
        raise PlanError(
            f"--model names no row of the plan: {', '.join(unknown)}; its rows: {', '.join(rows)}"
        )
    for key, file in models.items():
        if not Path(file).expanduser().is_file():
            raise PlanError(f"--model {key}: {file!r} is not a file")
        spec = rows[key] = dict(rows[key] or {})
        spec["classifier_weights"] = str(Path(file).expanduser())
        classifier = card_classifier(file)
        if classifier:
            spec["classifier"] = classifier
        spec.pop(RETRAINED, None)
    missing = [k for k, s in rows.items() if (s or {}).get(RETRAINED)]
    if missing:
        lines = [
            f"  --model {k}=FILE   (make one: {_how(rows[k].get('defense', k), rows[k].get('title', ''))})"
            for k in missing
        ]
        raise PlanError("the plan's rows need retrained models:\n" + "\n".join(lines))
    return out


def trained_images(weights: Iterable[str | Path]) -> set[str]:
    """The SHA-256 of every image the models' cards say they were fine-tuned or validated on."""
    out: set[str] = set()
    for w in weights:
        card = model_card(w) or {}
        images = card.get("images")
        if not isinstance(images, Mapping):
            continue
        for part in images.values():
            for item in part if isinstance(part, list) else []:
                sha = item.get("sha256") if isinstance(item, Mapping) else None
                if isinstance(sha, str):
                    out.add(sha)
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def exclude_trained(
    items: Sequence[ImageItem], plan: Mapping[str, Any], on_note: Callable[[str], None] | None = None
) -> list[ImageItem]:
    """``items`` less every image a row's model was fine-tuned (or validated) on, so no model is tested on
    an image it learned from; says how many were left out. Every row loses the same images, so the rows
    stay comparable."""
    rows = (plan.get("defenses") or {}).values()
    weights = [s["classifier_weights"] for s in rows if (s or {}).get("classifier_weights")]
    seen = trained_images(weights)
    if not seen:
        return list(items)
    kept = [i for i in items if _sha256(i.path) not in seen]
    if on_note and len(kept) < len(items):
        on_note(
            f"{len(items) - len(kept)} of {len(items)} images left out: a row's model was fine-tuned on them"
        )
    return kept
