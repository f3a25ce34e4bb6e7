"""Privacy accounting of DP-SGD through Opacus's accountants (not a rewrite): the epsilon of T steps of
the Poisson-subsampled Gaussian mechanism at sample rate q and noise multiplier sigma, and the inverse
(the noise multiplier that reaches a target epsilon). RDP (Mironov 2017, with Balle et al. 2020's
conversion) is an upper bound; PRV (Gopi et al. 2021) is numerically tight (within 0.3% of the exact
epsilon of composed Gaussian mechanisms, measured in tests/unit/test_dp_accounting.py)."""

from __future__ import annotations

import math
import warnings

from mlaudit.errors import InputError

ACCOUNTANTS = ("rdp", "prv")


def _check(sample_rate: float, steps: int, delta: float, accountant: str) -> None:
    if not 0 < sample_rate <= 1:
        raise InputError(f"the sample rate must be in (0, 1] (batch size / dataset size), got {sample_rate}")
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    if not 0 < delta < 1:
        raise InputError(f"delta must be in (0, 1), usually below 1 / dataset size; got {delta}")
    if accountant not in ACCOUNTANTS:
        raise InputError(f"unknown accountant {accountant!r}; use one of {', '.join(ACCOUNTANTS)}")


def _accountant(name: str) -> object:
    from opacus.accountants import PRVAccountant, RDPAccountant

    return RDPAccountant() if name == "rdp" else PRVAccountant()


def epsilon(*, sample_rate: float, noise_multiplier: float, steps: int, delta: float, accountant: str = "prv") -> float:
    """The (epsilon, delta)-DP guarantee of `steps` DP-SGD steps."""
    _check(sample_rate, steps, delta, accountant)
    if not noise_multiplier > 0 or not math.isfinite(noise_multiplier):
        raise InputError(f"the noise multiplier must be a positive number, got {noise_multiplier}")
    acc = _accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]  # type: ignore[attr-defined]
    with warnings.catch_warnings():  # opacus warns on log(0) at q = 1 and on its order grid's edge
        warnings.simplefilter("ignore")
        return float(acc.get_epsilon(delta=delta))  # type: ignore[attr-defined]


def noise_multiplier(*, epsilon: float, sample_rate: float, steps: int, delta: float, accountant: str = "prv") -> float:
    """The smallest noise multiplier (to Opacus's tolerance of 0.01 in epsilon) whose `steps` steps stay
    within `epsilon`."""
    from opacus.accountants.utils import get_noise_multiplier

    _check(sample_rate, steps, delta, accountant)
    if not epsilon > 0 or not math.isfinite(epsilon):
        raise InputError(f"the target epsilon must be a positive number, got {epsilon}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(
                get_noise_multiplier(
                    target_epsilon=epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    accountant=accountant,
                    epsilon_tolerance=0.01,
                )  # fmt: skip
            )
        except ValueError as e:  # opacus: the target cannot be reached
            raise InputError(f"no noise multiplier reaches epsilon {epsilon} at delta {delta}: {e}") from None
