"""Label-consistent (clean-label) backdoor (Turner, Tsipras & Madry 2019, arXiv 1912.02771).

Poisons are target-class images that keep their correct label. Each is first made hard to classify
by an untargeted PGD perturbation on a surrogate model the attacker holds (for mlaudit: a model
built from the public base), so that the network leans on the trigger to fit them; then the
BadNets patch is stamped. A human inspecting the labels finds nothing wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mlaudit.attacks.evasion.base import Model
from mlaudit.attacks.evasion.pgd import pgd
from mlaudit.attacks.poisoning.badnets import BadNets
from mlaudit.attacks.poisoning.base import Poisoned, choose


@dataclass(frozen=True)
class LabelConsistent:
    target_label: int = 0
    eps: float = 0.3
    steps: int = 20
    trigger_size: int = 3

    @property
    def trigger(self) -> BadNets:
        return BadNets(self.target_label, size=self.trigger_size)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.trigger.apply(x)

    def poison(
        self, x: np.ndarray, y: np.ndarray, rate: float, rng: np.random.Generator, *, surrogate: Model
    ) -> Poisoned:
        """`rate` is the poisons' share of the whole training set, all drawn from the target class."""
        idx = choose(y, rate, rng, pool=np.flatnonzero(y == self.target_label))
        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        xt, yt = torch.as_tensor(x[idx], dtype=torch.float32), torch.as_tensor(y[idx], dtype=torch.long)
        hard = torch.cat(
            [
                pgd(surrogate, xt[i : i + 256], yt[i : i + 256], eps=self.eps, steps=self.steps, generator=g)
                for i in range(0, len(idx), 256)
            ]
        ).numpy()
        xp = np.array(x, dtype=np.float32, copy=True)
        xp[idx] = self.apply(hard)
        return Poisoned(xp, np.array(y, copy=True), idx, self.target_label)
