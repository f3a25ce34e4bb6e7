"""The audit's poisoning findings.

- `poisoning_demo_finding`: poison a share of the private training set (BadNets, Blended, one
  clean-label attack), train with the target's own recipe, and measure clean accuracy and attack
  success (ASR); then measure the detectors on it: Spectral Signatures and Activation Clustering on
  the poisoned training set, STRIP on triggered inputs, Neural Cleanse on the poisoned model.
- `backdoor_scan_finding`: Neural Cleanse on the audited model itself.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.evasion.base import predict_labels
from mlaudit.attacks.poisoning.badnets import BadNets
from mlaudit.attacks.poisoning.base import Poisoned, attack_success_rate
from mlaudit.attacks.poisoning.blended import Blended
from mlaudit.attacks.poisoning.clean_label import LabelConsistent
from mlaudit.defenses.backdoor import activation_clustering, neural_cleanse, penultimate, spectral_signatures, strip
from mlaudit.defenses.backdoor.neural_cleanse import familywise_threshold
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.images import grid_png
from mlaudit.metrics import clopper_pearson

Fit = Callable[[np.ndarray, np.ndarray], nn.Module]  # the target's training recipe on (x, y)


def _asr(model: nn.Module, xt: np.ndarray, yt: np.ndarray, apply: Callable[[np.ndarray], np.ndarray], t: int) -> Metric:
    keep = yt != t
    pred = predict_labels(model, apply(xt[keep]))
    k, n = int((pred == t).sum()), int(keep.sum())
    lo, hi = clopper_pearson(k, n)
    return Metric(attack_success_rate(pred, yt[keep], t), lo, hi, "triggered non-target test inputs sent to the target")


def _triggers_png(nc_masks: np.ndarray, nc_patterns: np.ndarray, labels: list[str]) -> str:
    return base64.b64encode(
        grid_png(
            [nc_masks, nc_masks[:, None] * nc_patterns],
            ["mask", "mask x pattern"],
            title="Reverse-engineered triggers per label: " + " ".join(labels),
        )
    ).decode()


@dataclass(frozen=True)
class PoisonRun:
    """One poisoning attack trained with the target's recipe."""

    name: str
    poison_rate: float
    clean_accuracy: float  # of the poisoned model on clean test inputs
    asr: Metric  # triggered non-target test inputs sent to the target label
    asr_clean_model: Metric  # the same trigger on the clean model (the floor)


@dataclass(frozen=True)
class PoisoningResult:
    """What the poisoning measurement found (step one of three: result, severity policy, rendering)."""

    rate: float
    target_label: int
    n_train: int
    nc_epochs: int
    clean_model_accuracy: float
    runs: tuple[PoisonRun, ...]
    ss_recall: float  # Spectral Signatures: share of the BadNets poisons removed
    ss_removal_rate: float
    ac_recall: float  # Activation Clustering: share of the poisons flagged
    ac_flagged: tuple[int, ...]
    strip_rate: float  # STRIP: triggered inputs caught at 1% false rejection
    nc_anomaly_target: float  # Neural Cleanse on the poisoned model
    nc_flagged: tuple[int, ...]
    nc_labels: tuple[int, ...]
    nc_masks: np.ndarray
    nc_patterns: np.ndarray
    clean_examples: np.ndarray  # a few non-target test inputs and their triggered versions
    triggered_examples: np.ndarray

    def run(self, name: str) -> PoisonRun:
        return next(r for r in self.runs if r.name == name)


def measure_poisoning(
    fit: Fit, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *, clean_model: nn.Module,
    surrogate: nn.Module | None, num_classes: int, rate: float = 0.05, target_label: int = 0, nc_epochs: int = 30,
    seed: int,
) -> PoisoningResult:  # fmt: skip
    """Poison `rate` of (x, y) three ways, train each with `fit`, then run the four detectors on BadNets."""
    rng = np.random.default_rng(seed)
    attacks = _poisons(x, y, rate, target_label, surrogate, rng, seed)
    clean_acc = float((predict_labels(clean_model, x_test) == y_test).mean())
    runs, models = [], {}
    for name, (p, apply) in attacks.items():
        models[name] = m = fit(p.x, p.y)
        acc = float((predict_labels(m, x_test) == y_test).mean())
        asr = _asr(m, x_test, y_test, apply, target_label)
        runs.append(PoisonRun(name, p.poison_rate, acc, asr, _asr(clean_model, x_test, y_test, apply, target_label)))
    p, apply = attacks["badnets"]
    bad = models["badnets"]
    reps = penultimate(bad, p.x)
    ss = spectral_signatures(reps, p.y)
    ac = activation_clustering(reps, p.y, seed=seed)
    keep = y_test != target_label

    def probs(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(bad(torch.as_tensor(z, dtype=torch.float32)), 1).numpy()  # type: ignore[no-any-return]

    n_strip = min(200, int(keep.sum()))
    blend_pool = x[rng.choice(len(x), size=min(500, len(x)), replace=False)]
    st = strip(probs, x_test[:n_strip], apply(x_test[keep][:n_strip]), blend_pool, n_blends=50, rng=rng)
    served = sorted(set(y.tolist()))  # the labels the training set holds: NC reverse-engineers those
    g = torch.Generator().manual_seed(seed)
    nc = neural_cleanse(bad, x_test[:500], num_classes, labels=served, epochs=nc_epochs, generator=g)
    return PoisoningResult(
        rate, target_label, len(y), nc_epochs, clean_acc, tuple(runs), ss.recall(p.is_poison), ss.removal_rate,
        ac.recall(p.is_poison), tuple(ac.flagged_classes), float(st.flagged.mean()),
        float(nc.anomaly_index[target_label]), tuple(nc.flagged), tuple(served), nc.masks[served],
        nc.patterns[served], x_test[keep][:8], apply(x_test[keep][:8]),
    )  # fmt: skip


def _poisons(
    x: np.ndarray, y: np.ndarray, rate: float, target_label: int, surrogate: nn.Module | None,
    rng: np.random.Generator, seed: int,
) -> dict[str, tuple[Poisoned, Callable[[np.ndarray], np.ndarray]]]:  # fmt: skip
    """BadNets, Blended, and (with the adversary's surrogate) label-consistent poisons, with their triggers."""
    out: dict[str, tuple[Poisoned, Callable[[np.ndarray], np.ndarray]]] = {}
    bn = BadNets(target_label)
    out["badnets"] = (bn.poison(x, y, rate, rng), bn.apply)
    bl = Blended(tuple(x.shape[1:]), target_label, seed=seed)
    out["blended"] = (bl.poison(x, y, rate, rng), bl.apply)
    if surrogate is not None:
        lc = LabelConsistent(target_label)
        n_t = int((y == target_label).sum())
        out["label-consistent"] = (lc.poison(x, y, min(rate, 0.5 * n_t / len(y)), rng, surrogate=surrogate), lc.apply)
    return out


def poisoning_severity(r: PoisoningResult) -> Severity:
    """The policy: the recipe lets a few poisons plant a working backdoor (BadNets ASR >= 50%) -> MEDIUM."""
    return Severity.MEDIUM if r.run("badnets").asr.value >= 0.5 else Severity.LOW


def poisoning_demo_finding(
    fit: Fit, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *, clean_model: nn.Module,
    surrogate: nn.Module | None, num_classes: int, rate: float = 0.05, target_label: int = 0, nc_epochs: int = 30,
    seed: int, threat_model: dict[str, Any],
) -> Finding:  # fmt: skip
    t0 = time.perf_counter()
    r = measure_poisoning(
        fit, x, y, x_test, y_test, clean_model=clean_model, surrogate=surrogate, num_classes=num_classes, rate=rate,
        target_label=target_label, nc_epochs=nc_epochs, seed=seed,
    )  # fmt: skip
    return render_poisoning(r, poisoning_severity(r), seed=seed, threat_model=threat_model, t0=t0)


def _poisoning_metrics(r: PoisoningResult) -> dict[str, Metric]:
    metrics = {"clean_model_accuracy": Metric(r.clean_model_accuracy)}
    for run in r.runs:
        metrics[f"{run.name}_asr"] = run.asr
        metrics[f"{run.name}_asr_clean_model"] = run.asr_clean_model  # the same trigger on the clean model
        metrics[f"{run.name}_clean_accuracy"] = Metric(run.clean_accuracy)
    metrics["spectral_signatures_recall"] = Metric(
        r.ss_recall, method=f"removal rate {r.ss_removal_rate:.3f} per class"
    )
    metrics["activation_clustering_recall"] = Metric(r.ac_recall, method=f"flagged classes {list(r.ac_flagged)}")
    metrics["strip_detection_rate"] = Metric(r.strip_rate, method="triggered inputs below the 1% FRR boundary")
    metrics["neural_cleanse_target_anomaly_index"] = Metric(r.nc_anomaly_target, method="> 2 flags")
    return metrics


def render_poisoning(
    r: PoisoningResult, severity: Severity, *, seed: int, threat_model: dict[str, Any], t0: float
) -> Finding:
    """The Finding for a measured result and the severity the policy gave it."""
    rows = [
        [
            run.name, f"{run.poison_rate:.1%}", f"{run.clean_accuracy:.3f}",
            f"{run.clean_accuracy - r.clean_model_accuracy:+.3f}", f"{run.asr.value:.1%}",
            f"{run.asr_clean_model.value:.1%}",
        ]
        for run in r.runs
    ]  # fmt: skip
    detect_rows = [
        [
            "Spectral Signatures",
            f"{r.ss_recall:.1%} of poisons removed",
            f"removes {r.ss_removal_rate:.1%} of each class",
        ],
        ["Activation Clustering", f"{r.ac_recall:.1%} of poisons flagged", f"classes {list(r.ac_flagged)}"],
        ["STRIP", f"{r.strip_rate:.1%} of triggered inputs caught", "at 1% false rejection"],
        ["Neural Cleanse", f"flagged labels {list(r.nc_flagged)}", f"target's anomaly index {r.nc_anomaly_target:.2f}"],
    ]
    bn, t = r.run("badnets"), r.target_label
    return Finding(
        id="poisoning-demo",
        category="poisoning",
        attack="poisoning-suite",
        title="Backdoor poisoning: what a few poisoned training examples do to this training recipe",
        summary=(
            f"With {r.rate:.0%} of the {r.n_train} training examples poisoned (BadNets corner patch, label {t}), "
            f"the recipe yields a model that sends {bn.asr.value:.1%} of triggered inputs to label {t} at "
            f"clean accuracy {bn.clean_accuracy:.3f} (clean model {r.clean_model_accuracy:.3f}). Detectors: "
            f"Spectral Signatures removes {r.ss_recall:.0%} of the poisons, Neural Cleanse flags "
            f"{list(r.nc_flagged) or 'no label'}."
        ),
        threat_model=threat_model,
        metrics=_poisoning_metrics(r),
        severity=severity,
        config={"rate": r.rate, "target_label": t, "nc_epochs": r.nc_epochs},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=(
            Artifact(
                "table",
                "Attack success",
                {
                    "columns": ["attack", "poison rate", "clean accuracy", "change", "ASR", "ASR of the clean model"],
                    "rows": rows,
                },
            ),
            Artifact("table", "Detection", {"columns": ["detector", "result", "setting"], "rows": detect_rows}),
            Artifact(
                "image_grid",
                "Neural Cleanse triggers of the poisoned model",
                {"png_base64": _triggers_png(r.nc_masks, r.nc_patterns, [str(i) for i in r.nc_labels])},
            ),
            Artifact(
                "image_grid",
                "BadNets: clean (top) and triggered (bottom) inputs",
                {"png_base64": _pairs_png(r.clean_examples, r.triggered_examples)},
            ),
        ),
    )


def _pairs_png(a: np.ndarray, b: np.ndarray) -> str:
    return base64.b64encode(grid_png([a, b], ["clean", "triggered"])).decode()


def backdoor_scan_finding(
    model: nn.Module,
    x_clean: np.ndarray,
    num_classes: int,
    *,
    labels: list[int] | None = None,
    epochs: int = 30,
    seed: int,
    threat_model: dict[str, Any],
) -> Finding:
    """Neural Cleanse on the audited model: a label whose trigger is an outlier-small mask is flagged."""
    t0 = time.perf_counter()
    nc = neural_cleanse(
        model, x_clean, num_classes, labels=labels, epochs=epochs, generator=torch.Generator().manual_seed(seed)
    )
    todo = list(range(num_classes)) if labels is None else sorted(set(labels))
    rows = [[str(t), f"{nc.l1[t]:.1f}", f"{nc.anomaly_index[t]:.2f}", f"{nc.success[t]:.2f}"] for t in todo]
    flagged, top = nc.flagged, float(nc.anomaly_index.max())
    fw = familywise_threshold(len(todo))
    if top > fw:
        severity, summary = (
            Severity.HIGH,
            (
                f"Label {int(nc.anomaly_index.argmax())} needs an outlier-small trigger: anomaly index {top:.2f} is "
                f"above {fw:.2f}, which the largest of {len(todo)} clean labels exceeds 5% of the time: "
                "a likely backdoor."
            ),
        )
    elif flagged:
        severity, summary = (
            Severity.LOW,
            (
                f"Labels {list(flagged)} pass Neural Cleanse's per-label threshold (anomaly index > 2) but stay below "
                f"{fw:.2f}, which the largest of {len(todo)} clean labels' indices exceeds 5% of the time: weak "
                "evidence; natural classes with small distinctive features do this too."
            ),
        )
    else:
        severity, summary = (
            Severity.INFO,
            (f"No label's reverse-engineered trigger is an outlier (largest anomaly index {top:.2f} <= 2)."),
        )
    return Finding(
        id="backdoor-scan",
        category="poisoning",
        attack="neural-cleanse",
        title="Backdoor scan of the audited model (Neural Cleanse, Wang et al. 2019)",
        summary=summary,
        threat_model=threat_model,
        metrics={
            "flagged_labels": Metric(float(len(flagged))),
            "max_anomaly_index": Metric(top, method="MAD outlier test on mask L1 norms"),
            "familywise_threshold": Metric(fw, method=f"95% quantile of the largest of {len(todo)} normal indices"),
        },
        severity=severity,
        config={"epochs": epochs, "n_clean": len(x_clean)},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=(
            Artifact(
                "table",
                "Reverse-engineered triggers",
                {"columns": ["label", "mask L1", "anomaly index", "success on clean inputs"], "rows": rows},
            ),
            Artifact(
                "image_grid",
                "Reverse-engineered triggers",
                {"png_base64": _triggers_png(nc.masks[todo], nc.patterns[todo], [str(i) for i in todo])},
            ),
        ),
    )
