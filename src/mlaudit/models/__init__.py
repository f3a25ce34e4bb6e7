"""Small reference architectures and the training loop."""

from torch import nn

from mlaudit.errors import InputError
from mlaudit.models.cnn import CNN
from mlaudit.models.mlp import MLP
from mlaudit.models.train import TrainConfig, accuracy, train
from mlaudit.models.vit import ViT

ARCHITECTURES: dict[str, type[nn.Module]] = {"mlp": MLP, "cnn": CNN, "vit": ViT}


def build(name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs: object) -> nn.Module:
    """Build a reference architecture by name for inputs of `input_shape` (without the batch axis)."""
    if name not in ARCHITECTURES:
        raise InputError(f"unknown architecture {name!r}; use one of: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name].for_input(tuple(input_shape), num_classes, **kwargs)  # type: ignore[attr-defined,no-any-return]


__all__ = ["ARCHITECTURES", "CNN", "MLP", "TrainConfig", "ViT", "accuracy", "build", "train"]
