"""What the Evaluate tab says about a run beside its numbers, and what a clicked cell can show on the panels.
Qt-free, read from plan.json and the run directory only:

- which dictionary the run's RegionSparse rows used, against the window's (:func:`dictionary_check`): a
  cell's purified panel is purified with the window's dictionary, so the tab says when the two differ and
  offers the run's file where it is here;
- whether the run kept its adversarial images (:func:`adversarials_kept`): the panels show a cell's own
  adversarial only from its ``.npy``;
- how a cell's attack is crafted again on the toolbar when its ``.npy`` is missing, at the cell's strength
  with the run's parameters (:func:`recraft`), or in one clause why the window cannot (a transferred
  attack, a rescaled one, another classifier).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.defenses.regionsparse import is_dictionary_name
from rsdesk.core.evaluation.plan import PER_ROW_THREATS
from rsdesk.core.io.assets import default_dictionary_path, file_sha256
from rsdesk.gui.models.evaluation import Cell, EvaluationResults


@functools.lru_cache(maxsize=32)
def _sha256(path: str, stamp: tuple[int, int]) -> str:
    return file_sha256(path)


def sha256_of(path: Path | None) -> str | None:
    """A file's SHA-256, cached while its size and time stay (None: no such file)."""
    try:
        st = Path(path).stat() if path is not None else None
    except OSError:
        return None
    return None if st is None else _sha256(str(path), (st.st_mtime_ns, st.st_size))


def dictionary_name(identity: Mapping[str, Any]) -> str:
    """How a line names a dictionary plan.json records: "default" (the bundled one), its file's name, or
    what it was (noTR's random atoms)."""
    sha = identity.get("sha256")
    if sha is None:
        return str(identity.get("note") or "random atoms")
    if sha == sha256_of(default_dictionary_path()):
        return "default"
    return Path(str(identity["file"])).name if identity.get("file") else f"SHA-256 {sha[:12]}…"


def _own_dictionaries(run_json: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The recorded dictionaries of the rows that name none of the bundled ones (the window's counterpart:
    the default or a file), by defense key; an ablation's (noTR, noIS…) is its own and stays out."""
    plan = run_json.get("plan", {}).get("defenses", {})
    return {
        k: v
        for k, v in (run_json.get("dictionaries") or {}).items()
        if not is_dictionary_name(plan.get(k, {}).get("dictionary"))
    }


def run_dictionary_text(run_json: Mapping[str, Any]) -> str:
    """ "dictionary default", "dictionary trained.npz" — what the run's RegionSparse used ("" without one)."""
    names = dict.fromkeys(dictionary_name(v) for v in _own_dictionaries(run_json).values())
    return f"dictionar{'ies' if len(names) > 1 else 'y'} {', '.join(names)}" if names else ""


@dataclass(frozen=True)
class DictionaryCheck:
    """The run's dictionary against the window's: ``text`` one line ("" when they agree), ``run_file`` the
    run's file to switch the window to (here, and still the file the run recorded), else None."""

    text: str = ""
    run_file: Path | None = None


def dictionary_check(run_json: Mapping[str, Any], window: Path | None) -> DictionaryCheck:
    """Whether the run's RegionSparse used ``window``'s dictionary (None: the bundled one), by SHA-256."""
    path = window or default_dictionary_path()
    mine = sha256_of(path)
    other = [v for v in _own_dictionaries(run_json).values() if v.get("sha256") != mine]
    if not other:
        return DictionaryCheck()
    first = other[0]
    name = dictionary_name(first)
    window_name = "default" if window is None else path.name
    text = (
        f"This run's RegionSparse used the dictionary {name} (SHA-256 {str(first.get('sha256'))[:12]}…); "
        f"the window uses {window_name}, so a clicked cell is purified with the window's."
    )
    file = Path(str(first["file"])) if first.get("file") else None
    if file is None or sha256_of(file) != first.get("sha256"):
        return DictionaryCheck(text + " (The run's file is not on this computer.)")
    return DictionaryCheck(text, file)


def cell_dictionary_note(run_json: Mapping[str, Any], defense: str, window: Path | None) -> str:
    """One line when the cell's defense used another dictionary than the window's ("" otherwise)."""
    identity = (run_json.get("dictionaries") or {}).get(defense)
    if identity is None or identity.get("sha256") == sha256_of(window or default_dictionary_path()):
        return ""
    window_name = "default" if window is None else Path(window).name
    return (
        f"The purified panel uses the window's dictionary ({window_name}), not the run's "
        f"({dictionary_name(identity)})."
    )


def adversarials_kept(results: EvaluationResults) -> tuple[int, int]:
    """(kept, expected): how many of the adversarial images the run's attacked rows stand for are in its
    adversarials/ folder (one listing per folder, not one look-up per file)."""
    attacks = (results.summary or {}).get("attacks", {})
    per_row = {a for a, info in attacks.items() if info.get("threat") in PER_ROW_THREATS}
    images: dict[tuple[str, float, str, str], str] = {}  # one per file, not per row: defenses share it
    for r in results.rows():
        attack, strength, defense = str(r["attack"]), float(r["strength"]), str(r["defense"])
        via = defense if attack in per_row else ""
        if strength != 0:
            images.setdefault((attack, strength, via, str(r["file"])), defense)
    expected: dict[Path, set[str]] = {}
    for (attack, strength, _via, file), defense in images.items():
        path = results.adversarial_file((attack, strength, defense), file)
        if path is not None:
            expected.setdefault(path.parent, set()).add(path.name)
    kept = 0
    for folder, names in expected.items():
        try:
            kept += len(names & set(os.listdir(folder)))
        except OSError:
            pass  # a folder that is not there holds none
    return kept, sum(len(n) for n in expected.values())


def kept_text(kept: int, expected: int) -> str:
    """The tab's line on a run that did not keep (all) its adversarial images; "" when it kept them."""
    if expected == 0 or kept >= expected:
        return ""
    what = "no adversarial images" if kept == 0 else f"{kept} of its {expected} adversarial images"
    return f"This run kept {what}: a clicked cell re-crafts its attack, or says why it cannot."


@dataclass(frozen=True)
class Recraft:
    """The toolbar's attack that crafts a cell's adversarial again: the registry name, its parameters (the
    cell's strength included), and whether it goes through the cell's defense."""

    attack: str
    values: dict[str, Any]
    through_defense: bool


def recraft(run_json: Mapping[str, Any], cell: Cell, classifier: str, weights: str | None) -> Recraft | str:
    """How the window crafts ``cell``'s attack again (the run's parameters at the cell's strength, on the
    window's classifier), or in one clause why it cannot."""
    plan = run_json.get("plan", {})
    entry = plan.get("attacks", {}).get(cell[0])
    cls = ATTACKS.get(str((entry or {}).get("attack")))
    if entry is None or cls is None:
        return f"the window has no attack {cell[0]!r}"
    if entry.get("source"):
        return f"it was crafted on {entry['source']} (the window attacks only its own classifier)"
    if entry.get("strength") not in (None, cls.strength.kind):
        kind = entry["strength"]
        return f"it was crafted at {cls.strength.symbol} and rescaled to {kind}, which the toolbar cannot do"
    row = plan.get("defenses", {}).get(cell[2], {})
    if entry.get("threat") in PER_ROW_THREATS and (row.get("classifier") or row.get("weights")):
        return "it was crafted on the row's own fine-tuned classifier"
    run_model = run_json.get("classifier") or {}
    if run_model.get("name") not in (None, classifier) or not _same_weights(run_model, weights):
        return f"the run's classifier ({run_model.get('title') or run_model.get('name')}) is not the window's"
    values = dict(entry.get("params") or {})
    values[cls.strength.param] = cell[1]
    return Recraft(cls.name, values, cls.defense_aware)


def _same_weights(run_model: Mapping[str, Any], weights: str | None) -> bool:
    """The run's weights file is the window's (by SHA-256 where the run recorded one)."""
    recorded = run_model.get("weights_sha256")
    if recorded is None:
        return not weights  # the run used its family's default weights: so must the window
    if weights:
        return sha256_of(Path(weights)) == recorded
    from rsdesk.core.models.registry import weights_file

    default = weights_file(str(run_model.get("name")), None)
    return default is not None and sha256_of(Path(default)) == recorded


def skipped_text(skipped: list[str]) -> str:
    """``3 files skipped (first: notes.txt: not an image)``: what a run's own walk left out, beside its
    count of images, so "4 of 5 images counted" does not hide the files that never were images."""
    n = len(skipped)
    return f"{n} file{'s' * (n != 1)} skipped ({'first: ' if n > 1 else ''}{skipped[0]})"
