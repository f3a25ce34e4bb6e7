"""The verdict a reviewer reads first, computed from the report document (report.json's fields), so
report.html, the Markdown summary and `mlaudit compare` say the same thing: the worst severity and
why, one row per risk of the survey's threat model (asset, adversary), each control's verdict, and
what to do about each finding kind."""

from __future__ import annotations

import re
from typing import Any

from mlaudit.errors import ConfigError
from mlaudit.findings import Severity
from mlaudit.registry import REGISTRY, get_attack

# (asset, risk, finding categories): the rows of the summary, in the order a reviewer reads them
RISKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("training data", "membership inference", ("membership",)),
    ("training data", "reconstruction / inversion", ("inversion",)),
    ("training data", "memorised secrets / extraction", ("memorization",)),
    ("training data", "attribute inference", ("attribute",)),
    ("training data", "property inference", ("property",)),
    ("the model", "model stealing", ("extraction",)),
    ("integrity", "adversarial examples", ("evasion",)),
    ("integrity", "poisoning / backdoors", ("poisoning",)),
    ("supply chain", "code in model files", ("file_scan",)),
    ("supply chain", "tampered weights (privacy backdoors)", ("privacy_backdoor",)),
    ("defences", "differential privacy audit", ("dp_audit",)),
)

# the demonstrations on built-in data: they show a leak mlaudit cannot show on this model, not its risk
DEMONSTRATIONS = frozenset(n for n in REGISTRY if n.endswith("-demo") or n.endswith("-demo-minilm")) - {
    "poisoning-demo"  # poisons the audited model's own recipe: about this model's training pipeline
}

# the headline figure of a finding, by category: the first of these it has (higher = more risk); a tuple
# inside names the same quantity for several attacks, of which the largest is the headline
HEADLINES: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "membership": ("tpr_at_0.01_fpr", "auc"),
    "inversion": (("optimisation_attack_accuracy", "generative_attack_accuracy"), "accuracy"),
    "memorization": ("precision_at_100", "secrets_recovered", "secrets_extracted", "highest_exposure"),
    "attribute": ("advantage", "overfit_advantage_members", "balanced_accuracy"),
    "property": ("accuracy",),
    "extraction": ("agreement", "fidelity"),
    "evasion": ("white_box_success", "square_success", "success"),
    "poisoning": ("badnets_asr", "attack_success_rate", "flagged_labels"),
    "file_scan": ("issues_critical", "issues_high", "files"),
    "privacy_backdoor": ("signatures", "exact_single_captures", "sentences_recovered"),
    "dp_audit": ("epsilon_lower_bound", "audited_epsilon"),
}

# what to do, in plain words, per finding kind
MITIGATIONS: dict[str, tuple[str, ...]] = {
    "membership": (
        "Fine-tune with differential privacy (DP-SGD with accounting; measure the privacy-utility curve).",
        "Train fewer epochs or stop early on a held-out set: the leak grows with overfitting.",
        "Regularise: weight decay, label smoothing, data augmentation.",
        "Serve labels or top-k only, not full probabilities (score-based attacks weaken; label-only ones remain).",
    ),
    "inversion": (
        "Serve labels only, not confidences or gradients.",
        "Fine-tune with differential privacy; limit and monitor queries per client.",
    ),
    "memorization": (
        "Remove secrets and personal data from the training text, and deduplicate it (repeats are memorised).",
        "Fine-tune with differential privacy; filter generations for secrets before serving them.",
    ),
    "attribute": (
        "Remove the sensitive attribute's strong correlates from the features, or coarsen them.",
        "Fine-tune with differential privacy; serve labels only.",
    ),
    "property": (
        "Record-level defences (DP) do not hide dataset-wide properties: do not release a model whose training "
        "set's global statistics are sensitive, or balance the data so they are not.",
    ),
    "extraction": (
        "Rate-limit and monitor queries per client; serve labels or rounded top-k scores.",
        "Watermark the model to prove a stolen copy.",
    ),
    "evasion": (
        "Adversarial training (PGD at the threat's eps) or a certified defence (randomised smoothing).",
        "Input preprocessing and gradient masking are not defences: adaptive attacks break them.",
        "Keep the fine-tuned weights private; transfer attacks from the public base still apply.",
    ),
    "poisoning": (
        "Vet where training data comes from; deduplicate and inspect it before training.",
        "Scan trained models for backdoors (Neural Cleanse) and fine-prune suspicious neurons.",
    ),
    "file_scan": (
        "Load weights only as safetensors (or torch.load(weights_only=True)); never unpickle a downloaded file.",
        "Pin file hashes (mlaudit manifest) and never set trust_remote_code.",
    ),
    "privacy_backdoor": (
        "Download checkpoints only from publishers you trust, and pin their hashes.",
        "Before fine-tuning on private data, run mlaudit backdoor detect against the published base.",
        "Fine-tune with differential privacy: it bounds what a data trap can capture.",
    ),
    "dp_audit": ("Compare the audited epsilon with the claimed one; a gap larger than the interval is a bug.",),
}


# metrics that are rates (a share of examples): shown as percentages
RATE = re.compile(r"tpr|fpr|asr|success|accuracy|advantage|precision|recall|agreement|fidelity|within")


def figure(name: str, value: float | None, low: float | None = None, high: float | None = None) -> str:
    """A metric for people: 3 significant digits, rates as percentages, the interval beside it."""
    if value is None or value != value:  # None or NaN: not measured
        return "not measured"
    scale, unit = (100.0, "%") if RATE.search(name) and -1 <= value <= 1 else (1.0, "")

    def num(v: float) -> str:
        return f"{scale * v:.3g}{unit}"

    return num(value) + (f" [{num(low)}, {num(high)}]" if low is not None and high is not None else "")


_WORDS = {
    "auc": "AUC",
    "auc_null_sigma": "AUC spread at chance (null sigma)",
    "advantage": "membership advantage (TPR - FPR, best threshold)",
    "n_members": "members",
    "n_nonmembers": "non-members",
}


def metric_words(name: str) -> str:
    """A metric key in words for people (report.json keeps the key): tpr_at_0.001_fpr -> TPR at 0.1% FPR."""
    if name in _WORDS:
        return _WORDS[name]
    m = re.fullmatch(r"tpr_at_([0-9.]+)_fpr(_over_reference_draws)?", name)
    if m:
        words = f"TPR at {100 * float(m.group(1)):g}% FPR"
        return words + (", over reference-model draws" if m.group(2) else "")
    if name == "auc_over_reference_draws":
        return "AUC, over reference-model draws"
    text = name.replace("_", " ")
    return re.sub(r"\beps([0-9.]+)", r"at eps \1", text)


# findings that measure a defence against a risk (a DP audit, a backdoor scan), by the risk's category: shown
# beside that risk's mitigations when the audit ran them
DEFENCES: dict[str, tuple[str, ...]] = {
    "membership": ("dp_audit",),
    "inversion": ("dp_audit",),
    "memorization": ("dp_audit",),
    "attribute": ("dp_audit",),
    "poisoning": ("backdoor-scan",),
}


def defences_measured(category: str, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings of this audit that measure a defence against `category` (by category or attack)."""
    names = DEFENCES.get(category, ())
    return [
        f for f in findings if not f["id"].endswith("-control") and (f["category"] in names or f["attack"] in names)
    ]


def headline(finding: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The finding's headline metric (name, metric record), or None when it has no metric."""
    metrics = finding["metrics"]
    for entry in HEADLINES.get(finding["category"], ()):
        keys = [k for k in ((entry,) if isinstance(entry, str) else entry) if k in metrics]
        keys = [k for k in keys if metrics[k]["value"] is not None]
        if keys:
            key = max(keys, key=lambda k: metrics[k]["value"])
            return key, metrics[key]
    with_interval = [k for k, m in metrics.items() if m["ci_low"] is not None and m["value"] is not None]
    measured = [k for k, m in metrics.items() if m["value"] is not None]
    key = (with_interval or measured or [None])[0]
    return (key, metrics[key]) if key is not None else None


def control_verdict(control: dict[str, Any] | None) -> dict[str, Any] | None:
    """A control pair's verdict: its AUC against chance in null sigmas (two halves of the non-members:
    any distance beyond 4 sigma says the measurement itself is biased)."""
    if control is None:
        return None
    m = control["metrics"]
    auc, sigma = m.get("auc", {}).get("value"), m.get("auc_null_sigma", {}).get("value")
    if auc is None or not sigma:
        return {"id": control["id"], "auc": auc, "z": None, "at_chance": None}
    z = (auc - 0.5) / sigma + 0.0  # no -0.0
    return {"id": control["id"], "auc": auc, "z": z, "at_chance": abs(z) <= 4}


def control_label(verdict: dict[str, Any] | None) -> str:
    """A control verdict in a word or two for a table cell: "" without a control."""
    if verdict is None:
        return ""
    if verdict["at_chance"] is None:
        return "not measured"
    return "at chance" if verdict["at_chance"] else "NOT at chance"


def access_needed(finding: dict[str, Any]) -> str | None:
    """What the adversary needs: the model files for a supply-chain check, else the output the attack
    needs from the model (registry); None for an attack name it does not know."""
    if finding["category"] in ("file_scan", "privacy_backdoor"):
        return "the model files"
    try:
        return get_attack(finding["attack"]).requires.access.name.lower()
    except ConfigError:
        return None


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary of a report document: worst severity and why, a row per risk, what did not run."""
    findings = [f for f in doc["findings"] if not f["id"].endswith("-control")]
    controls = {f["id"]: f for f in doc["findings"] if f["id"].endswith("-control")}
    about = [f for f in findings if f["attack"] not in DEMONSTRATIONS]
    rank = {s.name.lower(): int(s) for s in Severity}
    worst = max(about, key=lambda f: rank[f["severity"]], default=None)
    rows = []
    for asset, risk, categories in RISKS:
        mine = [f for f in about if f["category"] in categories]
        top = max(mine, key=lambda f: (rank[f["severity"]], _value(f)), default=None)
        row: dict[str, Any] = {"asset": asset, "risk": risk, "categories": list(categories)}
        if top is None:
            row.update(severity=None, finding=None, headline=None, access=None, control=None, findings=[])
            row["to_measure"] = [n for n in REGISTRY if n not in DEMONSTRATIONS and _category(n) in categories]
        else:
            h = headline(top)
            row.update(
                severity=top["severity"],
                finding=top["id"],
                findings=[f["id"] for f in mine],
                headline={"metric": h[0], **h[1]} if h else None,
                access=access_needed(top),
                control=control_verdict(controls.get(f"{top['id']}-control")),
            )
        rows.append(row)
    return {
        "worst": worst["severity"] if worst else "info",
        "verdict": _verdict(worst, len(about)),
        "risks": rows,
        "demonstrations": [f["id"] for f in findings if f["attack"] in DEMONSTRATIONS],
        "not_run": list(doc.get("skipped", [])),
        "failed": [e["job"] for e in doc.get("errors", [])],
    }


def _category(name: str) -> str:
    return str(get_attack(name).category)


def _value(f: dict[str, Any]) -> float:
    h = headline(f)
    return float(h[1]["value"]) if h else 0.0


def _verdict(worst: dict[str, Any] | None, n: int) -> str:
    if worst is None:
        return "No finding about this model: nothing was measured on it."
    if worst["severity"] == "info":
        return f"No risk above info in {n} findings about this model."
    return f"Worst risk {worst['severity'].upper()}: {worst['summary']}"
