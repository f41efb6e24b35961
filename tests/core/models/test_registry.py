"""A new classifier family is one module plus one registry line in the core, and nothing else.

The module (here: the code above ``FAMILY``) builds a :class:`ClassifierSpec` for each name it offers; the
registry line is its entry in ``rsdesk.core.models.registry.FAMILIES`` (here ``monkeypatch``, standing in
for the line and its import). With no other edit the new classifier loads, classifies, gets CAM heatmaps,
answers the command line and runs an evaluation. The lookups themselves (error text, tags, weights files)
are pinned at the end. The method families' counterpart is ``tests/test_extending.py``.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from rsdesk.cli import main
from rsdesk.core.errors import ClassifierError
from rsdesk.core.evaluation import collect_images, run_evaluation
from rsdesk.core.io.assets import sample_image_paths
from rsdesk.core.io.images import load_image
from rsdesk.core.models import (
    Classifier,
    ClassifierSpec,
    available_classifiers,
    classifier_spec,
    load_classifier,
    registry,
    source_tag,
)
from rsdesk.core.models.explain import class_activation_map
from rsdesk.core.models.spec import ClassifierFamily


# ----- the newcomer's module ---------------------------------------------------------------------------
class TinyNet(nn.Module):
    """Two convolutions, ReLU, global average pooling and a 1000-way linear layer (CAM applies)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.fc = nn.Linear(16, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def _build(_weights: object) -> nn.Module:
    torch.manual_seed(0)
    return TinyNet()


ACTIVATIONS: list[int] = []  # how often CAM asked the spec (not a name test) what follows conv2


def _relu(_net: nn.Module, feature: torch.Tensor) -> torch.Tensor:
    ACTIVATIONS.append(1)
    return torch.relu(feature)


TINY = ClassifierSpec(
    name="tiny/net",
    title="Tiny CNN",
    input_size=32,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    build=_build,
    needs_weights=False,
    feature_layer="conv2",
    fc_layer="fc",
    feature_activation=_relu,
    tag="tiny",
)

FAMILY = ClassifierFamily(
    names=lambda: [TINY.name],
    spec=lambda name: TINY if name == TINY.name else None,
    hint="tiny/net",
)


# ----- the registry line -------------------------------------------------------------------------------
@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, FAMILY))


def test_it_loads_and_classifies(registered):
    assert available_classifiers()[-1] == "tiny/net"
    assert available_classifiers()[0] == registry.DEFAULT_CLASSIFIER  # the built-ins keep their order
    model = load_classifier("tiny/net")
    assert isinstance(model, Classifier) and model.spec is TINY and model.input_size == 32
    img = load_image(sample_image_paths()[0])
    assert model.prepare(img).shape == (32, 32, 3)
    pred = model.classify(img)
    assert pred.probs.shape == (1000,) and pred.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert len(pred.top(5)) == 5


def test_cam_uses_the_spec(registered):
    model = load_classifier("tiny/net")
    img = load_image(sample_image_paths()[0])
    ACTIVATIONS.clear()
    heat = class_activation_map(model, img)
    assert heat.method == "CAM" and heat.heat.shape == (32, 32)
    assert heat.heat.min() >= 0.0 and heat.heat.max() <= 1.0
    assert heat.class_index == model.classify(img).index
    assert ACTIVATIONS  # the spec's feature_activation was applied to conv2's output


def test_the_command_line_classifies_with_it(registered, capsys):
    image = sample_image_paths()[0]
    assert main(["classify", "--json", "--classifier", "tiny/net", str(image)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["file"] == str(image)
    assert len(record["top5"]) == 5


def test_an_evaluation_runs_through_it(registered, tmp_path):
    """The default (local) executor builds its worker in this process, so the patched registry applies."""
    folder = tmp_path / "photos"
    folder.mkdir()
    images = sample_image_paths()[:2]
    for p in images:
        shutil.copy(p, folder / p.name)
    rows = "".join(f"{p.name},{i}\n" for i, p in enumerate(images))
    (folder / "labels.csv").write_text("file,class_index\n" + rows)
    plan = {
        "attacks": {"fgsm": {"attack": "fgsm"}},
        "defenses": {"none": {}, "jpeg": {}},
        "experiments": [
            {"name": "e", "kind": "curves", "title": "t", "attacks": {"fgsm": [4]}, "defenses": ["jpeg"]}
        ],
        "protocol": "all",
    }
    items = collect_images([folder])
    assert len(items) == 2
    out = tmp_path / "run"
    summary = run_evaluation(plan, items, out, classifier="tiny/net")
    assert summary
    run = json.loads((out / "plan.json").read_text())
    assert run["classifier"]["name"] == "tiny/net" and run["classifier"]["weights"] is None
    with open(out / "results.csv", newline="") as fh:
        results = list(csv.DictReader(fh))
    assert results and {r["attack"] for r in results} >= {"fgsm"}
    adversarials = sorted((out / "adversarials").rglob("*.npy"))
    assert adversarials and np.load(adversarials[0]).shape == (32, 32, 3)  # at the spec's input size


# ----- the lookups -------------------------------------------------------------------------------------
def test_an_unknown_name_lists_every_family(registered):
    with pytest.raises(ClassifierError) as info:
        classifier_spec("resnet9000")
    assert str(info.value) == (
        "unknown classifier 'resnet9000'; choose efficientnet-lite0, efficientnet-lite1, "
        "efficientnet-lite2, inception-v3, torchvision/<arch>, timm/<name> or tiny/net"
    )


def test_source_tags():
    assert source_tag("efficientnet-lite2") == "lite2"
    assert source_tag("efficientnet-lite1") == "lite1"
    assert source_tag("inception-v3") == "inception-v3"
    assert source_tag("torchvision/resnet50") == "resnet50"
    # a source this machine does not know still gets a tag (plans may name one)
    assert source_tag("efficientnet-lite9") == "lite9"
    assert source_tag("elsewhere/efficientnet-b7") == "b7"


def test_source_tag_and_weights_of_the_new_family(registered):
    assert source_tag("tiny/net") == "tiny"
    assert registry.weights_file("tiny/net") is None


def test_specs_say_what_follows_the_feature_layer():
    lite = classifier_spec("efficientnet-lite0")
    assert lite.feature_activation is not None and lite.interpolation == "bicubic"
    assert classifier_spec("torchvision/densenet121").feature_activation is not None
    assert classifier_spec("torchvision/resnet18").feature_activation is None
    assert classifier_spec("inception-v3").feature_activation is None
