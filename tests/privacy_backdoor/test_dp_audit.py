"""DP-SGD auditing with a persistent canary trap."""

import math

import numpy as np
import pytest
from opacus.accountants.utils import get_noise_multiplier

from mlaudit.data import digits
from mlaudit.defenses.dp import epsilon_lower_bound
from mlaudit.supplychain.privacy_backdoor.dp_audit import audit
from mlaudit.supplychain.privacy_backdoor.experiment import Setup, pretrain, splits


@pytest.mark.parametrize("epsilon", [1, 3, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lower_bound_never_exceeds_the_accountant(epsilon, seed):
    """The trap statistic under the DP-SGD model (r = 1, the most a trap can concentrate): the audited
    lower bound must stay below the RDP accountant's epsilon for every seed (soundness)."""
    q, steps = 0.2, 100
    sigma = get_noise_multiplier(
        target_epsilon=epsilon, target_delta=1e-5, sample_rate=q, steps=steps, accountant="rdp"
    )
    rng = np.random.default_rng(seed)
    sd = sigma * math.sqrt(steps)
    s0 = rng.normal(0, sd, 1_000_000)
    s1 = rng.binomial(steps, q, 1_000_000) + rng.normal(0, sd, 1_000_000)
    assert epsilon_lower_bound(s0, s1, delta=1e-5) <= epsilon


def test_real_dp_sgd_run_at_epsilon_8():
    """A real Opacus DP-SGD run on digits with the canary trapped: nearly all of the canary's clipped
    gradient lands on the trap row (r > 0.99), the real runs sit inside the model's distributions
    (|z| < 4), and the bound is at least half the accountant's epsilon."""
    data = digits()
    s = Setup(n_public=700, n_private=400, hidden=(128, 64))
    parts = splits(data, s, extra=1)
    base = pretrain(parts["public"], s)
    out = parts["outside"]
    row = audit(
        base,
        parts["private"].x,
        parts["private"].y,
        out.x[0],
        int(out.y[0]),
        parts["public"].x,
        epsilon=8,
        trials=2_000_000,
    )
    assert row.concentration > 0.99
    assert abs(row.z_with) < 4 and abs(row.z_without) < 4
    assert 0.5 * 8 <= row.epsilon_lower <= 8
