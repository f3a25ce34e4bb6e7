"""Checks of a user's data against their model, before any attack runs: a measurement on data the
model cannot have been trained on is a confident wrong number, so this refuses (exit 2) with what was
found and the fix. (Checks of the data alone: data.checks.)"""

from __future__ import annotations

import logging

import numpy as np

from mlaudit.data import Dataset
from mlaudit.errors import InputError
from mlaudit.targets import Target
from mlaudit.threat import ThreatModel

log = logging.getLogger(__name__)
FIT_SAMPLE = 512  # examples the fit check scores


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
