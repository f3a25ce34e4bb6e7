"""Reference (shadow) models' outputs on the audited examples, with the keep matrix that records
which examples each reference trained on. Attacks receive this record; training it is the runner's job."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class References:
    """Outputs of K reference models.

    Attributes:
        ids: (N,) keys of the audited examples (the runner's indices into its candidate pool).
        probabilities: (K, N, C) each reference's output on each audited example.
        keep: (K, N) True where the reference trained on the example (all False for offline references).
        population_probabilities: (K, Z, C) outputs on population examples none of them trained on.
        population_target: (Z, C) the target's outputs on the same population examples.
        population_labels: (Z,).
        views: names of the augmented queries (attacks.membership.augmentations) recorded, if any.
        view_probabilities: (V, K, N, C) each reference's output on each view of each audited example.
    """

    ids: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    keep: np.ndarray
    population_probabilities: np.ndarray
    population_target: np.ndarray
    population_labels: np.ndarray
    views: tuple[str, ...] = ()
    view_probabilities: np.ndarray | None = None

    def select(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, n, C) probabilities and (K, n) keep rows for the given example ids, in that order."""
        cols = self._columns(ids)
        return self.probabilities[:, cols], self.keep[:, cols]

    def select_views(self, ids: np.ndarray) -> np.ndarray:
        """(V, K, n, C) outputs on the recorded views of the given examples."""
        if self.view_probabilities is None:
            raise ValueError("these references recorded no augmented queries")
        return self.view_probabilities[:, :, self._columns(ids)]

    def _columns(self, ids: np.ndarray) -> np.ndarray:
        pos = {int(i): j for j, i in enumerate(self.ids)}
        try:
            return np.array([pos[int(i)] for i in ids])
        except KeyError as e:
            raise ValueError(
                f"example id {e} has no reference outputs; train references on the audited examples"
            ) from None
