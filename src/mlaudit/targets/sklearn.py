"""Target adapter for a fitted scikit-learn classifier: an estimator object, or a skops file loaded with
trusted types only (never a pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.data.formats import existing
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.targets.base import Target
from mlaudit.threat import Access


class SklearnTarget(Target):
    """Probabilities from `predict_proba`; logits as log-probabilities (defined up to a constant)."""

    max_access = Access.LOGITS

    def __init__(self, estimator: Any, *, name: str = "sklearn-estimator") -> None:
        super().__init__()
        if not hasattr(estimator, "predict_proba"):
            raise InputError(
                f"{type(estimator).__name__} has no predict_proba; use a probabilistic classifier "
                "(or wrap its predict in CallableTarget with output='labels')"
            )
        if not hasattr(estimator, "classes_"):
            raise InputError(f"{type(estimator).__name__} is not fitted; call fit before auditing it")
        self.estimator = estimator
        self.num_classes = len(estimator.classes_)
        self.name = name

    def _probabilities(self, x: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(as_fitted(self.estimator, x)), dtype=np.float64)

    def _logits(self, x: Any) -> np.ndarray:
        return np.log(np.clip(self._probabilities(x), 1e-300, None))

    @classmethod
    def from_skops(cls, path: str | Path, *, trusted: tuple[str, ...] = (), name: str | None = None) -> SklearnTarget:
        """A fitted estimator from a skops file (load_skops), as a target."""
        p = Path(path)
        return cls(load_skops(p, trusted=trusted), name=name or f"{p.name} (scikit-learn)")

    @property
    def feature_names(self) -> list[str] | None:
        """The column names the estimator was fitted on (a DataFrame's), if it records them."""
        names = getattr(self.estimator, "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else None


def as_fitted(estimator: Any, x: Any) -> Any:
    """`x` as the estimator was fitted: a DataFrame with its column names when it records them."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return np.asarray(x)
    import pandas as pd

    return pd.DataFrame(np.asarray(x), columns=list(names))


def load_skops(path: Path, *, trusted: tuple[str, ...] = ()) -> Any:
    """Load a skops file without unpickling: only types skops trusts by default and those in `trusted`
    (the user's explicit list). Any other type is refused with the types named and how to allow them.
    Decision trees (sklearn.tree._tree.Tree, which skops never trusts by default: predict indexes its
    node arrays without bounds checks) are then checked node by node before the first prediction."""
    import skops.io as sio

    from mlaudit.targets.safe_load import sniff

    p = existing(str(path), "skops file")
    if sniff(p) != "zip":
        raise UnsafeFileError(f"{str(p)!r} is not a skops file (a zip archive); save the model with skops.io.dump")
    try:
        untrusted = sio.get_untrusted_types(file=p)
    except Exception as e:  # skops raises many types for malformed archives
        raise InputError(f"cannot read {str(p)!r} as a skops file: {e}") from None
    refused = [t for t in untrusted if t not in trusted]
    if refused:
        raise UnsafeFileError(
            f"{str(p)!r} holds types skops does not trust: {', '.join(refused)}; if you made the file or trust its "
            f"source, list them in target.trusted (library: trusted=[...])"
        )
    try:
        estimator = sio.load(p, trusted=[t for t in untrusted if t in trusted])
    except Exception as e:
        raise InputError(f"cannot load {str(p)!r} with skops: {e}") from None
    for tree in _trees(estimator):
        check_tree(tree, str(p))
    return estimator


def _trees(obj: Any, depth: int = 0) -> list[Any]:
    """Every sklearn Tree inside an estimator: its own, its sub-estimators', a pipeline's steps'."""
    if depth > 8:
        return []
    found = [obj.tree_] if hasattr(obj, "tree_") else []
    subs: list[Any] = []
    for attr in ("estimators_", "steps", "estimator_", "base_estimator_", "named_transformers_"):
        v = getattr(obj, attr, None)
        if v is None:
            continue
        if isinstance(v, dict):
            subs += list(v.values())
        elif isinstance(v, list | tuple | np.ndarray):
            subs += [s[1] if isinstance(s, tuple) else s for s in np.asarray(v, dtype=object).ravel()]
        else:
            subs.append(v)
    for s in subs:
        found += _trees(s, depth + 1)
    return found


def check_tree(tree: Any, where: str) -> None:
    """Refuse a tree whose node arrays would index out of bounds in predict (a crafted file's way to
    read or corrupt memory): children in [-1, node_count) and not the node itself, features in
    [-2, n_features), -1 children and -2 features on leaves only, a value row per node."""
    n = int(tree.node_count)
    left, right, feat = (np.asarray(a, dtype=np.int64) for a in (tree.children_left, tree.children_right, tree.feature))
    ok = len(left) == len(right) == len(feat) == n and np.asarray(tree.value).shape[0] == n and n > 0
    if ok:
        leaf = left == -1
        nodes = np.arange(n)
        ok = (
            bool(((left >= -1) & (left < n) & (right >= -1) & (right < n)).all())
            and bool(((right == -1) == leaf).all())
            and bool(((left > nodes) | leaf).all() and ((right > nodes) | leaf).all())  # children after parents
            and bool(((feat >= 0) & (feat < int(tree.n_features)) | leaf).all())
        )
    if not ok:
        raise UnsafeFileError(f"{where!r} holds a decision tree whose node arrays are out of bounds; do not load it")
