import numpy as np
import pytest
import torch

from mlaudit import InputError
from mlaudit.models import TrainConfig, accuracy, build, train


@pytest.mark.parametrize("arch", ["mlp", "cnn", "vit"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8)])
def test_forward_shapes(arch, shape):
    m = build(arch, shape, 7)
    assert m(torch.zeros(5, *shape)).shape == (5, 7)
    assert hasattr(m, "head")  # every reference architecture has a replaceable classifier head


def test_unknown_architecture():
    with pytest.raises(InputError, match="unknown architecture 'resnet'; use one of: mlp, cnn, vit"):
        build("resnet", (1, 8, 8), 2)


def test_training_is_seeded_and_learns(digits_split):
    d = digits_split["members"]

    def run():
        with torch.random.fork_rng():
            torch.manual_seed(1)
            m = build("vit", (1, 8, 8), 10, patch_size=4)
        return train(m, d.x, d.y, TrainConfig(epochs=15, batch_size=32), generator=torch.Generator().manual_seed(1))

    a, b = run(), run()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    # 10 balanced classes: chance is 0.1; 15 epochs of a tiny ViT on 200 digits fits well past it
    assert accuracy(a, d.x, d.y) > 0.5
    assert not np.isnan(accuracy(a, d.x, d.y))
