"""What every check of a run reads (:mod:`.checks`, :mod:`.masking`): the run as a check sees it
(:class:`RunView`: plan, cells, rows, completeness), a check's outcome (:class:`Check`), the worst-case
pseudo-attack keys, and the small comparisons the checks share (a filled cell, "above the interval").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rsdesk.core.attacks import attack_class
from rsdesk.core.attacks.base import LINF
from rsdesk.core.evaluation.plan import AttackEntry, Plan

#: (attack key, strength, defense key)
Cell = tuple[str, float, str]
Cells = Mapping[Cell, dict[str, Any]]
Rows = Sequence[Mapping[str, Any]]
#: the pseudo-attack that holds, per image, the worst case over every attack run at one L∞ strength (other
#: strength kinds: :func:`worst_key`)
WORST = "worst-case"


def worst_key(kind: str) -> str:
    """The pseudo-attack key of the per-image worst case at the budgets of one strength kind:
    ``worst-case`` for L∞ (as summary.json always named it), ``worst-case-d`` for d …"""
    return WORST if kind == LINF.kind else f"{WORST}-{kind}"


def is_worst(key: str) -> bool:
    """Whether an attack key of a summary is a worst-case pseudo-attack, not an attack that ran."""
    return key == WORST or key.startswith(WORST + "-")


def gradient_free(entry: AttackEntry) -> bool:
    """The entry's attack needs no gradient (Square), by its trait."""
    return bool(getattr(attack_class(entry.name), "gradient_free", False))


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``ok`` is None where the run holds nothing to check."""

    name: str
    failures: tuple[str, ...]
    applicable: bool
    passed: str

    def as_dict(self) -> dict[str, Any]:
        """``{"name", "ok", "detail"}`` as summary.json holds it (at most eight failures spelled out)."""
        f = self.failures
        detail = "; ".join(f[:8]) + (f"; … {len(f) - 8} more" if len(f) > 8 else "")
        return {
            "name": self.name,
            "ok": (not f) if self.applicable else None,
            "detail": detail if f else self.passed if self.applicable else "nothing to check in this run",
        }


@dataclass(frozen=True)
class RunView:
    """What every check reads: the plan, the cells, the rows and (rows present, rows asked for)."""

    plan: Plan
    cells: Cells
    rows: Rows
    complete: tuple[int, int]

    @cached_property
    def outcomes(self) -> dict[Cell, dict[str, bool]]:
        """Per cell, each counted image's outcome (right or not): what a paired comparison on the images
        two cells share reads."""
        out: dict[Cell, dict[str, bool]] = defaultdict(dict)
        for r in self.rows:
            if int(r["counted"]):
                out[(str(r["attack"]), float(r["strength"]), str(r["defense"]))][str(r["file"])] = bool(
                    int(r["correct"])
                )
        return dict(out)

    def shared(self, a: Cell, b: Cell) -> tuple[int, int, int]:
        """(images both cells hold, right in ``a``, right in ``b``) over those images only."""
        oa, ob = self.outcomes.get(a, {}), self.outcomes.get(b, {})
        both = oa.keys() & ob.keys()
        return len(both), sum(oa[f] for f in both), sum(ob[f] for f in both)


def filled_cell(cells: Cells, a: str, s: float, d: str) -> dict[str, Any] | None:
    """The cell (attack, strength, defense) if it holds at least one counted image, else None."""
    c = cells.get((a, s, d))
    return c if c and c["n"] else None


def above(c: Mapping[str, Any], ref: Mapping[str, Any]) -> bool:
    """``c``'s accuracy lies above ``ref``'s 95 % interval."""
    return bool(c["accuracy"] > ref["ci_high"] + 1e-12)
