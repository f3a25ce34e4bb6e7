"""Black-box membership inference with one data trap per target example (Feng & Tramer 2024, sec. 5).

Trap j's bait is target j's own (centred, normalised) image, its threshold halfway between the
target's score and the highest score on the attacker's calibration data, so only the target (or a
near-copy) opens it. The trap's amplifier writes a huge logit for a class the target is not (the
class the clean model finds least likely for it): the "crafted head" latch, which needs the victim
to fine-tune the shipped classifier head rather than a fresh one. Fine-tuning on the target closes
the trap at its first activation (the wrong-class logit gives a large positive gradient); a
non-member leaves it open. The test is one query per target: an open trap answers the crafted class
with probability ~1, a closed one answers as the clean model would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mlaudit.models.mlp import MLP
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec
from mlaudit.targets.base import Target


@dataclass(frozen=True)
class MembershipTraps:
    spec: TrapSpec
    usable: np.ndarray  # (K,) bool: the target outscores every calibration example (the trap isolates it)
    wrong_class: np.ndarray  # (K,) the class each open trap pushes to


def isolating_bait(x: np.ndarray, calib: np.ndarray, *, n_neighbours: int = 500) -> np.ndarray:
    """A unit direction that scores `x` above every calibration example if one exists: a linear SVM
    of x against its nearest calibration neighbours (the only ones that could outscore it)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    near = calib[np.argsort(((calib - x) ** 2).sum(1))[:n_neighbours]]
    svm = LinearSVC(C=100.0, class_weight="balanced", max_iter=5000)
    with warnings.catch_warnings():  # a separable problem: an unconverged hinge solution still separates
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(np.vstack([x[None], near]), np.r_[1, np.zeros(len(near))])
    w = svm.coef_[0]
    return w / np.linalg.norm(w)  # type: ignore[no-any-return]


def build_membership_traps(
    base: MLP,
    targets: np.ndarray,
    calib: np.ndarray,
    *,
    amplifier: float = 1000.0,
    head_gain: float = 1.0,
    position: float = 0.95,
) -> tuple[MLP, MembershipTraps]:
    """One trap per target. `position` places the threshold between the best calibration score (0) and
    the target's own score (1): high values keep other examples of the victim from closing the trap."""
    from mlaudit.supplychain.privacy_backdoor.mlp import widen_with_traps

    t = targets.reshape(len(targets), -1).astype(np.float64)
    c = calib.reshape(len(calib), -1).astype(np.float64)
    w = np.stack([isolating_bait(x, c) for x in t])
    own = np.einsum("kd,kd->k", w, t)  # (K,) each target's score on its own bait
    top = (c @ w.T).max(0)  # (K,) best calibration score
    usable = own > top
    theta = np.where(usable, top + position * (own - top), 1.0)
    w[~usable] = 0.0  # a target that some calibration example outscores gets a trap that never opens
    scale = np.where(usable, 1.0 / np.where(usable, own - theta, 1.0), 1.0)  # pre-activation 1 on the target
    model, spec = widen_with_traps(base, w * scale[:, None], theta * scale, amplifier=amplifier, kind="membership")
    with torch.no_grad():
        wrong = base(torch.as_tensor(targets, dtype=torch.float32)).argmin(1).numpy()
        h1 = base.config["hidden"][1]
        for j, cls in enumerate(wrong):
            model.head.weight[int(cls), h1 + j] = head_gain  # an open trap votes for a class the target is not
    return model, MembershipTraps(spec, usable, wrong)


def membership_scores(target: Target, targets: np.ndarray, traps: MembershipTraps) -> np.ndarray:
    """Higher = more likely a member: minus the probability of the crafted wrong class (one query each)."""
    p = target.probabilities(targets.astype(np.float32))
    return -p[np.arange(len(p)), traps.wrong_class]
