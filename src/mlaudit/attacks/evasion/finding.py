"""The audit's evasion finding: robust accuracy against eps, a standard evaluation, score-only and
label-only attacks under the query budget, transfer from the public base, and gradient-masking flags.

White-box numbers are what an adversary holding the weights achieves (the auditor always can); the
severity follows the strongest attack the threat model grants, so a labels-only API is judged by
HopSkipJump and by transfer from the public base.
"""

from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.evasion.autoattack import standard_evaluation
from mlaudit.attacks.evasion.base import flat_norm, predict_labels
from mlaudit.attacks.evasion.cw import cw_l2
from mlaudit.attacks.evasion.fgsm import fgsm
from mlaudit.attacks.evasion.hopskipjump import hopskipjump
from mlaudit.attacks.evasion.masking import check_masking
from mlaudit.attacks.evasion.pgd import pgd
from mlaudit.attacks.evasion.square import square
from mlaudit.attacks.evasion.transfer import TransferResult, feature_disruption, success
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.metrics import clopper_pearson
from mlaudit.targets.base import Target
from mlaudit.threat import Access


@dataclass(frozen=True)
class EvasionBudget:
    """How hard to look; the audit profiles pick one."""

    n_examples: int = 200
    eps: float = 0.1  # Linf, inputs in [0, 1]: the Fashion-MNIST convention
    eps_grid: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
    pgd_steps: int = 20
    apgd_steps: int = 50
    n_target_classes: int = 3
    square_queries: int = 1000
    hsj_examples: int = 10
    hsj_queries: int = 1000
    cw_examples: int = 50


QUICK = EvasionBudget()
FULL = EvasionBudget(n_examples=500, apgd_steps=100, n_target_classes=9, square_queries=5000, hsj_examples=20)


def black_box_examples(query_budget: int | None, budget: EvasionBudget) -> tuple[int, int]:
    """How many inputs Square and HopSkipJump attack: all (up to the budget's counts) with no query
    budget; else each gets half of it, at its per-input query cap, so the total stays within it."""
    if query_budget is None:
        return 1 << 30, budget.hsj_examples
    return (query_budget // 2) // budget.square_queries, (query_budget - query_budget // 2) // budget.hsj_queries


def _rate(k: int, n: int, method: str) -> Metric:
    lo, hi = clopper_pearson(k, n) if n else (0.0, 1.0)
    return Metric(k / n if n else float("nan"), lo, hi, method)


def _severity(success: float) -> Severity:
    return (
        Severity.HIGH
        if success >= 0.5
        else Severity.MEDIUM
        if success >= 0.2
        else (Severity.LOW if success > 0.05 else Severity.INFO)
    )


def evasion_finding(
    target: Target,
    x: np.ndarray,
    y: np.ndarray,
    *,
    access: Access,
    base_features: nn.Module | None = None,
    surrogate: nn.Module | None = None,
    budget: EvasionBudget = QUICK,
    seed: int,
    threat_model: dict[str, Any],
) -> Finding:
    """`target`: the audited classifier with gradients access (white-box attacks use its differentiable
    callable; Square and HopSkipJump query it, counted, within its query budget); `x`, `y`: held-out
    inputs in [0, 1] it did not train on; `base_features`/`surrogate`: the public base's feature
    extractor and a surrogate classifier built from the base on the adversary's own data, for the
    transfer attacks."""
    t0 = time.perf_counter()
    g, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    model = target.differentiable().eval()
    idx = rng.permutation(len(x))[: budget.n_examples]
    xn, yn = np.asarray(x[idx], np.float32), np.asarray(y[idx])
    xt, yt = torch.as_tensor(xn), torch.as_tensor(yn, dtype=torch.long)
    clean_ok = predict_labels(model, xn) == yn
    n = len(yn)

    sweep_pgd, sweep_fgsm = [], []
    x_pgd = xt
    for e in budget.eps_grid:
        xa = pgd(model, xt, yt, eps=e, steps=budget.pgd_steps, generator=g)
        sweep_pgd.append(float((predict_labels(model, xa.numpy()) == yn).mean()))
        sweep_fgsm.append(float((predict_labels(model, fgsm(model, xt, yt, eps=e).numpy()) == yn).mean()))
        if e == budget.eps:
            x_pgd = xa
    ev = standard_evaluation(
        model,
        xt,
        yt,
        eps=budget.eps,
        steps=budget.apgd_steps,
        n_target_classes=budget.n_target_classes,
        square_queries=0,
        seed=seed,
    )

    n_sq, n_hsj = black_box_examples(target.threat_model.query_budget, budget)
    ok = np.flatnonzero(clean_ok)[:n_sq]
    xs, q_sq = square(target.probabilities, xn[ok], yn[ok], eps=budget.eps, n_queries=budget.square_queries, rng=rng)
    sq_fooled_mask = predict_labels(model, xs) != yn[ok] if len(ok) else np.zeros(0, bool)
    sq_fooled = int(sq_fooled_mask.sum())
    h = np.flatnonzero(clean_ok)[: min(budget.hsj_examples, n_hsj)]
    xh, q_h = hopskipjump(target.labels, xn[h], yn[h], max_queries=budget.hsj_queries, rng=rng)
    d_h = (xh - xn[h]).reshape(len(h), int(np.prod(xn.shape[1:])))
    hsj_l2, hsj_linf = np.linalg.norm(d_h, axis=1), np.abs(d_h).max(1, initial=0.0)
    c = np.flatnonzero(clean_ok)[: budget.cw_examples]
    x_cw = cw_l2(model, xt[c], yt[c], steps=100, search_steps=5)
    cw_ok = predict_labels(model, x_cw.numpy()) != yn[c]
    cw_med = float(np.median(flat_norm(x_cw - xt[c], "l2").numpy()[cw_ok])) if cw_ok.any() else float("nan")

    transfers: dict[str, TransferResult] = {}
    if surrogate is not None:
        xs_t = pgd(surrogate.eval(), xt, yt, eps=budget.eps, steps=budget.pgd_steps, generator=g)
        transfers["surrogate-pgd"] = success(lambda z: predict_labels(model, z), xn, xs_t.numpy(), yn)
    if base_features is not None:
        xf = feature_disruption(base_features.eval(), xt, eps=budget.eps, steps=budget.pgd_steps, generator=g)
        transfers["base-feature-disruption"] = success(lambda z: predict_labels(model, z), xn, xf.numpy(), yn)
    # Square ran on every correct input: where it succeeded and the white-box evaluation did not, the
    # gradients were the weaker signal (AutoAttack's "black-box beats white-box" flag)
    broken_by = list(ev.broken_by)
    for i, fooled in zip(ok, sq_fooled_mask, strict=True):
        if fooled and ev.robust[i]:
            broken_by[i] = "square"
    flags = check_masking(
        model, xt, yt, broken_by=tuple(broken_by), robust_by_eps=dict(zip(budget.eps_grid, sweep_pgd, strict=True))
    )

    n_ok = int(clean_ok.sum())
    white = n_ok - int(ev.robust.sum())
    metrics = {
        "clean_accuracy": _rate(int(clean_ok.sum()), n, "on held-out inputs"),
        f"robust_accuracy_pgd_eps{budget.eps:g}": Metric(sweep_pgd[list(budget.eps_grid).index(budget.eps)])
        if budget.eps in budget.eps_grid
        else Metric(float("nan")),
        "robust_accuracy_standard": _rate(int(ev.robust.sum()), n, "APGD-CE, then APGD-T (DLR)"),
        "white_box_success": _rate(white, n_ok, "share of correct inputs broken by APGD-CE/APGD-T"),
        "square_success": _rate(sq_fooled, len(ok), f"scores only, {budget.square_queries} queries each"),
        "square_mean_queries": Metric(float(q_sq.mean()) if len(q_sq) else 0.0),
        "hopskipjump_median_l2": Metric(float(np.median(hsj_l2)) if len(h) else float("nan"), method="labels only"),
        "hopskipjump_within_eps": _rate(int((hsj_linf <= budget.eps + 1e-6).sum()), len(h), "Linf <= eps"),
        "cw_l2_median": Metric(cw_med, method=f"C&W L2 on {len(c)} inputs"),
        "cw_success": _rate(int(cw_ok.sum()), len(c), "C&W L2, unbounded"),
        "masking_flags": Metric(float(len(flags))),
    }
    for name, tr in transfers.items():
        metrics[f"transfer_{name}"] = Metric(tr.success_rate, *tr.ci, method="craft on the public base, test on target")
    worst = _worst_permitted(access, white / max(n_ok, 1), sq_fooled / max(len(ok), 1), transfers, hsj_linf, budget)
    rows = [
        ["PGD + APGD (white-box)", "weights", f"eps {budget.eps:g}", f"{white}/{n_ok}"],
        ["Square", "probabilities", f"{budget.square_queries} queries", f"{sq_fooled}/{len(ok)}"],
        [
            "HopSkipJump",
            "labels",
            f"{budget.hsj_queries} queries",
            f"{int((hsj_linf <= budget.eps + 1e-6).sum())}/{len(h)} within eps",
        ],
    ]
    rows += [
        [f"transfer: {k}", "none (public base)", f"eps {budget.eps:g}", f"{v.n_fooled}/{v.n_correct}"]
        for k, v in transfers.items()
    ]
    show = np.flatnonzero(predict_labels(model, x_pgd.numpy()[:16]) != yn[:16])[:8]
    png = base64.b64encode(_grid(xn[show], x_pgd.numpy()[show])).decode() if len(show) else None
    summary = (
        f"At Linf eps {budget.eps:g} an adversary with the weights breaks {white} of {n_ok} correctly classified "
        f"held-out inputs (robust accuracy {ev.robust_accuracy:.1%}); score-only Square breaks {sq_fooled}/{len(ok)}"
        + "".join(f"; transfer ({k}) {v.success_rate:.1%}" for k, v in transfers.items())
        + (f". Gradient-masking flags: {', '.join(f.check for f in flags)}." if flags else ".")
    )
    arts = [
        Artifact(
            "curve",
            "Robust accuracy against eps (Linf)",
            {
                "x": list(budget.eps_grid),
                "xlabel": "eps",
                "ylabel": "accuracy",
                "ylim": [0, 1],
                "series": {"FGSM": sweep_fgsm, f"PGD-{budget.pgd_steps}": sweep_pgd},
            },
        ),
        Artifact("table", "Attacks", {"columns": ["attack", "access", "budget", "broken"], "rows": rows}),
    ]
    if flags:
        arts.append(
            Artifact(
                "table",
                "Gradient masking",
                {"columns": ["check", "what"], "rows": [[f.check, f.message] for f in flags]},
            )
        )
    if png:
        arts.append(
            Artifact(
                "image_grid",
                "Originals (top), PGD adversarial examples (middle), perturbation (bottom)",
                {"png_base64": png},
            )
        )
    return Finding(
        id="evasion",
        category="evasion",
        attack="evasion-suite",
        title="Adversarial examples: white-box, score-only, label-only and transferred from the public base",
        summary=summary,
        threat_model=threat_model,
        metrics=metrics,
        severity=worst,
        config={"budget": asdict(budget), "n_examples": n, "queries": target.queries},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=tuple(arts),
    )


def _worst_permitted(
    access: Access,
    white: float,
    sq: float,
    transfers: dict[str, TransferResult],
    hsj_linf: np.ndarray,
    budget: EvasionBudget,
) -> Severity:
    rates = [v.success_rate for v in transfers.values() if v.n_correct]
    if access >= Access.GRADIENTS:
        rates.append(white)
    if access >= Access.PROBABILITIES:
        rates.append(sq)
    if access >= Access.LABELS and len(hsj_linf):
        rates.append(float((hsj_linf <= budget.eps + 1e-6).mean()))
    return _severity(max(rates, default=0.0))


def _grid(x: np.ndarray, xa: np.ndarray) -> bytes:
    from mlaudit.images import grid_png

    return grid_png([x, xa, xa - x], ["original", "adversarial", "perturbation"])
