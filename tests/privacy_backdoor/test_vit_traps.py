"""Data traps in a small ViT (Feng & Tramer 2024, transformers): benign pass-through, exact one-step
capture through the linearised LayerNorms, detection, and the end-to-end reconstruction on Fashion-MNIST."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mlaudit import metrics
from mlaudit.data import fashion_mnist, fashion_mnist_available, split
from mlaudit.findings import Severity
from mlaudit.models import TrainConfig, ViT, train
from mlaudit.supplychain.privacy_backdoor.detect import detect
from mlaudit.supplychain.privacy_backdoor.experiment import ViTSetup, run_vit_reconstruction, state
from mlaudit.supplychain.privacy_backdoor.victim import fresh_head
from mlaudit.supplychain.privacy_backdoor.vit import ViTTrapConfig, build_vit_traps, reconstruct_vit

pytestmark = pytest.mark.skipif(not fashion_mnist_available(), reason="needs dataset-fashion-mnist")


@pytest.fixture(scope="module")
def small():
    data = fashion_mnist("train")
    sp = split(data, {"public": 3000, "private": 500}, seed=0)
    pub, priv = sp.part(data, "public"), sp.part(data, "private")
    torch.manual_seed(0)
    base = ViT()
    train(base, pub.x, pub.y, TrainConfig(epochs=1, batch_size=128), generator=torch.Generator().manual_seed(0))
    model, spec = build_vit_traps(base, pub.x, cfg=ViTTrapConfig(n_groups=8), generator=np.random.default_rng(0))
    return base, model, spec, pub, priv


def _benign_features(model, x):
    cap = {}
    h = model.norm.register_forward_hook(lambda _m, i, _o: cap.__setitem__("x", i[0]))
    with torch.no_grad():
        model(torch.as_tensor(x))
    h.remove()
    return cap["x"]


def test_benign_path_passes_through(small):
    """The clean blocks run on the benign channels with the reserved ones at zero: the LayerNorm over the
    wider stream differs from the clean one only by a term in (mean/std)^2 of the features, so the CLS
    features before the final norm agree to a few percent (measured 5-6%), and all reserved channels
    except C and the (silent) trap outputs are zero."""
    base, model, spec, _pub, priv = small
    a = _benign_features(base, priv.x[:300])
    b = _benign_features(model, priv.x[:300])[:, : base.config["dim"]]
    rel = ((a - b).norm(dim=1) / a.norm(dim=1)).median().item()
    assert rel < 0.15


def test_one_sgd_step_records_the_activating_image_exactly(small):
    """One victim step on a batch where exactly one image opens a trap group: dW/db of the group's 16
    units, read through the kappa channel, tiles back into that image (float32 rounding only)."""
    _base, model, spec, pub, _priv = small
    lay, n_patch = spec.config["layout"], spec.config["n_patches"]
    z = {}
    hook = model.blocks[0].mlp[0].register_forward_hook(lambda _m, _i, o: z.__setitem__("z", o.detach()))
    with torch.no_grad():
        model(torch.as_tensor(pub.x))
    hook.remove()
    zz = z["z"][:, 1:, : spec.config["n_groups"] * n_patch]  # (N, 16 tokens, units)
    fires = (zz > 0).any(1).view(len(pub.x), -1, n_patch).any(2)  # (N, groups)
    one = torch.nonzero(fires.sum(1) == 1).flatten()
    quiet = torch.nonzero(fires.sum(1) == 0).flatten()
    assert len(one) >= 1 and len(quiet) >= 31
    star = int(one[0])
    group = int(torch.nonzero(fires[star]).item())
    idx = torch.cat([torch.tensor([star]), quiet[:31]])
    victim = copy.deepcopy(model)
    before = state(victim)
    fresh_head(victim, 10, seed=3)
    opt = torch.optim.SGD(victim.parameters(), lr=1e-4)
    nn.functional.cross_entropy(
        victim(torch.as_tensor(pub.x[idx.numpy()])), torch.as_tensor(pub.y[idx.numpy()])
    ).backward()
    opt.step()
    rec = reconstruct_vit(before, state(victim), spec)
    assert rec.unit_fired[group].all()
    # the other groups' units only see GELU's tail on near-threshold images: their bias moves by two orders of
    # magnitude less than the capturing group's (measured: at most 0.8% here; the bar leaves 2.5x room)
    after = state(victim)
    dw_c = (after[spec.layer + ".weight"] - before[spec.layer + ".weight"])[:, lay["c"]].astype(np.float64)
    db = np.abs(dw_c[: rec.unit_fired.size]).reshape(rec.unit_fired.shape)
    others = np.delete(np.arange(db.shape[0]), group)
    assert db[others].max() < 0.02 * db[group].min()
    x = pub.x[star, 0].astype(np.float64)
    r = rec.images[group]
    assert np.abs(r - x).max() < 1e-2, np.abs(r - x).max()
    assert metrics.ssim(np.clip(r, 0, 1), x) > 0.99
    assert lay["dim"] == victim.config["dim"]


def test_detector_flags_trapped_vit_not_clean(small):
    base, model, _spec, _pub, _priv = small
    assert max(f.severity for f in detect(state(model))) >= Severity.HIGH
    assert max((f.severity for f in detect(state(base))), default=Severity.INFO) < Severity.HIGH


def test_end_to_end_at_least_8_recognisable_reconstructions():
    """Clean ViT pretrained on 10,000 public images, 20 trap groups, victim: fresh head, SGD body lr 1e-4,
    head 0.05, batch 32, 2 epochs on 1,000 private images. Bar from the issue: 8 reconstructions with
    SSIM >= 0.6; utility within 5 points of the same fine-tuning of the clean ViT."""
    r = run_vit_reconstruction(fashion_mnist("train"), fashion_mnist("test"), ViTSetup())
    assert r.recognisable >= 8, r
    assert abs(r.backdoored_accuracy - r.clean_accuracy) <= 0.05
