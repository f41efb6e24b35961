"""Declared, range-checked parameters shared by attacks and defenses (the CLI and the GUI read them too), and
the one rule that finds a method in a registry by the name a user typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: What a user may type for "leave it unset" (an optional parameter's derived default).
UNSET_WORDS = frozenset({"", "none", "auto"})


@dataclass(frozen=True)
class Param:
    """One tunable parameter: default, valid range, and whether it may be left unset (None)."""

    name: str
    label: str
    default: float | int | bool | str | None
    minimum: float = 0.0
    maximum: float = 1.0
    help: str = ""
    integer: bool = False
    optional: bool = False  # None allowed: "use the derived default" (e.g. BIM's α = ε / steps)
    #: the short symbol in figure labels and tables ("K", "θ", "q"); default: the name
    symbol: str = ""
    #: how a one-line summary writes it, "{}" standing for the value ("{} steps", "c {:g}"); "" leaves it out
    brief: str = ""
    #: 0 is within the range but means "no effect at all" (a step size, a budget): the CLI refuses it
    positive: bool = False
    #: a word from this list instead of a number (BPDA's surrogate); the range is then unused
    choices: tuple[str, ...] = ()

    @property
    def is_bool(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def short(self) -> str:
        """The symbol figure labels use (``K``), else the name."""
        return self.symbol or self.name

    def coerce(self, value: object) -> float | int | bool | str | None:
        """Convert and range-check ``value``; the message names the parameter and its range."""
        if self.choices:
            text = "" if value is None else str(value).strip().lower()
            if text in self.choices:
                return text
            raise ValueError(f"{self.label}: {value!r} is not one of {', '.join(self.choices)}")
        if value is None or (isinstance(value, str) and value.strip().lower() in UNSET_WORDS):
            if self.optional:
                return None
            raise ValueError(f"{self.label} needs a value")
        if self.is_bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{self.label}: {value!r} is not on/off")
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.label}: {value!r} is not a number") from exc
        if v != v:  # NaN
            raise ValueError(f"{self.label}: not a number")
        if not self.minimum <= v <= self.maximum:
            raise ValueError(f"{self.label} must be within {self.minimum:g}…{self.maximum:g}, got {v:g}")
        if self.integer:
            if v != int(v):
                raise ValueError(f"{self.label} must be a whole number, got {v:g}")
            return int(v)
        return v


def resolve_params(
    specs: tuple[Param, ...], values: Mapping[str, object], owner: str
) -> dict[str, float | int | bool | str | None]:
    """Defaults overlaid with ``values`` (None means "keep the default"), every value checked."""
    by_name = {p.name: p for p in specs}
    unknown = set(values) - set(by_name)
    if unknown:
        raise ValueError(
            f"{owner}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(by_name) or 'none'}"
        )
    out = {p.name: p.default for p in specs}
    for k, v in values.items():
        if v is not None:
            out[k] = by_name[k].coerce(v)
    return out


def format_params(values: Mapping[str, object]) -> str:
    """``k=4, theta=1`` (unset optional values left out)."""
    parts = []
    for k, v in values.items():
        if v is None:
            continue
        parts.append(f"{k}={v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k}={v}")
    return ", ".join(parts)


def lookup(registry: Mapping[str, T], aliases: Mapping[str, str], name: str, kind: str) -> T:
    """The entry a typed name means: case, ``-`` and ``_`` ignored, then aliases; unknown → ValueError
    listing the choices (``unknown attack 'x'; choose one of fgsm, bim, …``)."""

    def plain(text: str) -> str:
        return text.lower().replace("-", "").replace("_", "")

    key = plain(name)
    key = aliases.get(key, key)
    by_plain = {plain(k): v for k, v in registry.items()}
    if key not in by_plain:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {', '.join(registry)}")
    return by_plain[key]
