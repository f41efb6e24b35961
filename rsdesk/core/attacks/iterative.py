"""The iterative signed-gradient family: BIM (Kurakin et al. 2017) and MI-FGSM (Dong et al. 2018), both
projected onto the L∞ ε-ball and [0, 1] at every step (the loop is
:func:`rsdesk.core.attacks.base.sign_iterations`)."""

from __future__ import annotations

from rsdesk.core.attacks.base import ALPHA, EPS, STEPS, Attack, GradFn, loss_gradient, sign_iterations
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param


class BIM(Attack):
    name, title = "bim", "BIM"

    PARAMS = (EPS, STEPS, ALPHA)
    MAIN_PARAMS = ("eps", "steps")
    decay: float | None = None

    def _alpha(self) -> float:
        a = self.params.get("alpha")
        return (a if a is not None else self.params["eps"] / self.params["steps"]) / 255.0

    def gradient_fn(self, model: Classifier) -> GradFn:
        """The loss gradient, averaged over :attr:`eot` samples (each forward through a randomized defense
        draws afresh; 1 otherwise)."""
        eot = self.eot
        if eot == 1:
            return lambda a, r, t: loss_gradient(model, a, r, t)
        return lambda a, r, t: sum(loss_gradient(model, a, r, t) for _ in range(eot)) / eot  # type: ignore[return-value]

    def perturb(self, model, x, ref, tgt, progress, cancel):  # noqa: ANN001, ANN201
        steps = int(self.params["steps"])
        adv = sign_iterations(
            x,
            ref,
            tgt,
            self.gradient_fn(model),
            self.params["eps"] / 255.0,
            self._alpha(),
            steps,
            self.decay,
            progress,
            cancel,
        )
        return adv, steps


class MIFGSM(BIM):
    name, title = "mifgsm", "MI-FGSM"

    PARAMS = (EPS, STEPS, ALPHA, Param("decay", "momentum μ", 1.0, 0.0, 10.0))

    @property
    def decay(self) -> float:  # type: ignore[override]
        return float(self.params["decay"])
