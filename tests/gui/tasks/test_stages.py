"""The pipeline's stage functions run (and import) without Qt."""

from __future__ import annotations

import pytest

from rsdesk.core.io.assets import resource_path
from rsdesk.core.io.images import load_image, resize_center_crop
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.configs import AttackConfig, DefenseConfig, DictionaryInfo
from rsdesk.gui.tasks import stages


def test_stage_functions_without_qt(classifier, tmp_path):
    img = resize_center_crop(load_image(resource_path("samples", "coffee.jpg")), 224)
    orig = stages.run_original(classifier, tmp_path / "coffee.jpg", img, 967)
    assert orig.judgement.verdict is Verdict.CORRECT and orig.reference == 967
    cfg = AttackConfig("fgsm", (("eps", 8.0),))
    adv = stages.run_attack(classifier, orig, cfg, None)
    assert adv.fooled == (adv.prediction.index != 967)
    assert adv.stats.linf == pytest.approx(8.0, abs=0.01)
    from rsdesk.core.io.assets import default_dictionary_path
    from rsdesk.core.sparse.dictionary_file import load_dictionary

    info = DictionaryInfo(load_dictionary(default_dictionary_path()))
    dcfg = DefenseConfig("regionsparse", (("k", 4), ("stride", 4), ("theta", 1.0)), True, info.dictionary)
    pur = stages.run_purify(classifier, orig, adv, dcfg)
    assert 20 < pur.psnr < 60
    assert pur.judgement.verdict in (Verdict.RECOVERED, Verdict.STILL_FOOLED, Verdict.CORRECT, Verdict.BROKEN)
    out = stages.run_explain(classifier, {"a": img}, profiles=True)
    assert out.cams["a"].heat.shape == (224, 224) and out.profiles["a"].layer_names


def test_stage_logic_imports_no_qt():
    """Verdicts, configurations and stage functions stay usable (and testable) without Qt."""
    import subprocess
    import sys

    code = (
        "import sys, rsdesk.gui.tasks.stages, rsdesk.core.verdicts, rsdesk.gui.models.configs, "
        "rsdesk.gui.models.stage_results, rsdesk.gui.tasks.cache; "
        "print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
