"""Between the persisted :class:`Settings` and the live :class:`AppState`: apply one to the other, and back.

The settings hold the defaults a session starts from; the toolbars change the state; on close (and after
the Settings dialog) the state's values are written back, so the next start looks like this one ended.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rsdesk.core.assets import default_dictionary_path
from rsdesk.core.dictionary import DictionaryError, load_dictionary
from rsdesk.gui.settings import Settings
from rsdesk.gui.state import ATTACK_NAMES, DEFENSE_NAMES, AppState, DictionaryInfo

RS_FIELDS = ("k", "theta", "stride", "bilateral_d", "sigma_color", "sigma_space")
EPS_ATTACKS = ("fgsm", "bim", "mifgsm", "bpda")
STEP_ATTACKS = ("bim", "mifgsm", "bpda")


def load_dictionary_info(settings: Settings) -> tuple[DictionaryInfo, list[str]]:
    """The dictionary the settings name, else the bundled one with a warning saying why."""
    if settings.dictionary_path:
        path = Path(settings.dictionary_path).expanduser()
        try:
            return DictionaryInfo(load_dictionary(path), path), []
        except DictionaryError as exc:
            warning = f"{exc}; using the bundled dictionary"
            return DictionaryInfo(load_dictionary(default_dictionary_path()), None), [warning]
    return DictionaryInfo(load_dictionary(default_dictionary_path()), None), []


def apply_settings(state: AppState, settings: Settings) -> list[str]:
    """Put the settings' attack and defense values into the state; returns what could not be applied."""
    problems: list[str] = []

    def attempt(fn: object, *args: object) -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except ValueError as exc:
            problems.append(str(exc))

    for name in EPS_ATTACKS:
        attempt(state.set_attack_param, "eps", settings.eps, name)
    for name in STEP_ATTACKS:
        attempt(state.set_attack_param, "steps", settings.steps, name)
    attempt(state.set_attack_param, "c", settings.cw_c, "cw")
    attempt(state.set_attack_param, "steps", settings.cw_steps, "cw")
    attempt(state.set_attack_param, "kappa", settings.cw_kappa, "cw")
    if settings.attack in ATTACK_NAMES:
        state.set_attack(settings.attack)
    for name in RS_FIELDS:
        attempt(state.set_defense_param, name, getattr(settings, name), "regionsparse")
    if settings.defense in DEFENSE_NAMES:
        state.set_defense(settings.defense)
    return problems


def capture_settings(state: AppState, settings: Settings) -> Settings:
    """The settings with the state's current attack and defense values written in."""
    attack = state.attack_values()
    rs = state.defense_values("regionsparse")
    cw = state.attack_values("cw")
    changes: dict[str, object] = {name: rs[name] for name in RS_FIELDS}
    changes.update(
        attack=state.attack, defense=state.defense, cw_c=cw["c"], cw_steps=cw["steps"], cw_kappa=cw["kappa"]
    )
    if "eps" in attack:
        changes["eps"] = float(attack["eps"])
    if state.attack in STEP_ATTACKS:
        changes["steps"] = int(attack["steps"])
    info = state.dictionary
    changes["dictionary_path"] = str(info.path) if info.path else ""
    return replace(settings, **changes)


def h_mismatch(settings: Settings, info: DictionaryInfo) -> str:
    """A warning when the settings' h differs from the h the current dictionary was trained with."""
    if abs(float(settings.h) - float(info.dictionary.h)) > 1e-9:
        return (
            f"Settings say h = {settings.h:g}, but the dictionary in use was trained with h = "
            f"{info.dictionary.h:g}"
        )
    return ""
