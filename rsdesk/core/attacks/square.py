"""The Square attack (Andriushchenko et al., ECCV 2020) through torchattacks' ``Square``: a gradient-free
random search of square-shaped updates that only queries the model's outputs (margin loss). Given a model
whose forward runs a defense and then the classifier, it attacks the whole pipeline without any gradient,
which is the check for gradient masking: it must not beat the gradient attacks at the same budget.

torchattacks has no progress or cancel: the model it is given counts its forwards
(:class:`~rsdesk.core.attacks._budget.CountingModel`). It seeds torch's global RNG itself; the run is
wrapped so the caller's RNG is left as it was. An image it does not fool is returned unchanged (as
torchattacks does). Each image's query count is kept (:attr:`_Square.queries_used`) and returned as its
iterations.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torchattacks

from rsdesk.core.attacks._budget import SEED, CountingModel, D, scalar_eps_calls, seeded
from rsdesk.core.attacks.base import EPS, LINF, PROJECTED, RELATIVE_L2, Attack
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param
from rsdesk.core.progress import CancelFn, ProgressFn, report

_QUERIES = Param(
    "queries", "queries", 300, 1, 100000, "model queries per image", integer=True, brief="{} queries"
)
_P_INIT = Param(
    "p_init",
    "initial square size p",
    0.8,
    0.0,
    1.0,
    "fraction of the image the first squares cover",
    positive=True,
)


class _RecordingSquare(torchattacks.Square):
    """torchattacks' Square that keeps what its ``perturb`` computes and throws away: which images it
    attacked (those still classified as the reference, or not yet at the target) and how many queries
    each took (``attack_single_run``'s per-image count: the initial perturbation is the first query).

    It relies on torchattacks 3.5.1's order of calls (pinned): with labels given, the first ``get_logits``
    of ``perturb`` is the clean check on the whole batch."""

    def perturb(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self._clean_logits: torch.Tensor | None = None
        self._run_queries: torch.Tensor | None = None
        return super().perturb(x, y)

    def get_logits(self, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        logits = super().get_logits(inputs, labels)
        if getattr(self, "_clean_logits", 0) is None:
            self._clean_logits = logits.detach().clone()
        return logits

    def attack_single_run(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n_queries, adv = super().attack_single_run(x, y)
        self._run_queries = n_queries
        return n_queries, adv

    def queries_per_image(self, labels: torch.Tensor) -> list[int]:
        """Queries of the last run, per image of its batch; 0 for an image that needed no attack."""
        assert self._clean_logits is not None
        pred = self._clean_logits.argmax(1)
        attacked = (pred != labels) if self.targeted else (pred == labels)
        out = torch.zeros(labels.shape[0], dtype=torch.long)
        if self._run_queries is not None:
            out[attacked.nonzero().flatten().cpu()] = self._run_queries.long().cpu()
        return out.tolist()


class _Square(Attack):
    """Square in the class's norm; every adversarial is within budget by torchattacks' projection."""

    budget = PROJECTED
    gradient_free = True
    norm: str = "Linf"

    @classmethod
    def iterations(cls, params: Mapping[str, object], eot: bool = False) -> int:
        """Model queries per image (no gradients; a randomized defense is queried afresh each time)."""
        return int(params.get("queries", 300) or 300)  # type: ignore[call-overload]

    def perturb(
        self,
        model: Classifier,
        x: torch.Tensor,
        ref: torch.Tensor,
        tgt: torch.Tensor | None,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
    ) -> tuple[torch.Tensor, list[int]]:
        """The adversarial batch and each image's queries (also kept in :attr:`queries_used`)."""
        queries = int(self.params["queries"])
        runs = scalar_eps_calls(x, self.strength, float(self.params[self.strength.param]))  # type: ignore[arg-type]
        # per run: the clean check, the initial square, up to `queries` searches, the final check
        counted = CountingModel(model, len(runs) * (queries + 3), progress, cancel, label="query")
        atk = _RecordingSquare(
            counted,
            norm=self.norm,
            n_queries=queries,
            n_restarts=1,
            p_init=float(self.params["p_init"]),  # type: ignore[arg-type]
            loss="margin",
            seed=int(self.params["seed"]),  # type: ignore[call-overload]
        )
        atk.set_device(x.device)  # torchattacks guesses it from parameters(): a defended model may have none
        labels = tgt if tgt is not None else ref
        if tgt is not None:
            atk.set_mode_targeted_by_label(quiet=True)
        adv = x.clone()
        self.queries_used: list[int] = []
        with seeded(int(self.params["seed"]), x.device), torch.no_grad():  # type: ignore[call-overload]
            for part, eps in runs:
                atk.eps = eps
                adv[part] = atk(x[part], labels[part])
                self.queries_used += atk.queries_per_image(labels[part])
        report(progress, 1.0, "done")
        # each image's own count (Attack.run accepts one per image): the search stops where an image falls
        return adv.detach(), list(self.queries_used)


class SquareLinf(_Square):
    """Square in L∞ at ε (/255): one torchattacks call for the batch."""

    name, title = "square", "Square (gradient-free)"
    strength = LINF
    norm = "Linf"
    MAIN_PARAMS = ("eps", "queries")
    PARAMS = (EPS, _QUERIES, _P_INIT, SEED)


class SquareL2(_Square):
    """Square in L2 at a relative budget d: each image its own radius d·‖x‖₂."""

    name, title = "square-l2", "Square-L2 (gradient-free)"
    strength = RELATIVE_L2
    norm = "L2"
    MAIN_PARAMS = ("d", "queries")
    PARAMS = (D, _QUERIES, _P_INIT, SEED)
