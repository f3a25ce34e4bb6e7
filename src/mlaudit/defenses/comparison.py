"""Defence comparison (issue 19): the same membership attacks on the undefended model and on models
trained with the user's recipe under each defence (DP-SGD at several epsilons; weight decay, label
smoothing and early stopping as cheap baselines), with the privacy-utility table and curve and, for
DP, the accountant's epsilon beside the gradient-canary audit's lower bound.

In three steps like every finding: `Variant` says how a defended model trains (a TrainConfig the
recipe's reference models follow too); `DefenceRow` is the typed result; `comparison_finding` applies
the severity policy and renders the table and plot data."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.config import DefensesConfig
from mlaudit.defenses.dp.train import DPFit
from mlaudit.defenses.output import OutputDefence
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.models.train import TrainConfig, train

WEIGHT_DECAY = 5e-4  # the usual L2 strength for Adam/SGD fine-tuning (a baseline, not tuned)
LABEL_SMOOTHING = 0.1  # Szegedy et al. 2016's value
PATIENCE, HOLDOUT = 3, 0.1  # early stopping: epochs without a better held-out loss; share of rows held out


@dataclass(frozen=True)
class Variant:
    """A defended way to train: `config` replaces the recipe's for the target and its references."""

    name: str  # e.g. dp-8, weight-decay
    label: str  # e.g. "DP-SGD, epsilon 8"
    config: TrainConfig
    epsilon: float | None = None  # DP: the target epsilon at `delta`
    delta: float | None = None
    output: OutputDefence | None = None  # the audited model's answers post-processed (no retraining)


@dataclass(frozen=True)
class EarlyStopping:
    """Early stopping as a TrainConfig.fit: HOLDOUT of the training rows are held out, training stops
    after PATIENCE epochs without a lower held-out loss, and the best epoch's weights are kept."""

    config: TrainConfig
    patience: int = PATIENCE
    holdout: float = HOLDOUT

    def __call__(self, model: nn.Module, x: np.ndarray, y: np.ndarray, *, seed: int) -> nn.Module:
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(x), generator=g).numpy()
        cut = max(1, int(len(x) * self.holdout))
        held, fit = order[:cut], order[cut:]
        xv, yv = torch.as_tensor(x[held], dtype=torch.float32), torch.as_tensor(y[held], dtype=torch.long)
        best: dict[str, Any] = {"loss": math.inf, "state": None, "since": 0}

        def after_epoch(epoch: int) -> bool:
            model.eval()
            with torch.no_grad():
                loss = float(nn.functional.cross_entropy(model(xv), yv))
            model.train()
            if loss < best["loss"]:
                best.update(loss=loss, state={k: v.detach().clone() for k, v in model.state_dict().items()}, since=0)
            else:
                best["since"] += 1
            return bool(best["since"] >= self.patience)

        train(model, x[fit], y[fit], self.config, generator=g, after_epoch=after_epoch)
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        return model.eval()


def dp_delta(defenses: DefensesConfig, n_train: int) -> float:
    """The DP delta: the config's, or 1e-5 (1 / (10 n) past 10,000 rows), always below 1 / n."""
    assert defenses.dp is not None
    return defenses.dp.delta if defenses.dp.delta is not None else min(1e-5, 1 / (10 * n_train))


OUTPUTS = {"round": OutputDefence("round", decimals=2), "top_k": OutputDefence("top_k", k=1),
           "label": OutputDefence("label"), "noise": OutputDefence("noise", scale=0.01),
           "reverse_sigmoid": OutputDefence("reverse_sigmoid", beta=0.2, gamma=0.5)}  # fmt: skip


def variants(
    defenses: DefensesConfig, config: TrainConfig | None, *, n_train: int, mode: str = "auto"
) -> list[Variant]:
    """The defences the config asks for: DP first (ascending epsilon), the baselines, then the output
    defences (these need no `config`: the audited model answers through them)."""
    out = [Variant(f"output-{o}", f"served output: {_words(OUTPUTS[o])}", TrainConfig(), output=OUTPUTS[o])
           for o in defenses.outputs]  # fmt: skip
    if config is None:
        return out
    trained = []
    if defenses.dp is not None:
        dp, delta = defenses.dp, dp_delta(defenses, n_train)
        for eps in sorted(set(dp.epsilons)):
            fit = DPFit(config, eps, delta, dp.max_grad_norm, dp.accountant, mode)
            cfg = dataclasses.replace(config, fit=fit)
            trained.append(Variant(f"dp-{eps:g}", f"DP-SGD, epsilon {eps:g}", cfg, eps, delta))
    for b in defenses.baselines:
        if b == "weight_decay":
            wd = max(WEIGHT_DECAY, 10 * config.weight_decay)
            cfg = dataclasses.replace(config, weight_decay=wd)
            trained.append(Variant("weight-decay", f"weight decay {wd:g}", cfg))
        elif b == "label_smoothing":
            cfg = dataclasses.replace(config, label_smoothing=LABEL_SMOOTHING)
            trained.append(Variant("label-smoothing", f"label smoothing {LABEL_SMOOTHING:g}", cfg))
        else:
            cfg = dataclasses.replace(config, fit=EarlyStopping(config))
            trained.append(Variant("early-stopping", f"early stopping (patience {PATIENCE})", cfg))
    return trained + out


def _words(d: OutputDefence) -> str:
    settings = ", ".join(f"{k} {v}" for k, v in d.to_dict().items() if k != "kind")
    return f"{d.kind} ({settings})" if settings else d.kind


@dataclass(frozen=True)
class DefenceRow:
    """One model of the comparison: its test accuracy, each attack's metrics on it, and (DP) its epsilons."""

    name: str
    label: str
    test_accuracy: float
    attacks: dict[str, dict[str, Metric]]  # attack -> tpr_at_0.01_fpr, auc (with intervals)
    epsilon: float | None = None  # the accountant's, at delta
    delta: float | None = None
    epsilon_audited: float | None = None  # the gradient-canary audit's lower bound (95%)
    epsilon_one_run: float | None = None  # the one-run audit with input-space canaries (95%)
    epsilon_one_run_gradient: float | None = None  # the one-run audit of the first run's gradient canaries


def compared(rows: list[DefenceRow]) -> list[str]:
    """The attacks that ran on every model (an attack that could not run on one is left out of the
    comparison: its figures would compare different things); InputError when none did."""
    common = sorted(set.intersection(*(set(r.attacks) for r in rows)))
    if not common:
        raise InputError("no attack of defenses.attacks ran on every compared model; see the skipped attacks")
    return common


def strongest(rows: list[DefenceRow]) -> str:
    """Of the attacks run on every model, the one with the highest TPR at 1% FPR on the undefended model
    (rows[0]; ties: the higher AUC)."""
    found = rows[0].attacks
    return max(compared(rows), key=lambda a: (found[a]["tpr"].value, found[a]["auc"].value))


def _pct(m: Metric) -> str:
    return f"{100 * m.value:.1f}% [{100 * (m.ci_low or 0):.1f}, {100 * (m.ci_high or 0):.1f}]"


def _disjoint(a: Metric, b: Metric) -> bool:
    return (a.ci_high or a.value) < (b.ci_low or b.value)


def refuted(rows: list[DefenceRow]) -> list[DefenceRow]:
    """DP models whose audited lower bound exceeds the accountant's epsilon: the claim is wrong (at 95%)."""
    return [r for r in rows if r.epsilon is not None and (r.epsilon_audited or 0.0) > r.epsilon]


def comparison_severity(rows: list[DefenceRow]) -> Severity:
    """HIGH when an audit refutes an accountant's epsilon (the DP implementation adds less noise than it
    claims); otherwise INFO: the comparison measures defences, the attacks' own findings rate the leak."""
    return Severity.HIGH if refuted(rows) else Severity.INFO


def _summary(rows: list[DefenceRow], attack: str) -> str:
    base, parts = rows[0], []
    for r in rows[1:]:
        m, b = r.attacks[attack]["tpr"], base.attacks[attack]["tpr"]
        verdict = "lower, intervals disjoint" if _disjoint(m, b) else "not measurably lower (intervals overlap)"
        eps = f"; accountant epsilon {r.epsilon:.2f}" if r.epsilon is not None else ""
        aud = f", audited >= {r.epsilon_audited:.2f}" if r.epsilon_audited is not None else ""
        parts.append(f"{r.label}: {_pct(m)} ({verdict}) at test accuracy {100 * r.test_accuracy:.1f}%{eps}{aud}")
    wrong = refuted(rows)
    alarm = f" The audit refutes the accountant for {', '.join(r.label for r in wrong)}." if wrong else ""
    return (
        f"{attack} TPR at 1% FPR: undefended {_pct(base.attacks[attack]['tpr'])} at test accuracy "
        f"{100 * base.test_accuracy:.1f}%; " + "; ".join(parts) + "." + alarm
    )


def _row_cells(r: DefenceRow, attacks: list[str]) -> list[Any]:
    eps = "-" if r.epsilon is None else round(r.epsilon, 3)
    aud = "-" if r.epsilon_audited is None else round(r.epsilon_audited, 3)
    one = "-" if r.epsilon_one_run is None else round(r.epsilon_one_run, 3)
    cells: list[Any] = [r.label, eps, aud, one, round(r.test_accuracy, 4)]
    for a in attacks:
        cells += [_pct(r.attacks[a]["tpr"]), f"{r.attacks[a]['auc'].value:.3f}"]
    return cells


def comparison_finding(
    rows: list[DefenceRow], *, threat_model: dict[str, Any], config: dict[str, Any], seed: int, started: float
) -> Finding:
    """The comparison's finding: rows[0] is the undefended model. Metrics: each row's strongest-attack
    TPR at 1% FPR, AUC, test accuracy and epsilons; a table; the privacy-utility plot data."""
    attack, attacks = strongest(rows), compared(rows)
    metrics: dict[str, Metric] = {}
    for r in rows:
        metrics[f"{r.name}_tpr_at_0.01_fpr"] = r.attacks[attack]["tpr"]
        metrics[f"{r.name}_auc"] = r.attacks[attack]["auc"]
        metrics[f"{r.name}_test_accuracy"] = Metric(r.test_accuracy, method="accuracy on the non-members")
        if r.epsilon is not None:
            metrics[f"{r.name}_epsilon"] = Metric(r.epsilon, method=f"accountant, delta {r.delta:g}")
        if r.epsilon_audited is not None:
            metrics[f"{r.name}_epsilon_lower_bound"] = Metric(r.epsilon_audited, method="gradient canaries, 95%")
        if r.epsilon_one_run is not None:
            how = "one run, input-space canaries (Steinke et al. 2023), 95%"
            metrics[f"{r.name}_epsilon_one_run_input"] = Metric(r.epsilon_one_run, method=how)
        if r.epsilon_one_run_gradient is not None:
            how = "one run, gradient canaries (Steinke et al. 2023), 95%"
            metrics[f"{r.name}_epsilon_one_run_gradient"] = Metric(r.epsilon_one_run_gradient, method=how)
    audited = [r for r in rows if r.epsilon_audited is not None]
    if audited:  # the report's headline for the defences row: the loosest DP model's audited bound
        loose = max(audited, key=lambda r: r.epsilon or 0.0)
        metrics["epsilon_lower_bound"] = Metric(
            loose.epsilon_audited or 0.0, method=f"gradient canaries, 95%, at accountant epsilon {loose.epsilon:.2f}"
        )
    columns = ["model", "epsilon (accountant)", "epsilon >= (gradient canaries)", "epsilon >= (one run, inputs)",
               "test accuracy"]  # fmt: skip
    for a in attacks:
        columns += [f"{a} TPR at 1% FPR", f"{a} AUC"]
    points = [
        {"label": r.label, "accuracy": r.test_accuracy, "epsilon": r.epsilon, "tpr": m["tpr"].value,
         "tpr_low": m["tpr"].ci_low, "tpr_high": m["tpr"].ci_high, "auc": m["auc"].value, "auc_low": m["auc"].ci_low,
         "auc_high": m["auc"].ci_high}  # fmt: skip
        for r in rows
        for m in (r.attacks[attack],)
    ]
    return Finding(
        id="defences", category="dp_audit", attack="defences",
        title=f"Defences compared: {attack} on the undefended model and {len(rows) - 1} defended fine-tunes",
        summary=_summary(rows, attack) + "".join(f" Not compared: {why}." for why in config.get("not_compared", ())),
        threat_model=threat_model, metrics=metrics,
        severity=comparison_severity(rows), config={**config, "strongest_attack": attack}, seed=seed,
        duration_s=round(time.perf_counter() - started, 3), versions=versions(),
        artifacts=(
            Artifact.table("Privacy-utility: each model's attacks, accuracy and epsilon", columns,
                           [_row_cells(r, attacks) for r in rows]),
            Artifact("privacy_utility", f"Privacy-utility: {attack} TPR at 1% FPR against test accuracy",
                     {"attack": attack, "points": points}),
        ),
    )  # fmt: skip
