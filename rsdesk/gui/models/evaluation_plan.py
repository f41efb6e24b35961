"""What the Evaluate tab's form asks for, turned into a plan: the same JSON ``rsdesk evaluate --plan`` reads,
so the tab runs exactly what the command line would, and the run directory's plan.json tells which.

Qt-free. Which attacks, defenses and threat models exist comes from the core's registries and traits
(``defense_aware``, ``strength``, ``identity``, ``needs_dictionary``), never from their names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.defenses import DEFENSES
from rsdesk.core.evaluation import PlanError, parse_plan, preset
from rsdesk.gui.models.configs import DictionaryInfo
from rsdesk.gui.models.settings import Settings, data_dir

#: The presets the tab offers (key of ``rsdesk.core.evaluation.PRESETS``, what the menu says).
PRESET_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "Custom: the choices below"),
    ("demo", "Demo: small enough to run live"),
    ("paper-fig4", "Paper Fig. 4: ablations"),
    ("paper-fig5", "Paper Fig. 5: accuracy vs strength"),
    ("paper-fig8", "Paper Fig. 8: transferred attacks"),
    ("paper-table2", "Paper Table II"),
)
#: Threat models (the plan's ``threat`` values) and how the form names them.
THREAT_CHOICES: tuple[tuple[str, str], ...] = (
    ("graybox", "Gray-box (crafted on the classifier)"),
    ("transfer", "Transfer from a second classifier"),
    ("aware", "Defense-aware (BPDA through each defense)"),
)
#: Classifiers a transfer attack may be crafted on without a weights file.
TRANSFER_SOURCES = ("efficientnet-lite2", "efficientnet-lite1")


@dataclass(frozen=True)
class PlanChoice:
    """The form's state. Strengths: ε in /255 for L∞ attacks, d = ‖δ‖₂/‖x‖₂ for the others."""

    preset: str = ""
    attacks: tuple[str, ...] = ("fgsm",)
    linf: tuple[float, ...] = (4.0, 12.0)
    d: tuple[float, ...] = (0.05, 0.1)
    defenses: tuple[str, ...] = ("regionsparse", "jpeg")
    threat: str = "graybox"
    source: str = TRANSFER_SOURCES[0]
    steps: int = 0  # 0: each attack's default
    dictionary: str | None = None  # the app's dictionary file, when it is not the bundled one
    protocol_all: bool = False


def defense_aware_attacks() -> tuple[str, ...]:
    return tuple(n for n, cls in ATTACKS.items() if cls.defense_aware)


def evaluable_defenses() -> tuple[str, ...]:
    """Defenses a plan may list (the identity, "no defense", is every plan's reference row anyway)."""
    return tuple(n for n, cls in DEFENSES.items() if not cls.identity)


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """ "4, 12" → (4.0, 12.0); a word that is not a number is a ValueError naming ``what``."""
    out = []
    for part in text.replace(";", ",").split(","):
        if part.strip():
            try:
                out.append(float(part))
            except ValueError:
                raise ValueError(f"{what}: {part.strip()!r} is not a number") from None
    return tuple(out)


def _attack_specs(choice: PlanChoice) -> tuple[dict[str, Any], dict[str, list[float]]]:
    names = list(choice.attacks)
    if choice.threat == "aware" and not any(ATTACKS[n].defense_aware for n in names):
        names += list(defense_aware_attacks())  # the threat model asks for one: the registry's
    if not names:
        raise PlanError("choose at least one attack")
    attacks: dict[str, Any] = {}
    grid: dict[str, list[float]] = {}
    tag = choice.source.split("/")[-1].replace("efficientnet-", "")
    for name in names:
        cls = ATTACKS[name]
        params = {}
        if choice.steps and any(p.name == "steps" for p in cls.PARAMS):
            params["steps"] = int(choice.steps)
        spec: dict[str, Any] = {"attack": name, "params": params}
        key = name
        if choice.threat == "transfer" and not cls.defense_aware:
            key = f"{name}@{tag}"
            spec.update(source=choice.source, threat="transfer")
        attacks[key] = spec
        grid[key] = list(choice.d if cls.strength.param == "d" else choice.linf)
        if not grid[key]:
            unit = "d" if cls.strength.param == "d" else "ε"
            raise PlanError(f"{cls.short_title}: give at least one strength ({unit})")
    return attacks, grid


def build_plan(choice: PlanChoice) -> dict[str, Any]:
    """The plan JSON for ``choice``, checked by the core's parser (a PlanError says what is wrong)."""
    if choice.preset:
        data = preset(choice.preset, choice.source)
    else:
        attacks, grid = _attack_specs(choice)
        if not choice.defenses:
            raise PlanError("choose at least one defense (no defense is always the reference)")
        defenses: dict[str, Any] = {}
        for name in choice.defenses:
            spec: dict[str, Any] = {"defense": name}
            if choice.dictionary and DEFENSES[name].needs_dictionary:
                spec["dictionary"] = choice.dictionary
            defenses[name] = spec
        data = {
            "attacks": attacks,
            "defenses": defenses,
            "experiments": [
                {
                    "name": "evaluate",
                    "kind": "curves",
                    "title": "Accuracy vs attack strength",
                    "attacks": grid,
                    "defenses": list(defenses),
                }
            ],
        }
    if choice.protocol_all:
        data["protocol"] = "all"
    parse_plan(data)  # the first problem, in the core's words, before any process starts
    return data


def plan_outline(data: dict[str, Any]) -> str:
    """One line on what a plan runs: how many attacks, strengths and defenses."""
    plan = parse_plan(data)
    strengths = {s for e in plan.experiments for v in e.strengths.values() for s in v}
    attacks = ", ".join(dict.fromkeys(a.title for a in plan.attacks.values()))
    return (
        f"{attacks} at {len(strengths)} strengths; {len(plan.defenses)} defenses (no defense included); "
        f"{len(plan.experiments)} experiment{'s' if len(plan.experiments) > 1 else ''}"
    )


def default_run_dir(choice: PlanChoice, stamp: float | None = None) -> Path:
    """A fresh run directory under the data folder, named for the preset and the time."""
    when = time.strftime("%Y%m%d-%H%M%S", time.localtime(stamp))
    return data_dir() / "evaluations" / f"{choice.preset or 'custom'}-{when}"


def input_paths(folder: Path | None, selected: Sequence[Path], use_selection: bool) -> list[Path]:
    """The images to evaluate: the gallery's selection, or a folder; an empty choice is a ValueError."""
    if use_selection:
        if not selected:
            raise ValueError("select images in the gallery first (or choose a folder)")
        return [Path(p) for p in selected]
    if folder is None or not Path(folder).is_dir():
        raise ValueError("choose a folder of labelled images (labels.csv beside them or synsets in names)")
    return [Path(folder)]


@dataclass(frozen=True)
class RunContext:
    """What a run takes from the window: the gallery's selection, the classifier and the dictionary in use."""

    selected: tuple[Path, ...] = ()
    classifier: str = "efficientnet-lite0"
    weights: str | None = None
    device: str = "cpu"
    dictionary: str | None = None


def run_context(selected: Sequence[Path], settings: Settings, dictionary: DictionaryInfo) -> RunContext:
    """The window's current choices as a :class:`RunContext` (the sweep uses the window's classifier)."""
    return RunContext(
        tuple(selected),
        settings.classifier,
        settings.weights or None,
        settings.device,
        str(dictionary.path) if dictionary.path else None,
    )
