"""The trainable copy of a classifier's network: which parameters a fine-tune mode updates, which modules
run in training mode, one optimization step (with FGSM adversarial examples where asked) and top-1
validation.

:class:`~rsdesk.core.models.classifier.Classifier` freezes its network and keeps it in eval mode (attacks
and explanations need a fixed function), so a fine-tune works on a deep copy, wrapped in a second
Classifier only for its normalization (the spec's mean/std) and so that an attack can run on the model as
it is being trained; this module sets the copy's ``requires_grad`` and modes itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rsdesk.core.attacks import Attack
from rsdesk.core.models.classifier import Classifier

#: What a fine-tune may update: BatchNorm (affine + running statistics), the final linear layer, or all.
TRAIN_MODES = ("bn", "head", "all")

#: BatchNorm's running-statistics momentum while fine-tuning. EfficientNet-Lite keeps TensorFlow's 0.99
#: decay (PyTorch momentum 0.01), which moves the statistics by 1 % per batch: a fine-tune of a few dozen
#: batches would leave them where they were and evaluate the new affine parameters with the old
#: statistics. PyTorch's default 0.1 adapts them within ~20 batches. Momentum is not in the state dict,
#: so the saved model is unaffected.
BN_MOMENTUM = 0.1

_BATCHNORM = nn.modules.batchnorm._BatchNorm


def batchnorm_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, _BATCHNORM)]


def head_layer(net: nn.Module, fc_layer: str | None) -> nn.Linear:
    """The final classifier layer: the spec's ``fc_layer`` where it names a linear layer, else the last
    ``nn.Linear`` registered in the network (torchvision's ``fc`` / ``classifier[-1]``)."""
    if fc_layer:
        try:
            mod = net.get_submodule(fc_layer)
        except AttributeError:
            mod = None
        if isinstance(mod, nn.Linear):
            return mod
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the classifier has no linear layer to train (--train head); use --train bn or all")
    return linears[-1]


def trainable_copy(start: Classifier, mode: str) -> tuple[Classifier, list[nn.Parameter]]:
    """A deep copy of ``start``'s network in a Classifier (normalization included) and the parameters
    ``mode`` trains (``requires_grad`` on exactly those)."""
    net = copy.deepcopy(start.net)
    live = Classifier(net, start.spec, start.device)  # freezes every parameter; unfrozen below
    if mode == "bn":
        layers = batchnorm_layers(net)
        if not layers:
            raise ValueError(f"{start.spec.title} has no BatchNorm layers; use --train head or all")
        params = [p for m in layers for p in (m.weight, m.bias) if p is not None]
    elif mode == "head":
        params = list(head_layer(net, start.spec.fc_layer).parameters())
    else:
        params = list(net.parameters())
    for p in params:
        p.requires_grad_(True)
    for m in batchnorm_layers(net):
        m.momentum = BN_MOMENTUM
    return live, params


def set_training_modes(net: nn.Module, mode: str) -> None:
    """``bn``: BatchNorm layers in training mode (batch statistics, running statistics updated), every
    other module in eval mode (dropout and drop-connect off: only the normalization adapts). ``head``: all in
    eval mode (the features stay exactly the starting model's). ``all``: ordinary training mode
    (dropout and drop-connect as the network was trained with; drawn from torch's seeded RNG)."""
    net.train(mode == "all")
    if mode == "bn":
        for m in batchnorm_layers(net):
            m.train(True)


@torch.no_grad()
def top1(model: Classifier, images: torch.Tensor, targets: torch.Tensor, batch: int) -> float | None:
    """Fraction of ``images`` the model (in eval mode) assigns its target class; None for no images."""
    if images.shape[0] == 0:
        return None
    model.net.eval()
    hits = 0
    for i in range(0, images.shape[0], batch):
        hits += int((model(images[i : i + batch]).argmax(1) == targets[i : i + batch]).sum())
    return hits / images.shape[0]


@torch.no_grad()
def predictions(model: Classifier, images: torch.Tensor, batch: int) -> torch.Tensor:
    """The model's top-1 class of each image (eval mode), the distillation targets."""
    model.net.eval()
    return torch.cat([model(images[i : i + batch]).argmax(1) for i in range(0, images.shape[0], batch)])


def train_step(
    live: Classifier,
    mode: str,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    attack: Attack | None = None,
    clean: torch.Tensor | None = None,
    purify: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """One optimization step on a batch; returns its mean loss.

    ``inputs`` are what the model trains on (the clean images, or the defense's outputs of them). With an
    ``attack`` (FGSM), adversarial examples of the ``clean`` images are crafted against the targets on the
    current model in eval mode (running statistics, no dropout: the model a test-time attacker would see;
    it also keeps the attack's forward pass from moving the running statistics), passed through ``purify``
    (a B×H×W×3 batch → the same) where given (RegionSparse + FGSM adversarial), and every image is trained
    both ways: the loss is Goodfellow et al.'s ½·CE(clean) + ½·CE(adversarial), one forward pass over the
    2B batch. Both halves every step rather than Kurakin et al.'s half-and-half batches: on a small folder
    each image then counts clean and adversarial in every epoch, and no draw decides which half is which.
    """
    if attack is not None:
        if clean is None:
            raise ValueError("an adversarial step needs the clean images")
        live.net.eval()
        adv, _ = attack.perturb(live, clean, targets, None, None, None)
        if purify is not None:
            purified = purify(adv.detach().permute(0, 2, 3, 1).cpu().numpy())  # B×H×W×3 → B×H×W×3
            adv = torch.from_numpy(purified).permute(0, 3, 1, 2).to(inputs.device)
        inputs = torch.cat([inputs, adv.detach().contiguous()])
        targets = torch.cat([targets, targets])
    set_training_modes(live.net, mode)
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(live(inputs), targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
