"""The house keeps its shape: the headless engine never imports Qt (nor does the CLI at import time), the
layers hold, no module outgrows 400 lines, and nothing outside the core tests a method by its name."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "rsdesk" / "core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "rsdesk.gui")


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def _imported_modules(tree: ast.AST, package: str) -> list[str]:
    """Every module an AST imports, at any depth (functions included), relative imports resolved."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.append(mod)
            found += [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call):
            # importlib.import_module("X") / __import__("X") with a literal name
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if (
                name in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.append(str(node.args[0].value))
    return found


def test_core_sources_import_no_qt():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 15
    offenders = {}
    for path in files:
        package = ".".join(("rsdesk", *path.relative_to(ROOT / "rsdesk").parent.parts))
        mods = _imported_modules(ast.parse(path.read_text(encoding="utf-8")), package)
        bad = [m for m in mods if _is_forbidden(m)]
        if bad:
            offenders[str(path.relative_to(CORE))] = bad
    assert not offenders, f"Qt imports in the headless core: {offenders}"


def test_the_ast_scan_would_notice_a_qt_import():
    sample = (
        "def f():\n    from PySide6.QtWidgets import QApplication\n"
        "import importlib\nimportlib.import_module('pyqtgraph')\n"
    )
    mods = _imported_modules(ast.parse(sample), "rsdesk.core")
    assert [m for m in mods if _is_forbidden(m)] == [
        "PySide6.QtWidgets",
        "PySide6.QtWidgets.QApplication",
        "pyqtgraph",
    ]
    rel = _imported_modules(ast.parse("from ..gui import app\n"), "rsdesk.core")
    assert "rsdesk.gui" in rel


def test_cli_imports_the_gui_only_when_asked():
    files = sorted((ROOT / "rsdesk" / "cli").glob("*.py"))
    assert {p.name for p in files} >= {"__init__.py", "router.py"} and len(files) >= 7
    offenders = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # everything a module runs when imported: its top level, class bodies included
        top_level = _imported_modules(
            ast.Module(
                body=[n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)],
                type_ignores=[],
            ),
            "rsdesk.cli",
        )
        bad = [m for m in top_level if _is_forbidden(m)]
        if bad:
            offenders[path.name] = bad
    assert not offenders, f"the CLI imports Qt or the GUI at import time: {offenders}"


@pytest.mark.slow
def test_importing_and_running_the_core_loads_no_qt(tmp_path):
    code = f"""
import importlib, json, pkgutil, sys
import rsdesk.core
names = sorted(m.name for m in pkgutil.walk_packages(rsdesk.core.__path__, "rsdesk.core."))
for n in names:
    importlib.import_module(n)
import rsdesk.cli
# run a real command too: the CLI's lazy imports must not pull Qt in either
code = rsdesk.cli.main(["classify", "--json", {str(ROOT / "resources" / "samples" / "coffee.jpg")!r}])
qt = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r} or m.startswith("rsdesk.gui"))
print(json.dumps({{"modules": names, "qt": qt, "code": code}}))
"""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    expected = sorted(
        ".".join(("rsdesk", "core", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")
        for p in CORE.rglob("*.py")
        if p != CORE / "__init__.py"
    )
    assert result["modules"] == expected
    assert result["qt"] == []


@pytest.mark.slow
def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).is_file():
        pytest.skip("import-linter is not installed")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The core never imports Qt KEPT" in proc.stdout
    assert "Layers: the CLI and the GUI above the core KEPT" in proc.stdout
    assert "Layers inside the core: io below models and sparse" in proc.stdout
    assert "Layers inside the GUI: widgets below models below tasks below views KEPT" in proc.stdout
    assert "0 broken" in proc.stdout


def _method_names() -> set[str]:
    from rsdesk.core.attacks import _ALIASES as ATTACK_ALIASES
    from rsdesk.core.attacks import ATTACKS
    from rsdesk.core.defenses import _ALIASES as DEFENSE_ALIASES
    from rsdesk.core.defenses import DEFENSES

    return {*ATTACKS, *DEFENSES, *ATTACK_ALIASES, *DEFENSE_ALIASES}


def _name_comparisons(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """``x == "bpda"``, ``name in ("cw", …)``, ``match x: case "tvm"``: a method told apart by its name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                values = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                for v in values:
                    if isinstance(v, ast.Constant) and v.value in names:
                        found.append((node.lineno, v.value))
        elif (
            isinstance(node, ast.MatchValue)
            and isinstance(node.value, ast.Constant)
            and node.value.value in names
        ):
            found.append((node.lineno, node.value.value))
    return found


def test_no_comparison_with_a_method_name_anywhere():
    """Traits (``defense_aware``, ``strength``, ``budget``, ``needs_dictionary``…) say what a method is; a new
    attack or defense must not need an edit in the GUI, the CLI or the evaluation."""
    names = _method_names()
    offenders = {}
    for path in sorted((ROOT / "rsdesk").rglob("*.py")):
        rel = path.relative_to(ROOT / "rsdesk")
        hits = _name_comparisons(ast.parse(path.read_text(encoding="utf-8")), names)
        if hits:
            offenders[str(rel)] = hits
    assert not offenders, f"method names compared: {offenders}"


def test_the_name_scan_would_notice_one():
    sample = (
        'if cfg.name == "bpda":\n    pass\n'
        'ok = attack in ("cw", "x")\n'
        'match d:\n    case "tvm":\n        pass\n'
    )
    assert _name_comparisons(ast.parse(sample), _method_names()) == [(1, "bpda"), (3, "cw"), (5, "tvm")]


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted((ROOT / "rsdesk").rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"split these by role: {long}"


def test_the_core_is_sorted_by_role():
    """At most eight modules stay flat in core/ (the small shared vocabulary); the rest live in role
    sub-packages, each named by its path (core/io, core/models, core/attacks, core/defenses, core/sparse,
    core/evaluation, core/training)."""
    flat = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= 8, flat
    packages = sorted(p.parent.name for p in CORE.glob("*/__init__.py"))
    assert packages == ["attacks", "defenses", "evaluation", "io", "models", "sparse", "training"]
