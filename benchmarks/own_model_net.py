"""The user's own network for benchmarks/own_model.py: a small CNN for 28x28 grey images (32 and 64
channels, as in common Fashion-MNIST examples), in a file outside the package, named by the audit
config (target.factory)."""

from torch import nn


class FashionCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


def make_net(num_classes: int = 10) -> nn.Module:
    return FashionCNN(num_classes)
