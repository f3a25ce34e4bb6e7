"""Checks of a user's data against each other and against their model, before any attack runs: a
measurement on data the model cannot have been trained on, or on one set given twice, is a confident
wrong number, so these refuse (exit 2) with what was found and the fix."""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from mlaudit.data import Dataset
from mlaudit.errors import InputError
from mlaudit.targets import Target
from mlaudit.threat import ThreatModel

log = logging.getLogger(__name__)
FIT_SAMPLE = 512  # examples the fit check scores


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


def shared(a: Dataset, b: Dataset) -> int:
    """How many examples of `a` also appear (same input and label) in `b`."""
    seen = set(fingerprints(b))
    return sum(f in seen for f in fingerprints(a))


def check_disjoint(members: Dataset, nonmembers: Dataset, *, rng: np.random.Generator) -> dict[str, float]:
    """Refuse members and non-members that are the same examples. Tables of discrete features hold
    natural duplicates (the same row for two people), so the share of members also among the
    non-members is compared with the share between two random halves of the non-members: refused when
    (nearly) every example is shared, or when the share is far above that natural rate."""
    r = shared(members, nonmembers) / len(members)
    order = rng.permutation(len(nonmembers))
    a, b = nonmembers.subset(order[: len(order) // 2]), nonmembers.subset(order[len(order) // 2 :])
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


def check_fit(target: Target, members: Dataset, *, rng: np.random.Generator) -> dict[str, float]:
    """The model must take the members and classify them better than always naming their most common
    label: otherwise the data is not what it was trained on (pixel scale, channel order, feature
    order, label mapping) and every attack would measure that mismatch, not the model."""
    view = target.restricted(ThreatModel(access=target.max_access))  # the auditor's own check
    idx = rng.permutation(len(members))[:FIT_SAMPLE]
    sample = members.subset(idx)
    try:
        pred = view.labels(sample.x)
    except InputError:
        raise
    except Exception as e:  # the model's own error on this input (shapes, dtypes) says what does not fit
        shape = getattr(sample.x, "shape", None)
        each = f"shape {tuple(shape[1:])} per example" if shape is not None else f"{sample.kind} data"
        raise InputError(
            f"the model cannot take the members ({each}): {type(e).__name__}: {str(e)[:200]}; give data shaped "
            "as the model expects (target.input_shape, channels first)"
        ) from None
    acc = float((pred == sample.y).mean())
    majority = float(np.bincount(sample.y).max() / len(sample.y))
    if acc <= majority:
        raise InputError(
            f"the model classifies {len(sample)} members with accuracy {acc:.1%}, no better than always naming "
            f"their most common label ({majority:.1%}): the data is not what it was trained on (pixel scale 0..1 "
            "vs 0..255, normalisation, channel or feature order, label mapping); fix the data, or the labels"
        )
    return {"member_accuracy": acc, "member_majority_rate": majority}
