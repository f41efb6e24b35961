"""Between the persisted :class:`Settings` and the live :class:`AppState`: apply one to the other, and back.

The settings hold the defaults a session starts from; the toolbars change the state; on close (and after
the Settings dialog) the state's values are written back, so the next start looks like this one ended.
Which field holds which method's parameter is the settings schema's table (``METHOD_FIELDS``,
``SHARED_ATTACK_FIELDS``, whose budgets reach only the attacks of that strength kind:
:func:`~rsdesk.gui.models.settings.shared_attack_targets`); nothing here names a method.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rsdesk.core.errors import DictionaryError
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.models.configs import DictionaryInfo, attack_names, defense_names
from rsdesk.gui.models.settings import METHOD_FIELDS, SHARED_ATTACK_FIELDS, Settings, shared_attack_targets
from rsdesk.gui.models.state import AppState

_DEFAULTS = Settings()


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

    setters = {"attack": state.set_attack_param, "defense": state.set_defense_param}
    for field in SHARED_ATTACK_FIELDS:
        for name in shared_attack_targets(field):
            attempt(state.set_attack_param, field, getattr(settings, field), name)
    for field, (kind, method, param) in METHOD_FIELDS.items():
        if kind == "attack":
            attempt(setters[kind], param, getattr(settings, field), method)
    if settings.attack in attack_names():
        state.set_attack(settings.attack)
    attempt(state.set_precision, settings.precision)
    for field, (kind, method, param) in METHOD_FIELDS.items():
        if kind == "defense":
            attempt(setters[kind], param, getattr(settings, field), method)
    if settings.defense in defense_names():
        state.set_defense(settings.defense)
    return problems


def capture_settings(state: AppState, settings: Settings) -> Settings:
    """The settings with the state's current attack and defense values written in."""
    values = {"attack": state.attack_values, "defense": state.defense_values}
    changes: dict[str, object] = {
        field: values[kind](method)[param] for field, (kind, method, param) in METHOD_FIELDS.items()
    }
    changes.update(attack=state.attack, defense=state.defense)
    current = state.attack_values()
    for field in SHARED_ATTACK_FIELDS:
        if state.attack in shared_attack_targets(field):
            changes[field] = type(getattr(_DEFAULTS, field))(current[field])
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
