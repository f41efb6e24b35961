"""The application state: which image, which attack and defense with which parameters, which dictionary
and classifier. Views observe it and write to it; the pipeline reads immutable snapshots of it
(:mod:`rsdesk.gui.models.configs`).

``AppState`` is a thin QObject whose only job is to hold the current values, check them against the core's
``Param`` specs, and announce changes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.defenses import DEFENSES
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.models.precision import PRECISION
from rsdesk.gui.models.configs import (
    AttackConfig,
    DefenseConfig,
    DictionaryInfo,
    attack_names,
    defense_names,
    param_spec,
    param_specs,
)
from rsdesk.gui.models.settings import Settings

_START = Settings()  # the attack and defense a fresh state shows (the settings then apply their own)


def _defaults(kind: str, names: tuple[str, ...]) -> dict[str, dict[str, object]]:
    return {n: {p.name: p.default for p in param_specs(kind, n)} for n in names}


class AppState(QObject):
    """Current image, attack, defense, dictionary and classifier; emits a signal when one changes."""

    image_changed = Signal(object)  # Path | None
    attack_changed = Signal()
    defense_changed = Signal()
    dictionary_changed = Signal()
    classifier_changed = Signal()

    def __init__(self, dictionary: DictionaryInfo, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._image: Path | None = None
        self._attack = _START.attack
        self._attack_values = _defaults("attack", attack_names())
        self._target: int | None = None
        self._defense = _START.defense
        self._defense_values = _defaults("defense", defense_names())
        self._defense_enabled = True
        self._precision = PRECISION.default
        self._dictionary = dictionary
        self.classifier: object | None = None  # rsdesk.core.models.classifier.Classifier once loaded
        self.classifier_title = ""
        self.device = "cpu"

    # ----- image ------------------------------------------------------------------------------------
    @property
    def image(self) -> Path | None:
        return self._image

    def set_image(self, path: Path | None) -> None:
        if path != self._image:
            self._image = path
            self.image_changed.emit(path)

    # ----- attack -----------------------------------------------------------------------------------
    @property
    def attack(self) -> str:
        return self._attack

    @property
    def target(self) -> int | None:
        return self._target

    def attack_values(self, name: str | None = None) -> dict[str, object]:
        return dict(self._attack_values[name or self._attack])

    def set_attack(self, name: str) -> None:
        if name not in self._attack_values:
            raise ValueError(f"unknown attack {name!r}")
        if name != self._attack:
            self._attack = name
            self.attack_changed.emit()

    def set_attack_param(self, param: str, value: object, attack: str | None = None) -> None:
        """Set one parameter (checked by the core's Param spec; ValueError names the range)."""
        name = attack or self._attack
        spec = param_spec("attack", name, param)
        coerced = spec.coerce(value)
        if self._attack_values[name].get(param) != coerced:
            self._attack_values[name][param] = coerced
            if name == self._attack:
                self.attack_changed.emit()

    def set_target(self, index: int | None) -> None:
        if index is not None and not 0 <= int(index) < len(imagenet_classes()):
            raise ValueError(f"target class {index} is not an ImageNet class")
        index = None if index is None else int(index)
        if index != self._target:
            self._target = index
            self.attack_changed.emit()

    @property
    def attack_defense_aware(self) -> bool:
        """Whether the current attack is crafted through the defense (so a defense change redoes it)."""
        return ATTACKS[self._attack].defense_aware

    @property
    def precision(self) -> str:
        """Of the attack's gradient steps (fp32, bf16): a setting, not a toolbar value."""
        return str(self._precision)

    def set_precision(self, value: str) -> None:
        """Checked by the core's spec; a change redoes the attack."""
        coerced = PRECISION.coerce(value)
        if coerced != self._precision:
            self._precision = coerced
            self.attack_changed.emit()

    def attack_config(self) -> AttackConfig:
        values = tuple(sorted(self._attack_values[self._attack].items()))
        defense_key = self.defense_config().key() if self.attack_defense_aware else None
        return AttackConfig(self._attack, values, self._target, defense_key, self.precision)

    # ----- defense ----------------------------------------------------------------------------------
    @property
    def defense(self) -> str:
        return self._defense

    @property
    def defense_enabled(self) -> bool:
        return self._defense_enabled

    def defense_values(self, name: str | None = None) -> dict[str, object]:
        return dict(self._defense_values[name or self._defense])

    def set_defense(self, name: str) -> None:
        if name not in self._defense_values:
            raise ValueError(f"unknown defense {name!r}")
        if name != self._defense:
            self._defense = name
            self.defense_changed.emit()

    def param_limits(self, defense: str | None = None) -> dict[str, int]:
        """Upper limits of a defense's parameters that come from the dictionary in use (K ≤ atoms)."""
        return DEFENSES[defense or self._defense].param_limits(self._dictionary.dictionary)

    def set_defense_param(self, param: str, value: object, defense: str | None = None) -> None:
        name = defense or self._defense
        spec = param_spec("defense", name, param)
        coerced = spec.coerce(value)
        limit = self.param_limits(name).get(param)
        if limit is not None and coerced > limit:
            raise ValueError(f"{spec.label.split(' (')[0]} must not exceed the dictionary's {limit} atoms")
        if self._defense_values[name].get(param) != coerced:
            self._defense_values[name][param] = coerced
            if name == self._defense:
                self.defense_changed.emit()

    def set_defense_enabled(self, enabled: bool) -> None:
        if bool(enabled) != self._defense_enabled:
            self._defense_enabled = bool(enabled)
            self.defense_changed.emit()

    def defense_config(self) -> DefenseConfig:
        uses = DEFENSES[self._defense].needs_dictionary
        return DefenseConfig(
            self._defense,
            tuple(sorted(self._defense_values[self._defense].items())),
            self._defense_enabled,
            self._dictionary.dictionary if uses else None,
            self._dictionary.ident if uses else "",
            self.device,
        )

    # ----- dictionary and classifier ----------------------------------------------------------------
    @property
    def dictionary(self) -> DictionaryInfo:
        return self._dictionary

    def set_dictionary(self, info: DictionaryInfo) -> None:
        """Use another dictionary; values above its limits (K > atoms) are lowered to them."""
        self._dictionary = info
        for name, values in self._defense_values.items():
            for param, limit in self.param_limits(name).items():
                if isinstance(values.get(param), int) and values[param] > limit:
                    values[param] = limit
        self.dictionary_changed.emit()
        if DEFENSES[self._defense].needs_dictionary:
            self.defense_changed.emit()

    def set_classifier(self, classifier: object | None, title: str) -> None:
        self.classifier = classifier
        self.classifier_title = title
        self.classifier_changed.emit()
