"""Activation Clustering (Chen et al. 2018, arXiv 1811.03728): poisons form their own cluster.

For every class: reduce the penultimate activations to `n_components` with ICA, split them in two
with k-means, and flag the smaller cluster when its relative size is at most `size_threshold`
(the paper's 0.35 rule; the silhouette score is reported beside it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActivationClusteringResult:
    flagged: np.ndarray  # (N,) bool: in a class's small cluster
    flagged_classes: tuple[int, ...]
    relative_size: dict[int, float]
    silhouette: dict[int, float]

    def recall(self, is_poison: np.ndarray) -> float:
        return float(self.flagged[is_poison].mean()) if is_poison.any() else float("nan")


def activation_clustering(
    reps: np.ndarray, labels: np.ndarray, *, n_components: int = 10, size_threshold: float = 0.35, seed: int = 0
) -> ActivationClusteringResult:
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.decomposition import FastICA
    from sklearn.metrics import silhouette_score

    flagged = np.zeros(len(labels), bool)
    sizes, sil, classes = {}, {}, []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2 * n_components:
            continue
        r = reps[idx] - reps[idx].mean(0)
        # dead ReLU units are constant columns: scikit-learn's FastICA fixes the sign of each whitening
        # direction by its first coordinate, which is 0 when the first unit is dead, and the whole
        # decomposition turns NaN (measured on the full default audit's CNN). Drop them, and keep at most
        # as many components as the live units span.
        r = r[:, r.std(0) > 0]
        k = min(n_components, int(np.linalg.matrix_rank(r))) if r.shape[1] else 0
        if k < 1:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FastICA's convergence chatter on near-degenerate activations
            z = FastICA(n_components=k, random_state=seed, max_iter=400).fit_transform(r)
        km = KMeans(2, n_init=10, random_state=seed).fit(z)
        counts = np.bincount(km.labels_, minlength=2)
        small = int(counts.argmin())
        sizes[int(c)] = float(counts[small] / len(idx))
        sil[int(c)] = float(silhouette_score(z, km.labels_, sample_size=min(len(idx), 2000), random_state=seed))
        if sizes[int(c)] <= size_threshold:
            classes.append(int(c))
            flagged[idx[km.labels_ == small]] = True
    return ActivationClusteringResult(flagged, tuple(classes), sizes, sil)
