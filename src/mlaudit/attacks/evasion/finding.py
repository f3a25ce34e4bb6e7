"""The audit's evasion finding: robust accuracy against eps, a standard evaluation, score-only and
label-only attacks under the query budget, transfer from the public base, and gradient-masking flags.

White-box numbers are what an adversary holding the weights achieves (the auditor always can); the
severity follows the strongest attack the threat model grants, so a labels-only API is judged by
HopSkipJump and by transfer from the public base.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
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
from mlaudit.attacks.evasion.masking import MaskingFlag, check_masking
from mlaudit.attacks.evasion.pgd import pgd
from mlaudit.attacks.evasion.square import square
from mlaudit.attacks.evasion.transfer import TransferResult, feature_disruption, success
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.images import grid_png
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


def rate(k: int, n: int, method: str) -> Metric:
    lo, hi = clopper_pearson(k, n) if n else (0.0, 1.0)
    return Metric(k / n if n else float("nan"), lo, hi, method)


def success_severity(success: float) -> Severity:
    return (
        Severity.HIGH
        if success >= 0.5
        else Severity.MEDIUM
        if success >= 0.2
        else (Severity.LOW if success > 0.05 else Severity.INFO)
    )


@dataclass(frozen=True)
class EvasionResult:
    """What the suite measured (step one of three: result, severity policy, rendering)."""

    budget: EvasionBudget
    n: int  # held-out inputs attacked
    clean_ok: np.ndarray  # (n,) bool: classified correctly without perturbation
    sweep_pgd: list[float]  # robust accuracy at each eps of budget.eps_grid
    sweep_fgsm: list[float]
    robust: int  # correct inputs that survive APGD-CE and APGD-T at budget.eps
    square_fooled: int
    square_n: int
    square_queries: np.ndarray  # queries Square spent per input
    hsj_l2: np.ndarray  # HopSkipJump's final L2 / Linf distances per input
    hsj_linf: np.ndarray
    cw_fooled: int
    cw_n: int
    cw_median_l2: float
    transfers: dict[str, TransferResult]
    flags: list[MaskingFlag]
    originals: np.ndarray  # a few inputs PGD broke, and their adversarial versions (for the report)
    adversarial: np.ndarray
    queries: int  # counted queries to the target

    @property
    def n_ok(self) -> int:
        return int(self.clean_ok.sum())

    @property
    def white(self) -> int:
        return self.n_ok - self.robust

    @property
    def hsj_within(self) -> int:
        return hsj_within(self.hsj_l2, self.hsj_linf, self.budget.eps)

    @property
    def hsj_median_l2(self) -> float:
        return hsj_median_l2(self.hsj_l2)


def hsj_within(l2: np.ndarray, linf: np.ndarray, eps: float) -> int:
    """Inputs HopSkipJump flipped within eps (it returns the input itself, at distance 0, when it found
    no adversarial example: that is not a success)."""
    return int(((linf <= eps + 1e-6) & (l2 > 0)).sum())


def hsj_median_l2(l2: np.ndarray) -> float:
    """Median L2 distance of the adversarial examples HopSkipJump found (NaN: it found none)."""
    found = l2[l2 > 0]
    return float(np.median(found)) if len(found) else float("nan")


def measure_evasion(
    target: Target,
    x: np.ndarray,
    y: np.ndarray,
    *,
    base_features: nn.Module | None = None,
    surrogate: nn.Module | None = None,
    budget: EvasionBudget = QUICK,
    seed: int,
) -> EvasionResult:
    """Run every part of the suite on up to `budget.n_examples` of the held-out inputs."""
    g, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    model = target.differentiable().eval()
    idx = rng.permutation(len(x))[: budget.n_examples]
    xn, yn = np.asarray(x[idx], np.float32), np.asarray(y[idx])
    xt, yt = torch.as_tensor(xn), torch.as_tensor(yn, dtype=torch.long)
    clean_ok = predict_labels(model, xn) == yn
    sweep_pgd, sweep_fgsm, x_pgd = _sweeps(model, xt, yt, yn, budget, g)
    ev = standard_evaluation(
        model, xt, yt, eps=budget.eps, steps=budget.apgd_steps, n_target_classes=budget.n_target_classes,
        square_queries=0, generator=torch.Generator().manual_seed(seed), rng=np.random.default_rng(seed),
    )  # fmt: skip
    sq = _square(target, model, xn, yn, clean_ok, budget, rng)
    hsj_l2, hsj_linf = _hopskipjump(target, xn, yn, clean_ok, budget, rng)
    cw_fooled, cw_n, cw_med = _cw(model, xt, yt, yn, clean_ok, budget)
    crafted = transfers(lambda z: predict_labels(model, z), xn, yn, surrogate, base_features, budget, g)
    # Square ran on every correct input: where it succeeded and the white-box evaluation did not, the
    # gradients were the weaker signal (AutoAttack's "black-box beats white-box" flag)
    broken_by = list(ev.broken_by)
    for i, fooled in zip(sq[0], sq[1], strict=True):
        if fooled and ev.robust[i]:
            broken_by[i] = "square"
    flags = check_masking(
        model, xt, yt, broken_by=tuple(broken_by), robust_by_eps=dict(zip(budget.eps_grid, sweep_pgd, strict=True))
    )
    show = np.flatnonzero(predict_labels(model, x_pgd.numpy()[:16]) != yn[:16])[:8]
    return EvasionResult(
        budget, len(yn), clean_ok, sweep_pgd, sweep_fgsm, int(ev.robust.sum()), int(sq[1].sum()), len(sq[0]),
        sq[2], hsj_l2, hsj_linf, cw_fooled, cw_n, cw_med, crafted, flags, xn[show], x_pgd.numpy()[show],
        target.queries,
    )  # fmt: skip


def _sweeps(
    model: nn.Module, xt: torch.Tensor, yt: torch.Tensor, yn: np.ndarray, budget: EvasionBudget, g: torch.Generator
) -> tuple[list[float], list[float], torch.Tensor]:
    """PGD and FGSM robust accuracy over the eps grid, and PGD's examples at budget.eps."""
    sweep_pgd, sweep_fgsm = [], []
    x_pgd = xt
    for e in budget.eps_grid:
        xa = pgd(model, xt, yt, eps=e, steps=budget.pgd_steps, generator=g)
        sweep_pgd.append(float((predict_labels(model, xa.numpy()) == yn).mean()))
        sweep_fgsm.append(float((predict_labels(model, fgsm(model, xt, yt, eps=e).numpy()) == yn).mean()))
        if e == budget.eps:
            x_pgd = xa
    return sweep_pgd, sweep_fgsm, x_pgd


def _square(
    target: Target, model: nn.Module, xn: np.ndarray, yn: np.ndarray, clean_ok: np.ndarray, budget: EvasionBudget,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Square on the scores, counted by the target, on as many correct inputs as the query budget allows:
    (indices attacked, fooled mask, queries spent per input)."""
    n_sq, _ = black_box_examples(target.threat_model.query_budget, budget)
    ok = np.flatnonzero(clean_ok)[:n_sq]
    xs, q_sq = square(target.probabilities, xn[ok], yn[ok], eps=budget.eps, n_queries=budget.square_queries, rng=rng)
    fooled = predict_labels(model, xs) != yn[ok] if len(ok) else np.zeros(0, bool)
    return ok, fooled, q_sq


def _hopskipjump(
    target: Target, xn: np.ndarray, yn: np.ndarray, clean_ok: np.ndarray, budget: EvasionBudget,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """HopSkipJump on the labels, counted: final L2 and Linf distance per attacked input."""
    _, n_hsj = black_box_examples(target.threat_model.query_budget, budget)
    return hopskipjump_distances(
        target, xn, yn, np.flatnonzero(clean_ok)[: min(budget.hsj_examples, n_hsj)], budget, rng
    )


def hopskipjump_distances(
    target: Target, xn: np.ndarray, yn: np.ndarray, h: np.ndarray, budget: EvasionBudget, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """HopSkipJump on the labels of inputs `h`, counted: final L2 and Linf distance per attacked input
    (0 where it found nothing)."""
    xh, _ = hopskipjump(target.labels, xn[h], yn[h], max_queries=budget.hsj_queries, rng=rng)
    d_h = (xh - xn[h]).reshape(len(h), int(np.prod(xn.shape[1:])))
    return np.linalg.norm(d_h, axis=1), np.abs(d_h).max(1, initial=0.0)


def _cw(
    model: nn.Module, xt: torch.Tensor, yt: torch.Tensor, yn: np.ndarray, clean_ok: np.ndarray, budget: EvasionBudget
) -> tuple[int, int, float]:
    """C&W L2 (unbounded) on the first correct inputs: (fooled, attacked, median L2 of the successes)."""
    c = np.flatnonzero(clean_ok)[: budget.cw_examples]
    x_cw = cw_l2(model, xt[c], yt[c], steps=100, search_steps=5)
    cw_ok = predict_labels(model, x_cw.numpy()) != yn[c]
    med = float(np.median(flat_norm(x_cw - xt[c], "l2").numpy()[cw_ok])) if cw_ok.any() else float("nan")
    return int(cw_ok.sum()), len(c), med


def transfers(
    labels: Callable[[np.ndarray], np.ndarray], xn: np.ndarray, yn: np.ndarray,
    surrogate: nn.Module | None, base_features: nn.Module | None, budget: EvasionBudget, g: torch.Generator,
) -> dict[str, TransferResult]:  # fmt: skip
    """Crafted on what the adversary holds (a surrogate, the public base's features), tested on the
    target through `labels` (the auditor's model, or the adversary's counted view)."""
    out: dict[str, TransferResult] = {}
    xt, yt = torch.as_tensor(xn), torch.as_tensor(yn, dtype=torch.long)
    if surrogate is not None:
        xs_t = pgd(surrogate.eval(), xt, yt, eps=budget.eps, steps=budget.pgd_steps, generator=g)
        out["surrogate-pgd"] = success(labels, xn, xs_t.numpy(), yn)
    if base_features is not None:
        xf = feature_disruption(base_features.eval(), xt, eps=budget.eps, steps=budget.pgd_steps, generator=g)
        out["base-feature-disruption"] = success(labels, xn, xf.numpy(), yn)
    return out


def evasion_severity(r: EvasionResult, access: Access) -> Severity:
    """The policy: the strongest success rate among the attacks the access grants (transfer needs none)."""
    rates = [v.success_rate for v in r.transfers.values() if v.n_correct]
    if access >= Access.GRADIENTS:
        rates.append(r.white / max(r.n_ok, 1))
    if access >= Access.PROBABILITIES:
        rates.append(r.square_fooled / max(r.square_n, 1))
    if access >= Access.LABELS and len(r.hsj_linf):
        rates.append(r.hsj_within / len(r.hsj_linf))
    return success_severity(max(rates, default=0.0))


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
    r = measure_evasion(target, x, y, base_features=base_features, surrogate=surrogate, budget=budget, seed=seed)
    return render_evasion(
        r, evasion_severity(r, access), seed=seed, threat_model=threat_model, duration_s=time.perf_counter() - t0
    )


def _metrics(r: EvasionResult) -> dict[str, Metric]:
    b = r.budget
    m = {
        "clean_accuracy": rate(r.n_ok, r.n, "on held-out inputs"),
        f"robust_accuracy_pgd_eps{b.eps:g}": Metric(r.sweep_pgd[list(b.eps_grid).index(b.eps)])
        if b.eps in b.eps_grid
        else Metric(float("nan")),
        "robust_accuracy_standard": rate(r.robust, r.n, "APGD-CE, then APGD-T (DLR)"),
        "white_box_success": rate(r.white, r.n_ok, "share of correct inputs broken by APGD-CE/APGD-T"),
        "square_success": rate(r.square_fooled, r.square_n, f"scores only, {b.square_queries} queries each"),
        "square_mean_queries": Metric(float(r.square_queries.mean()) if len(r.square_queries) else 0.0),
        "hopskipjump_median_l2": Metric(r.hsj_median_l2, method="labels only, of the adversarial examples found"),
        "hopskipjump_within_eps": rate(r.hsj_within, len(r.hsj_linf), "Linf <= eps"),
        "cw_l2_median": Metric(r.cw_median_l2, method=f"C&W L2 on {r.cw_n} inputs"),
        "cw_success": rate(r.cw_fooled, r.cw_n, "C&W L2, unbounded"),
        "masking_flags": Metric(float(len(r.flags))),
    }
    for name, tr in r.transfers.items():
        m[f"transfer_{name}"] = Metric(tr.success_rate, *tr.ci, method="craft on the public base, test on target")
    return m


def _artifacts(r: EvasionResult) -> list[Artifact]:
    b = r.budget
    rows = [
        ["PGD + APGD (white-box)", "weights", f"eps {b.eps:g}", f"{r.white}/{r.n_ok}"],
        ["Square", "probabilities", f"{b.square_queries} queries", f"{r.square_fooled}/{r.square_n}"],
        ["HopSkipJump", "labels", f"{b.hsj_queries} queries", f"{r.hsj_within}/{len(r.hsj_linf)} within eps"],
    ]
    rows += [
        [f"transfer: {k}", "none (public base)", f"eps {b.eps:g}", f"{v.n_fooled}/{v.n_correct}"]
        for k, v in r.transfers.items()
    ]
    series = {"FGSM": r.sweep_fgsm, f"PGD-{b.pgd_steps}": r.sweep_pgd}
    arts = [
        Artifact(
            "curve",
            "Robust accuracy against eps (Linf)",
            {"x": list(b.eps_grid), "xlabel": "eps", "ylabel": "accuracy", "ylim": [0, 1], "series": series},
        ),
        Artifact("table", "Attacks", {"columns": ["attack", "access", "budget", "broken"], "rows": rows}),
    ]
    if r.flags:
        masking = {"columns": ["check", "what"], "rows": [[f.check, f.message] for f in r.flags]}
        arts.append(Artifact("table", "Gradient masking", masking))
    if len(r.originals):
        png = grid_png(
            [r.originals, r.adversarial, r.adversarial - r.originals], ["original", "adversarial", "perturbation"]
        )
        title = "Originals (top), PGD adversarial examples (middle), perturbation (bottom)"
        arts.append(Artifact("image_grid", title, {"png_base64": base64.b64encode(png).decode()}))
    return arts


def _title(r: EvasionResult) -> str:
    """What ran, in words: the transfer part is named only when a transfer ran (a base, a surrogate)."""
    ran = ["white-box", "score-only"]
    if len(r.hsj_l2):
        ran.append("label-only")
    sources = {"surrogate-pgd": "a surrogate", "base-feature-disruption": "the public base"}
    origins = [sources.get(k, k) for k in r.transfers]
    if origins:
        ran.append("transferred from " + " and ".join(origins))
    return "Adversarial examples: " + ", ".join(ran[:-1]) + " and " + ran[-1]


def render_evasion(
    r: EvasionResult, severity: Severity, *, seed: int, threat_model: dict[str, Any], duration_s: float
) -> Finding:
    """The Finding for a measured result and the severity the policy gave it."""
    b = r.budget
    summary = (
        f"At Linf eps {b.eps:g} an adversary with the weights breaks {r.white} of {r.n_ok} correctly classified "
        f"held-out inputs (robust accuracy {r.robust / r.n if r.n else float('nan'):.1%}); score-only Square "
        f"breaks {r.square_fooled}/{r.square_n}"
        + "".join(f"; transfer ({k}) {v.success_rate:.1%}" for k, v in r.transfers.items())
        + (f". Gradient-masking flags: {', '.join(f.check for f in r.flags)}." if r.flags else ".")
    )
    return Finding(
        id="evasion",
        category="evasion",
        attack="evasion-suite",
        title=_title(r),
        summary=summary,
        threat_model=threat_model,
        metrics=_metrics(r),
        severity=severity,
        config={"budget": asdict(b), "n_examples": r.n, "queries": r.queries},
        seed=seed,
        duration_s=round(duration_s, 3),
        versions=versions(),
        artifacts=tuple(_artifacts(r)),
    )
