"""rsdesk.core.attacks.square: the gradient-free Square attack through torchattacks — equal to torchattacks'
``Square`` called directly with the same seed, within budget, per-image queries, the model's mode left
alone, progress and cancel, and it fools the real classifier on dev images."""

from __future__ import annotations

import pytest
import torch
import torchattacks

from rsdesk.core.attacks.base import LINF, RELATIVE_L2
from rsdesk.core.attacks.square import SquareL2, SquareLinf
from rsdesk.core.progress import Cancelled, CancelToken


def _to_tensor(outcomes) -> torch.Tensor:
    return torch.stack([torch.from_numpy(o.adversarial).permute(2, 0, 1) for o in outcomes])


def _labels(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.fixture(scope="module")
def linear():
    """A small linear classifier (4×4 average pooling, then one layer): Square's blocky perturbations fool
    it within tens of queries, so the tests see successes without running long."""
    from rsdesk.core.models import Classifier, ClassifierSpec

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(192, 10))
    spec = ClassifierSpec(
        name="linear",
        title="linear",
        input_size=32,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        build=lambda _w: net,
        needs_weights=False,
        feature_layer=None,
        fc_layer=None,
    )
    return Classifier(net, spec, torch.device("cpu"))


def _theirs(model, norm: str, eps: float, queries: int, seed: int, p_init: float = 0.8):
    return torchattacks.Square(
        model, norm=norm, eps=eps, n_queries=queries, n_restarts=1, p_init=p_init, loss="margin", seed=seed
    )


# ----- agreement with torchattacks ----------------------------------------------------------------


@pytest.mark.parametrize(("eps", "queries", "seed", "p_init"), [(8, 100, 0, 0.8), (16, 60, 4, 0.3)])
def test_linf_equals_torchattacks(linear, tiny_batch, eps, queries, seed, p_init):
    labels = _labels(linear, tiny_batch)
    attack = SquareLinf(eps=eps, queries=queries, seed=seed, p_init=p_init)
    outcomes = attack.run(linear, tiny_batch, labels=labels)
    ref = _theirs(linear, "Linf", eps / 255, queries, seed, p_init)(tiny_batch, labels)
    assert torch.equal(_to_tensor(outcomes), ref)
    assert any(o.success for o in outcomes)


def test_per_image_queries_are_torchattacks_counts(linear, tiny_batch):
    labels = _labels(linear, tiny_batch)
    attack = SquareLinf(eps=8, queries=100)
    outcomes = attack.run(linear, tiny_batch, labels=labels)
    # the lower-level call that counts: every image is classified as its label, so all are attacked
    torch.manual_seed(0)
    atk = _theirs(linear, "Linf", 8 / 255, 100, 0)
    atk.init_hyperparam(tiny_batch)
    n_queries, _ = atk.attack_single_run(tiny_batch, labels)
    assert attack.queries_used == n_queries.long().tolist()
    assert [o.iterations for o in outcomes] == attack.queries_used  # one count per image
    assert [o.success for o in outcomes] == [q <= 100 for q in attack.queries_used]
    assert 2 <= sum(o.success for o in outcomes) <= 3  # some fall early, some hold for all 100 (+1)
    assert max(attack.queries_used) == 101  # the initial perturbation is the first query


def test_an_image_already_misclassified_takes_no_query(linear, tiny_batch):
    labels = _labels(linear, tiny_batch)
    labels[1] = (labels[1] + 1) % 10
    attack = SquareLinf(eps=2, queries=20)
    outcomes = attack.run(linear, tiny_batch, labels=labels)
    assert attack.queries_used == [21, 0, 21, 21]
    assert outcomes[1].success and outcomes[1].l2 == 0.0  # nothing to do: returned as it is


def test_l2_single_image_equals_torchattacks(linear, tiny_batch):
    x = tiny_batch[3:4]
    label = _labels(linear, x)
    outcomes = SquareL2(d=0.05, queries=100, seed=1).run(linear, x, labels=label)
    ref = _theirs(linear, "L2", 0.05 * x.norm().item(), 100, 1)(x, label)
    torch.testing.assert_close(_to_tensor(outcomes), ref, atol=1e-6, rtol=0)  # ε rounded in float32
    assert outcomes[0].success


def test_l2_batch_is_each_image_with_its_own_radius(linear, tiny_batch):
    # torchattacks takes one ε: SquareL2 runs it per image with ε_i = d·‖x_i‖₂
    x = tiny_batch * torch.tensor([1.0, 0.5, 0.8, 0.7]).view(-1, 1, 1, 1)
    labels = _labels(linear, x)
    attack = SquareL2(d=0.1, queries=40, seed=2)
    outcomes = attack.run(linear, x, labels=labels)
    ours = _to_tensor(outcomes)
    for i in range(4):
        ref = _theirs(linear, "L2", 0.1 * x[i].norm().item(), 40, 2)(x[i : i + 1], labels[i : i + 1])
        torch.testing.assert_close(ours[i : i + 1], ref, atol=1e-6, rtol=0)
    assert len(attack.queries_used) == 4 and all(1 <= q <= 41 for q in attack.queries_used)
    fooled = [o for o in outcomes if o.success]
    assert fooled and all(o.d == pytest.approx(0.1, rel=0.2) for o in fooled)
    l2 = [o.l2 for o in fooled]
    assert len(fooled) < 2 or max(l2) / min(l2) > 1.1  # each image its own radius


def test_targeted_equals_torchattacks(linear, tiny_batch):
    targets = linear(tiny_batch).topk(2).indices[:, 1]  # the runner-up class: reachable
    outcomes = SquareLinf(eps=16, queries=60).run(linear, tiny_batch, targets=targets)
    atk = _theirs(linear, "Linf", 16 / 255, 60, 0)
    atk.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(_to_tensor(outcomes), atk(tiny_batch, targets))
    assert all(o.success == (o.predicted == o.target) for o in outcomes)
    assert sum(o.success for o in outcomes) >= 2


# ----- budget -------------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [4.0, 16.0, 64.0])
def test_linf_within_budget(linear, tiny_batch, eps):
    x = tiny_batch.clone()
    x[:, :, :4] = 1.0  # box edges: clipping matters
    outcomes = SquareLinf(eps=eps, queries=60).run(linear, x)
    adv = _to_tensor(outcomes)
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max().item() <= eps / 255 + 1e-6
    assert any(o.success and o.linf > 0.99 * eps for o in outcomes)


@pytest.mark.parametrize("d", [0.1, 0.2, 0.5])
def test_l2_within_budget(linear, tiny_batch, d):
    outcomes = SquareL2(d=d, queries=40).run(linear, tiny_batch)
    adv = _to_tensor(outcomes)
    assert adv.min() >= 0 and adv.max() <= 1
    assert max(o.d for o in outcomes) <= d + 1e-6
    assert any(o.success and o.d > 0.5 * d for o in outcomes)


# ----- model mode, RNG, progress, cancel, traits --------------------------------------------------


class _ModeProbe(torch.nn.Module):
    """Records the mode it runs in (torchattacks would switch a model it is handed directly to eval)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add(self.training)
        return self.inner(x)


@pytest.mark.parametrize("training", [False, True])
def test_the_models_mode_is_left_alone(tiny_classifier, tiny_batch, training):
    probe = _ModeProbe(tiny_classifier).train(training)
    labels = _labels(tiny_classifier, tiny_batch)
    adv, queries = SquareLinf(eps=8, queries=10).perturb(probe, tiny_batch, labels, None, None, None)
    assert probe.seen == {training} and probe.training is training
    assert tiny_classifier.training is False
    assert queries == [11, 11, 11, 11] and (adv - tiny_batch).abs().max() <= 8 / 255 + 1e-6


def test_rng_left_alone_and_seeded(linear, tiny_batch):
    state = torch.random.get_rng_state()
    a = _to_tensor(SquareLinf(eps=8, queries=30, seed=3).run(linear, tiny_batch))
    assert torch.equal(torch.random.get_rng_state(), state)
    b = _to_tensor(SquareLinf(eps=8, queries=30, seed=3).run(linear, tiny_batch))
    c = _to_tensor(SquareLinf(eps=8, queries=30, seed=4).run(linear, tiny_batch))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_progress_counts_queries(tiny_classifier, tiny_batch):
    calls: list[float] = []
    SquareLinf(eps=2, queries=20).run(tiny_classifier, tiny_batch, progress=lambda f, _m: calls.append(f))
    # clean check, initial square, 20 searches (nothing fooled at 2/255), final check — then "done"
    assert calls == pytest.approx([i / 23 for i in range(1, 24)] + [1.0])


@pytest.mark.parametrize("cls", [SquareLinf, SquareL2])
def test_cancel_mid_run(tiny_classifier, tiny_batch, cls):
    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, _msg: str) -> None:
        seen.append(fraction)
        if len(seen) == 5:
            token.cancel()

    state = torch.random.get_rng_state()
    with pytest.raises(Cancelled):
        cls(queries=1000).run(tiny_classifier, tiny_batch, progress=progress, cancel=token)
    assert len(seen) == 5
    assert torch.equal(torch.random.get_rng_state(), state)


def test_traits_and_params():
    assert (SquareLinf.name, SquareLinf.title, SquareL2.name, SquareL2.title) == (
        "square",
        "Square (gradient-free)",
        "square-l2",
        "Square-L2 (gradient-free)",
    )
    assert SquareLinf.strength is LINF and SquareL2.strength is RELATIVE_L2
    for cls in (SquareLinf, SquareL2):
        assert cls.gradient_free and cls.budget == "projection" and not cls.defense_aware
        p = cls().params
        assert (p["queries"], p["p_init"], p["seed"]) == (300, 0.8, 0)
        assert cls.iterations(p) == 300 and cls.iterations({"queries": 50, "eot": 4}, eot=True) == 50
        assert set(cls.MAIN_PARAMS) <= set(p)
    assert SquareLinf.summary(SquareLinf().params) == "Square ε 8/255, 300 queries"
    assert SquareL2.plain_title == "Square-L2"
    with pytest.raises(ValueError, match="queries must be within"):
        SquareLinf(queries=0)


# ----- the real classifier ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared
def test_fools_the_undefended_classifier_on_dev_images(classifier, shared_dev):
    from rsdesk.core.io.images import load_image
    from rsdesk.core.io.labels import read_labels_csv

    labels = read_labels_csv(shared_dev)
    # Three dev images the classifier gets right; at seed 0 each falls within ~50 queries, which keeps
    # the test short on a loaded CPU (a hard image would hold the batch for all 300 queries).
    names = [
        "n01440764_tench.JPEG",
        "n01682714_American_chameleon.JPEG",
        "n01698640_American_alligator.JPEG",
    ]
    x = classifier.to_tensor([classifier.prepare(load_image(shared_dev / n)) for n in names])
    y = torch.tensor([labels[n] for n in names])
    assert torch.equal(_labels(classifier, x), y)
    attack = SquareLinf(eps=8, queries=300)
    outcomes = attack.run(classifier, x, labels=y)
    assert sum(o.success for o in outcomes) >= 2
    assert max(o.linf for o in outcomes) <= 8 + 1e-4
    assert all(1 <= q <= 301 for q in attack.queries_used)
    assert min(attack.queries_used) < 300  # fooled before the query budget ran out
