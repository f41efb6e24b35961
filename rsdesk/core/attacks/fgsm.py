"""FGSM (Goodfellow et al. 2015): one signed-gradient step of size ε, in [0, 1]."""

from __future__ import annotations

import torch

from rsdesk.core.attacks.base import EPS, Attack, loss_gradient
from rsdesk.core.progress import check_cancel, report


class FGSM(Attack):
    name, title = "fgsm", "FGSM"

    single_step = True
    PARAMS = (EPS,)
    MAIN_PARAMS = ("eps",)

    def perturb(self, model, x, ref, tgt, progress, cancel):  # noqa: ANN001, ANN201
        check_cancel(cancel)
        eps = self.params["eps"] / 255.0
        adv = torch.clamp(x + eps * loss_gradient(model, x, ref, tgt).sign(), 0.0, 1.0).detach()
        report(progress, 1.0, "done")
        return adv, 1
