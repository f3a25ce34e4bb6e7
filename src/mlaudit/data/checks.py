"""Checks of a user's data sets against each other, before any model is loaded: members and
non-members given as the same examples would measure nothing and report it as "no leak"."""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError

log = logging.getLogger(__name__)


def fingerprints(d: Dataset) -> list[bytes]:
    """One hash per example: its input and its label."""
    if isinstance(d.x, list):
        rows = [str(t).encode() for t in d.x]
    else:
        a = np.ascontiguousarray(d.x, dtype=np.float32).reshape(len(d), -1)
        rows = [r.tobytes() for r in a]
    return [
        hashlib.blake2b(r + int(y).to_bytes(8, "little"), digest_size=16).digest()
        for r, y in zip(rows, d.y, strict=True)
    ]


def shared(a: list[bytes], b: list[bytes]) -> int:
    """How many of the fingerprints `a` (examples: fingerprints) also appear in `b`."""
    seen = set(b)
    return sum(f in seen for f in a)


def check_disjoint(members: Dataset, nonmembers: Dataset, *, rng: np.random.Generator) -> dict[str, float]:
    """Refuse members and non-members that are the same examples. Tables of discrete features hold
    natural duplicates (the same row for two people), so the share of members also among the
    non-members is compared with the share between two random halves of the non-members: refused when
    (nearly) every example is shared, or when the share is far above that natural rate."""
    fn = fingerprints(nonmembers)  # once: for the members' share and for the two halves
    r = shared(fingerprints(members), fn) / len(members)
    order = rng.permutation(len(nonmembers))
    a, b = [fn[i] for i in order[: len(order) // 2]], [fn[i] for i in order[len(order) // 2 :]]
    natural = shared(a, b) / max(1, len(a)) if len(a) and len(b) else 0.0
    if r >= 0.99 or (r >= 0.1 and r > 2 * natural + 0.05):
        raise InputError(
            f"{r:.0%} of the members ({members.name!r}) are also among the non-members ({nonmembers.name!r}), "
            f"against {natural:.0%} between two halves of the non-members: the same examples were given twice; "
            "give the examples the model was trained on and ones it was not"
        )
    if r:
        log.warning("%.1f%% of the members are also among the non-members (duplicates in the data)", 100 * r)
    return {"members_among_nonmembers": r, "nonmembers_among_each_other": natural}
