"""Where ``rsdesk attack`` spends its forward passes: one clean pass per batch (to tell an image the model
gets wrong before the attack: never "fooled"), none of the attack's own when every label is handed in, the
gradient steps, the attack's verdict, and each saved file judged as it is."""

from __future__ import annotations

import shutil

import pytest
import torch
from cli_helpers import CAMERA, COFFEE, records

from rsdesk.cli import main
from rsdesk.core.attacks import create_attack
from rsdesk.core.io.images import load_image
from rsdesk.core.models.classifier import Classifier


def _forward_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """(batch size, grad enabled) of every classifier forward pass from now on."""
    sizes: list[tuple[int, bool]] = []
    original = Classifier.forward

    def forward(self, x):
        sizes.append((int(x.shape[0]), torch.is_grad_enabled()))
        return original(self, x)

    monkeypatch.setattr(Classifier, "forward", forward)
    return sizes


def test_known_labels_need_no_clean_forward_pass(monkeypatch, tiny_classifier, tiny_batch):
    sizes = _forward_sizes(monkeypatch)
    bim = create_attack("bim", eps=2, steps=3)
    known = bim.run(tiny_classifier, tiny_batch, labels=[1, 2, 3, 4])
    assert sizes == [(4, True)] * 3 + [(4, False)]  # the steps, then the verdict: nothing thrown away
    assert [o.reference for o in known] == [1, 2, 3, 4]
    sizes.clear()
    partly = bim.run(tiny_classifier, tiny_batch, labels=[1, None, 3, 4])
    assert sizes[0] == (4, False) and len(sizes) == 5  # a missing label: the clean prediction stands in
    with torch.no_grad():
        assert partly[1].reference == int(tiny_classifier(tiny_batch[1:2]).argmax())


@pytest.mark.slow
def test_a_labelled_folder_costs_one_clean_forward_pass(monkeypatch, capsys, tmp_path, classifier):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "coffee.jpg")
    shutil.copy(CAMERA, folder / "camera.jpg")
    (folder / "labels.csv").write_text("file,class_index\ncoffee.jpg,967\ncamera.jpg,872\n")
    sizes = _forward_sizes(monkeypatch)
    args = ["attack", "--json", "--quiet", "--attack", "fgsm", "--eps", "2", str(folder), "--out"]
    assert main([*args, str(tmp_path / "out")]) == 0
    # one clean pass (an image the model gets wrong clean is never "fooled": core/verdicts), the gradient
    # and the attack's verdict (no clean pass of the attack's own: every label is handed in), each saved file
    assert sizes == [(2, False), (2, True), (2, False), (1, False), (1, False)]
    recs = records(capsys.readouterr().out)
    assert [r["file"] for r in recs] == [str(folder / "camera.jpg"), str(folder / "coffee.jpg")]
    for rec, true in zip(recs, (872, 967)):
        pred = classifier.classify(load_image(rec["out"]))  # as judged one by one, on the saved file
        assert [c["index"] for c in rec["top5"]] == [c.index for c in pred.top(5)]
        assert [c["prob"] for c in rec["top5"]] == pytest.approx([c.prob for c in pred.top(5)], abs=1e-5)
        assert rec["success"] == (pred.index != true)
