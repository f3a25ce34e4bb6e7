"""The one model cache: a miss loads nothing, a save then a load gives the same weights in a fresh
model, no folder keeps nothing, and only safetensors files are read."""

import torch
from torch import nn

from mlaudit.models.cache import ModelCache


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(4, 3)


def test_save_then_load_restores_the_weights(tmp_path):
    store = ModelCache(tmp_path / "out")
    fresh = _net(1)
    assert not store.load("m", fresh) and not store.has("m")
    trained = _net(2)
    store.save("m", trained)
    assert store.has("m") and store.files("*") == [str(tmp_path / "out" / "m.safetensors")]
    assert not torch.equal(fresh.weight, trained.weight)
    assert store.load("m", fresh)
    assert torch.equal(fresh.weight, trained.weight) and torch.equal(fresh.bias, trained.bias)


def test_no_folder_keeps_nothing(tmp_path):
    store = ModelCache(None)
    store.save("m", _net(0))
    assert not store.load("m", _net(1)) and store.files("*") == [] and store.path("m") is None
    (tmp_path / "m.pt").write_bytes(b"not safetensors")
    assert ModelCache(tmp_path).files("*") == []  # only .safetensors are listed (and ever loaded)
