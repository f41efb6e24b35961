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
from rsdesk.core.attacks.base import LINF, RELATIVE_L2
from rsdesk.core.defenses import DEFENSES
from rsdesk.core.defenses.base import DICTIONARY_OPTION
from rsdesk.core.evaluation import parse_plan, preset
from rsdesk.core.evaluation.builder import Choices, plan_from_choices, with_learned_files
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
    ("adaptive", "Adaptive: APGD through each defense, Square, worst case (20 images, 3–4 h)"),
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


def build_plan(choice: PlanChoice, precision: str = "fp32") -> dict[str, Any]:
    """The plan JSON for ``choice`` — a preset, or the core's one plan builder on the form's choices, as the
    command line's options go, RegionSparse with ``choice.dictionary`` (the window's; None: the bundled one)
    wherever a preset names no dictionary of its own — checked by the core's parser (a PlanError says what
    is wrong).
    ``precision``: of the attacks' gradient steps (the settings' "Attack gradients")."""
    if choice.preset:
        # the window's dictionary, where the preset names none: the curves and the panels then agree
        files = {DICTIONARY_OPTION: choice.dictionary}
        data = with_learned_files(preset(choice.preset, choice.source), files)
        if choice.protocol_all:
            data["protocol"] = "all"
        if precision != "fp32":
            data["precision"] = precision
    else:
        data = plan_from_choices(
            Choices(
                attacks=choice.attacks,
                strengths={LINF.kind: choice.linf, RELATIVE_L2.kind: choice.d},
                defenses=choice.defenses,
                steps=choice.steps or None,
                threat=choice.threat,
                source=choice.source,
                files={DICTIONARY_OPTION: choice.dictionary},
                protocol_all=choice.protocol_all,
                precision=precision,
            )
        )
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
    precision: str = "fp32"  # of the attacks' gradient steps


def run_context(selected: Sequence[Path], settings: Settings, dictionary: DictionaryInfo) -> RunContext:
    """The window's current choices as a :class:`RunContext` (the sweep uses the window's classifier)."""
    return RunContext(
        tuple(selected),
        settings.classifier,
        settings.weights or None,
        settings.device,
        str(dictionary.path) if dictionary.path else None,
        settings.precision,
    )
