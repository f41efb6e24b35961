"""The persisted user settings: one plain dataclass, saved as JSON beside a schema version.

Plain Python on purpose (no Qt): the CLI, the dialog and the tests all read the same model, and a bad or
foreign file can never stop the app from starting — every bad value falls back to its default with a
warning the window can show once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.attacks.base import LINF, Strength
from rsdesk.core.defenses import DEFENSES
from rsdesk.core.io.files import atomic_write
from rsdesk.core.models.precision import PRECISION, bf16_unsupported_reason
from rsdesk.core.params import Param
from rsdesk.core.sparse.training import TRAINING_PARAMS, TrainingConfig
from rsdesk.gui.models.configs import param_spec
from rsdesk.gui.models.export_size import DEFAULT_EXPORT_SIZE, export_size_problem

SCHEMA_VERSION = 1
SETTINGS_FILE = "settings.json"

# Labels of the fields that hold no core parameter (names, files, the device); every other field is labelled
# by the spec of the parameter it holds (:func:`field_label`), so a label is never typed twice.
FIELD_LABELS: dict[str, str] = {
    "defense": "Defense",
    "dictionary_path": "Dictionary file",
    "attack": "Attack",
    "classifier": "Classifier",
    "weights": "Weights file",
    "device": "Device",
    "export_size": "Export size",
    "dictionary_announced": "Dictionary announced",
}

DEVICES = ("cpu", "cuda", "auto")

#: The settings file's schema (version 1) names some fields after one method: which method parameter
#: each holds, as (kind, method, parameter). Read by validation, ``defense_params`` and the settings
#: bridge: the one table to touch when a method's parameter gets a persisted default.
METHOD_FIELDS: dict[str, tuple[str, str, str]] = {
    "k": ("defense", "regionsparse", "k"),
    "theta": ("defense", "regionsparse", "theta"),
    "stride": ("defense", "regionsparse", "stride"),
    "bilateral_d": ("defense", "regionsparse", "bilateral_d"),
    "sigma_color": ("defense", "regionsparse", "sigma_color"),
    "sigma_space": ("defense", "regionsparse", "sigma_space"),
    "cw_c": ("attack", "cw", "c"),
    "cw_steps": ("attack", "cw", "steps"),
    "cw_kappa": ("attack", "cw", "kappa"),
}
#: Fields named after a parameter that several attacks share, with the kind of budget the value is (None:
#: not a budget). Every attack that has the parameter takes the value, unless a METHOD_FIELDS entry gives that
#: attack its own (CW-L2's steps) or the field is a budget of another kind than the attack's: ε is an L∞
#: budget in /255, never an L2 attack's radius that happens to be called ``eps`` too.
SHARED_ATTACK_FIELDS: dict[str, Strength | None] = {"eps": LINF, "steps": None}
#: Fields holding a core setting no single method owns, by its spec (the attacks' gradient precision).
CORE_FIELDS: dict[str, Param] = {"precision": PRECISION}
#: Fields holding the dictionary-training parameter of the same name (:data:`TRAINING_PARAMS`).
TRAINING_FIELDS = ("h", "patch_size", "n_atoms", "patches_per_image")
# A problem that stays when its field already holds the default lies in the field it depends on.
_DEPENDS_ON = {"k": "dictionary_path", "weights": "classifier"}


@dataclass
class Settings:
    """Everything the user can change in the Settings dialog, with the measured defaults."""

    # defense
    defense: str = "regionsparse"
    k: int = 4
    theta: float = 1.0
    stride: int = 4
    bilateral_d: int = 9
    sigma_color: float = 75.0
    sigma_space: float = 75.0
    dictionary_path: str = ""  # "" = the bundled default dictionary
    dictionary_announced: str = ""  # the file a start last said it uses instead of the default (once)
    # dictionary training
    h: float = 10.0
    patch_size: int = 8
    n_atoms: int = 256
    patches_per_image: int = 2000
    # attack defaults
    attack: str = "bim"
    eps: float = 8.0
    steps: int = 10
    cw_c: float = 0.1
    cw_steps: int = 100
    cw_kappa: float = 0.0
    precision: str = PRECISION.default  # of the attacks' gradient steps: fp32 | bf16
    # classifier
    classifier: str = "efficientnet-lite0"
    weights: str = ""
    device: str = "cpu"  # cpu | cuda | auto
    # exports: the panel grid's and the story steps' size (2x, 1x, 1920px…; see models/export_size)
    export_size: str = DEFAULT_EXPORT_SIZE

    def field_problems(self) -> list[tuple[str, str]]:
        """(field name, message) for every invalid value, so callers can point at the widget or reset it."""
        out: list[tuple[str, str]] = []
        for name, problem in _problems(self):
            out.append((name, f"{field_label(name)}: {problem}"))
        return out

    def validate(self) -> list[str]:
        """Human-readable problems, [] if every value is usable."""
        return [msg for _name, msg in self.field_problems()]

    def defense_params(self) -> dict[str, object]:
        """Keyword arguments for ``create_defense(self.defense, ...)``: the values these settings hold for
        that defense (none for most baselines: they keep their defaults)."""
        return {
            param: getattr(self, field)
            for field, (kind, method, param) in METHOD_FIELDS.items()
            if kind == "defense" and method == self.defense
        }

    def dictionary_file(self) -> Path:
        """The dictionary RegionSparse should load: the user's file, else the bundled default."""
        from rsdesk.core.io.assets import default_dictionary_path

        return Path(self.dictionary_path).expanduser() if self.dictionary_path else default_dictionary_path()

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(
            h=float(self.h),
            patch_size=int(self.patch_size),
            patches_per_image=int(self.patches_per_image),
            n_atoms=int(self.n_atoms),
        )


# ----- the core's specs of the fields ----------------------------------------------------------------


def shared_attack_targets(field: str) -> list[str]:
    """The attacks a shared field (ε, steps) applies to: those with the parameter and no own field for it,
    and, for a budget, whose strength is that kind of budget set by that parameter."""
    strength = SHARED_ATTACK_FIELDS[field]
    own = {(method, param) for kind, method, param in METHOD_FIELDS.values() if kind == "attack"}
    return [
        name
        for name, cls in ATTACKS.items()
        if any(p.name == field for p in cls.PARAMS)
        and (name, field) not in own
        and (strength is None or (cls.strength.kind, cls.strength.param) == (strength.kind, field))
    ]


def shared_attack_param(field: str) -> Param:
    """The spec of a shared attack field (ε, steps): the parameter as the attacks it applies to declare it
    (they share one ``Param`` object for it)."""
    name = shared_attack_targets(field)[0]
    return param_spec("attack", name, field)


def field_spec(field: str) -> Param | None:
    """The core spec of the parameter a settings field holds (its range, label and help); None for the
    fields that hold a name, a file or the device."""
    if field in METHOD_FIELDS:
        return param_spec(*METHOD_FIELDS[field])
    if field in SHARED_ATTACK_FIELDS:
        return shared_attack_param(field)
    if field in TRAINING_FIELDS:
        return next(p for p in TRAINING_PARAMS if p.name == field)
    return CORE_FIELDS.get(field)


def field_label(field: str) -> str:
    """What the dialog and every message call a field: its spec's label, capitalized where it starts with a
    word (``Patch stride``; ``θ (region weight)`` stays), and prefixed with the method a field is named after
    (the schema's ``cw_c`` is ``CW c``)."""
    spec = field_spec(field)
    if spec is None:
        return FIELD_LABELS.get(field, field)
    method = METHOD_FIELDS.get(field)
    if method is not None and field != method[2]:
        return f"{field.removesuffix('_' + method[2]).upper()} {spec.label}"
    first = spec.label.split(" ", 1)[0]
    return spec.label[:1].upper() + spec.label[1:] if len(first) > 1 else spec.label


# ----- validation ------------------------------------------------------------------------------------


def _param_problem(spec: Param, value: object) -> str | None:
    """Range-check against a core ``Param``; the message without the label (the caller adds ours)."""
    try:
        spec.coerce(value)
    except ValueError as exc:
        text = str(exc)
        return text.removeprefix(spec.label).lstrip(": ") or text
    return None


def _range_problems(s: Settings, names: Iterable[str]) -> list[tuple[str, str]]:
    """Each field checked against the core spec of the parameter it holds."""
    out = []
    for name in names:
        problem = _param_problem(field_spec(name), getattr(s, name))  # type: ignore[arg-type]
        if problem:
            out.append((name, problem))
    return out


def _problems(s: Settings) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if s.defense not in DEFENSES:
        out.append(("defense", f"unknown defense {s.defense!r}; choose one of {', '.join(DEFENSES)}"))
    out += _range_problems(s, (f for f, m in METHOD_FIELDS.items() if m[0] == "defense"))
    out += _dictionary_problems(s)
    out += _range_problems(s, TRAINING_FIELDS)
    if s.attack not in ATTACKS:
        out.append(("attack", f"unknown attack {s.attack!r}; choose one of {', '.join(ATTACKS)}"))
    out += _range_problems(s, SHARED_ATTACK_FIELDS)
    out += _range_problems(s, (f for f, m in METHOD_FIELDS.items() if m[0] == "attack"))
    out += _range_problems(s, CORE_FIELDS)
    classifier = _classifier_problems(s)
    out += classifier
    if not any(name == "device" for name, _ in classifier):
        out += _precision_problems(s)
    if (problem := export_size_problem(s.export_size)) is not None:
        out.append(("export_size", problem))
    return out


def _precision_problems(s: Settings) -> list[tuple[str, str]]:
    """bf16 gradients on a device that cannot run them natively (the device is valid by now)."""
    if s.precision != "bf16":
        return []
    import torch

    device = "cuda" if s.device == "cuda" or (s.device == "auto" and torch.cuda.is_available()) else "cpu"
    reason = bf16_unsupported_reason(device)
    return [("precision", f"bf16 is not supported on {device}: {reason}")] if reason else []


def _dictionary_problems(s: Settings) -> list[tuple[str, str]]:
    from rsdesk.core.errors import DictionaryError
    from rsdesk.core.sparse.dictionary_file import load_dictionary

    if not s.dictionary_path:
        return []
    path = Path(s.dictionary_path).expanduser()
    if not path.is_file():
        return [("dictionary_path", f"file not found: {path}")]
    try:
        d = load_dictionary(path)
    except DictionaryError as exc:
        return [("dictionary_path", str(exc))]
    out: list[tuple[str, str]] = []
    for field, (kind, method, param) in METHOD_FIELDS.items():
        limit = DEFENSES[method].param_limits(d).get(param) if kind == "defense" else None
        value = getattr(s, field)
        if limit is not None and isinstance(value, int) and value > limit:
            out.append((field, f"must not exceed the dictionary's {limit} atoms, got {value}"))
    return out


def _classifier_problems(s: Settings) -> list[tuple[str, str]]:
    from rsdesk.core.errors import ClassifierError
    from rsdesk.core.models import classifier_spec

    out: list[tuple[str, str]] = []
    spec = None
    try:
        spec = classifier_spec(s.classifier)
    except ClassifierError as exc:
        out.append(("classifier", str(exc)))
    if s.weights:
        path = Path(s.weights).expanduser()
        if not path.is_file():
            out.append(("weights", f"file not found: {path}"))
    elif spec is not None and spec.needs_weights:
        out.append(("weights", f"{spec.title} needs a weights file (RSDesk never downloads weights)"))
    if s.device not in DEVICES:
        out.append(("device", f"must be one of {', '.join(DEVICES)}, got {s.device!r}"))
    elif s.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            out.append(("device", "CUDA is not available on this computer; choose cpu or auto"))
    return out


# ----- files ---------------------------------------------------------------------------------------------


def config_dir() -> Path:
    """Where settings live: ``$RSDESK_CONFIG_DIR`` (tests, portable installs) or the platform's config dir."""
    env = os.environ.get("RSDESK_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("rsdesk"))


def data_dir() -> Path:
    """Where trained dictionaries and exports go: ``$RSDESK_DATA_DIR`` or the platform's data dir."""
    env = os.environ.get("RSDESK_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("rsdesk"))


def log_dir() -> Path:
    """Where the crash log goes: ``$RSDESK_LOG_DIR`` (tests, portable installs) or the platform's log dir."""
    env = os.environ.get("RSDESK_LOG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_log_dir("rsdesk"))


def _coerce(value: object, default: object) -> object:
    """Convert a JSON value to the type of the field's default; raise ValueError when it does not fit."""
    if isinstance(value, bool):  # JSON true/false is never a number or a name here
        raise ValueError(f"expected {type(default).__name__}, found {json.dumps(value)}")
    if isinstance(default, int):
        if isinstance(value, (int, float)) and float(value) == int(value):
            return int(value)
        raise ValueError(f"expected a whole number, found {json.dumps(value)}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
            return float(value)
        raise ValueError(f"expected a number, found {json.dumps(value)}")
    if isinstance(value, str):
        return value
    raise ValueError(f"expected text, found {json.dumps(value)}")


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """Read settings; never raises. Bad fields get their default and one warning each."""
    path = Path(path) if path is not None else config_dir() / SETTINGS_FILE
    defaults = Settings()
    if not path.exists():
        return defaults, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return defaults, [f"{path.name} could not be read ({exc}); using the default settings"]
    if not isinstance(data, dict):
        return defaults, [f"{path.name} is not an RSDesk settings file; using the default settings"]
    warnings: list[str] = []
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        warnings.append(
            f"{path.name} was written by a newer RSDesk (schema {version}); settings this version does not "
            "know are ignored"
        )
    values: dict[str, object] = {}
    for f in fields(Settings):
        if f.name not in data:
            continue
        default = getattr(defaults, f.name)
        try:
            values[f.name] = _coerce(data[f.name], default)
        except ValueError as exc:
            warnings.append(f"{field_label(f.name)}: {exc}; using the default ({default!r})")
    settings = replace(defaults, **values)
    # Reset invalid values until none is left (resetting one can expose another, e.g. K vs. atoms).
    for _ in range(len(fields(Settings))):
        problems = settings.field_problems()
        if not problems:
            break
        for name, msg in problems:
            if getattr(settings, name) == getattr(defaults, name) and name in _DEPENDS_ON:
                name = _DEPENDS_ON[name]
            default = getattr(defaults, name)
            warnings.append(f"{msg}; using the default {field_label(name)} ({default!r})")
            setattr(settings, name, default)
    return settings, warnings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically as JSON (readers never see half a file)."""
    path = Path(path) if path is not None else config_dir() / SETTINGS_FILE
    payload = {"schema_version": SCHEMA_VERSION, **asdict(settings)}
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
