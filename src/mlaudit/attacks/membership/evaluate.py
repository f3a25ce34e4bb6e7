"""Turn membership scores into metrics, a severity and a ROC artifact (shared by every MIA)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlaudit import metrics as M
from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.references import References
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Metric, Severity
from mlaudit.targets.base import Target

FPRS = (0.001, 0.01)
_ROC_POINTS = 400


def membership_metrics(
    members: np.ndarray, nonmembers: np.ndarray, *, fprs: tuple[float, ...] = FPRS
) -> dict[str, Metric]:
    """AUC (Hanley-McNeil 95% interval), TPR at each FPR (Clopper-Pearson 95%), advantage, null sigma."""
    a = M.auc_interval(members, nonmembers)
    out = {"auc": Metric(a.value, a.low, a.high, "Hanley-McNeil 95%")}
    for fpr in fprs:
        t = M.tpr_at_fpr(members, nonmembers, fpr)
        out[f"tpr_at_{fpr:g}_fpr"] = Metric(t.value, t.low, t.high, "Clopper-Pearson 95%")
    out["advantage"] = Metric(M.advantage(members, nonmembers), method="max TPR - FPR")
    out["auc_null_sigma"] = Metric(M.mann_whitney_null_sigma(len(members), len(nonmembers)), method="Mann-Whitney H0")
    out["n_members"] = Metric(float(len(members)))
    out["n_nonmembers"] = Metric(float(len(nonmembers)))
    return out


REFERENCE_DRAWS = 100


def reference_draw(
    score: Callable[[np.ndarray], np.ndarray], k: int, n_members: int, *, seed: int, draws: int = REFERENCE_DRAWS
) -> dict[str, Metric]:
    """How much TPR at 1% FPR and AUC move with the draw of the K reference models, which the intervals
    of membership_metrics (over examples) leave out: the attack is rescored on `draws` bootstrap
    resamples of its references (`score(indices) -> scores`, members first) and the median with the
    2.5-97.5 percentiles is reported. A resample repeats some references, so it shows the spread,
    not an unbiased value; with one reference there is nothing to resample and nothing is reported."""
    if k < 2:
        return {}
    rng = np.random.default_rng(seed)
    tpr, auc = [], []
    for _ in range(draws):
        s = score(rng.integers(0, k, size=k))
        tpr.append(M.tpr_at_fpr(s[:n_members], s[n_members:], 0.01).value)
        auc.append(M.auc(s[:n_members], s[n_members:]))
    method = f"bootstrap over the {k} references, {draws} resamples: median, 2.5-97.5 percentiles"

    def metric(v: list[float]) -> Metric:
        lo, mid, hi = np.percentile(v, [2.5, 50, 97.5])
        return Metric(float(mid), float(lo), float(hi), method)

    return {"tpr_at_0.01_fpr_over_reference_draws": metric(tpr), "auc_over_reference_draws": metric(auc)}


def membership_severity(m: dict[str, Metric]) -> Severity:
    """Severity from the lower confidence bounds, so chance-level noise never raises it.

    high: TPR at 0.1% FPR is above 5% for sure, or AUC above 0.75 for sure (Carlini et al. 2022
    argue that low-FPR TPR is what matters); medium: AUC above 0.6 or TPR at 1% FPR above 5%;
    low: AUC above chance by more than 4 null sigmas; info otherwise.
    """
    auc_low = m["auc"].ci_low or 0.0
    tpr01 = m["tpr_at_0.001_fpr"].ci_low or 0.0
    tpr1 = m["tpr_at_0.01_fpr"].ci_low or 0.0
    if tpr01 > 0.05 or auc_low > 0.75:
        return Severity.HIGH
    if auc_low > 0.6 or tpr1 > 0.05:
        return Severity.MEDIUM
    if m["auc"].value > 0.5 + 4 * m["auc_null_sigma"].value:
        return Severity.LOW
    return Severity.INFO


def roc_artifact(members: np.ndarray, nonmembers: np.ndarray, title: str) -> Artifact:
    """ROC points thinned to at most ~400, kept dense at low FPR for the log-log plot."""
    fpr, tpr, _ = M.roc(members, nonmembers)
    keep = np.unique(
        np.concatenate([np.searchsorted(fpr, np.logspace(-5, 0, _ROC_POINTS)).clip(0, len(fpr) - 1), [0, len(fpr) - 1]])
    )
    return Artifact("roc", title, {"fpr": fpr[keep].round(6).tolist(), "tpr": tpr[keep].round(6).tolist()})


def exposure(members: np.ndarray, nonmembers: np.ndarray) -> np.ndarray:
    """Per-member risk: the share of non-members scoring strictly below it. A member with risk r is
    flagged at every threshold with FPR >= 1 - r; risk 1 means no non-member looks as much like a member."""
    return np.searchsorted(np.sort(nonmembers), members, side="left") / len(nonmembers)  # type: ignore[no-any-return]


def _finite(s: np.ndarray) -> list[float]:
    """Scores as JSON numbers: infinities clipped to the largest floats (their order kept), NaN refused."""
    if np.isnan(s).any():
        raise ValueError("membership scores contain NaN")
    return np.clip(np.asarray(s, dtype=np.float64), -np.finfo(np.float64).max, np.finfo(np.float64).max).tolist()


def scores_artifact(members: Dataset, nonmembers: Dataset, s_in: np.ndarray, s_out: np.ndarray) -> Artifact:
    """Every audited example's score by id (members, then non-members), in full precision, so that any
    metric can be recomputed from report.json (higher = more likely a member)."""

    def ids(d: Dataset) -> list[int]:
        return [int(i) for i in (d.ids if d.ids is not None else np.arange(len(d)))]

    return Artifact(
        "scores",
        f"Per-example scores ({len(s_in)} members, {len(s_out)} non-members)",
        {
            "members": {"ids": ids(members), "scores": _finite(s_in)},
            "nonmembers": {"ids": ids(nonmembers), "scores": _finite(s_out)},
            "higher_means": "member",
        },
    )


def exposed_artifacts(
    members: Dataset | None,
    s_in: np.ndarray,
    s_out: np.ndarray,
    *,
    nonmembers: Dataset | None = None,
    k: int = 8,
) -> tuple[Artifact, ...]:
    """The `k` most exposed members (highest scores) shown as the data is (images as images, text as
    text, rows as rows), every member's risk by example id in the table's data for machines, and, given
    the non-members, every example's score (scores_artifact)."""
    if members is None:
        return ()
    scores = (scores_artifact(members, nonmembers, s_in, s_out),) if nonmembers is not None else ()
    risk = exposure(s_in, s_out)
    top = np.argsort(-s_in, kind="stable")[:k]
    ids = members.ids if members.ids is not None else np.arange(len(members))

    grid_title = "The most exposed members"

    def shown(r: int, i: int) -> str:
        if members.kind == "text":
            t = str(members.x[i])
            return t if len(t) <= 160 else t[:157] + "..."
        if members.kind == "tabular":
            values = np.asarray(members.x[i]).ravel()[:12]
            names = list(members.meta.get("features", []))[: len(values)]
            if len(names) == len(values):
                return ", ".join(f"{k}={v:.3g}" for k, v in zip(names, values, strict=True))
            return ", ".join(f"{v:.4g}" for v in values)
        return f"image {r + 1} of '{grid_title}'"

    rows = [
        [r + 1, int(ids[i]), members.classes[int(members.y[i])], float(s_in[i]), float(1 - risk[i]), shown(r, int(i))]
        for r, i in enumerate(top)
    ]
    title = f"The {len(top)} most exposed members ({members.name})"
    tied = int((s_in == s_in[top[-1]]).sum()) if len(top) else 0
    shown_tied = int((s_in[top] == s_in[top[-1]]).sum()) if len(top) else 0
    if tied > shown_tied:  # the ranking cannot tell these apart: say so rather than imply an order
        title += f"; {tied} members tie at score {s_in[top[-1]]:.4g}, {shown_tied} of them shown, in data order"
    table = Artifact(
        "table",
        title,
        {
            "columns": ["rank", "id", "label", "score", "flagged at FPR", "example"],
            "rows": rows,
            "percent_columns": ["flagged at FPR"],
            "risk_by_id": {str(int(i)): round(float(r), 6) for i, r in zip(ids, risk, strict=True)},
        },
    )
    if members.kind != "image":
        return table, *scores
    import base64

    from mlaudit.images import grid_png

    png = grid_png([np.asarray(members.x)[top]], ["most exposed"], title=f"ranks 1 to {len(top)}, left to right")
    grid = Artifact("image_grid", grid_title, {"png_base64": base64.b64encode(png).decode()})
    return table, grid, *scores


def score_histogram(members: np.ndarray, nonmembers: np.ndarray, title: str, *, bins: int = 40) -> Artifact:
    edges = np.histogram_bin_edges(np.concatenate([members, nonmembers]), bins=bins)
    return Artifact(
        "histogram",
        title,
        {
            "edges": edges.round(6).tolist(),
            "series": {
                "members": np.histogram(members, edges)[0].tolist(),
                "non-members": np.histogram(nonmembers, edges)[0].tolist(),
            },
        },
    )


def evaluation_pair(inputs: AttackInputs, attack: str, *, numeric: bool = False) -> tuple[Dataset, Dataset]:
    """The members and non-members an attack is scored on; `numeric` attacks perturb inputs and refuse text."""
    m, n = inputs.members, inputs.nonmembers
    if m is None or n is None:
        raise InputError(f"the {attack} attack needs members and non-members to evaluate")
    if numeric and m.kind == "text":
        raise InputError(f"the {attack} attack perturbs numeric inputs; text targets need a word-level variant")
    return m, n


def reference_signals(
    target: Target, inputs: AttackInputs, *, online: bool, attack: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, References]:
    """What a reference-model attack compares: labels (N,), the target's probabilities (N, C), the
    references' probabilities (K, N, C) and keep matrix (K, N) for members then non-members."""
    m, n = inputs.members, inputs.nonmembers
    refs = inputs.references if online else inputs.offline_references
    if m is None or n is None or refs is None or m.ids is None or n.ids is None:
        raise InputError(f"{attack} needs members, non-members and reference models trained on them")
    p_refs, keep = refs.select(np.concatenate([m.ids, n.ids]))
    p_target = np.concatenate([target.probabilities(m.x), target.probabilities(n.x)])
    return np.concatenate([m.y, n.y]), p_target, p_refs, keep, refs
