"""Data traps in an MLP on real Fashion-MNIST: capture, latch, reconstruction, utility, optimizers."""

import numpy as np
import pytest

from mlaudit.data import fashion_mnist, fashion_mnist_available
from mlaudit.supplychain.privacy_backdoor.experiment import Setup, pretrain, run_reconstruction, splits
from mlaudit.supplychain.privacy_backdoor.reconstruct import reconstruct_mlp
from mlaudit.supplychain.privacy_backdoor.victim import FineTune

pytestmark = pytest.mark.skipif(not fashion_mnist_available(), reason="needs dataset-fashion-mnist")


@pytest.fixture(scope="module")
def fmnist():
    return fashion_mnist("train"), fashion_mnist("test")


@pytest.fixture(scope="module")
def base(fmnist):
    return pretrain(splits(fmnist[0], Setup())["public"], Setup())


@pytest.fixture(scope="module")
def sgd(fmnist, base):
    return run_reconstruction(*fmnist, Setup(), FineTune(), base=base)


def test_sgd_recovers_at_least_24_single_examples_exactly(sgd):
    """64 traps, rate 3/2000 per trap: ~60 fire and most capture one example; the acceptance bar is 24."""
    assert sgd.exact_single >= 24
    # single captures are exact up to float32 rounding of dW / db: PSNR far above any visual threshold
    good = [m.psnr for m in sgd.matches if m.ssim >= 0.9]
    assert np.median(good) > 60


def test_utility_within_3_points_of_clean_finetuning(sgd):
    assert abs(sgd.backdoored_accuracy - sgd.clean_accuracy) <= 0.03


def test_momentum_keeps_the_ratio(fmnist, base):
    r = run_reconstruction(*fmnist, Setup(), FineTune(lr=0.01, momentum=0.9), base=base)
    assert r.exact_single >= 24


def test_adam_leaves_only_the_sign(fmnist, base):
    """Adam normalises each coordinate's step, so dW/db is 1 on the support of x* and 0 elsewhere:
    no exact reconstruction, but the silhouette (support) is recovered (spec section 2)."""
    r = run_reconstruction(*fmnist, Setup(), FineTune(optimizer="adam", lr=1e-3), base=base)
    assert r.exact_single == 0
    assert np.median(r.support_iou) > 0.9


def test_reconstruction_is_dw_over_db():
    from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec

    spec = TrapSpec("mlp", "l", "m", (1,), (0,), 1.0, (3,), (0.0,))
    x = np.array([0.2, 0.5, 0.9])
    before = {"l.weight": np.zeros((2, 3)), "l.bias": np.zeros(2)}
    after = {"l.weight": np.array([[0, 0, 0], -0.3 * x]), "l.bias": np.array([0.0, -0.3])}
    rec = reconstruct_mlp(before, after, spec)
    np.testing.assert_allclose(rec.images[0], x)
    assert rec.fired.tolist() == [True]
