"""End-to-end privacy-backdoor experiments on real data: the attacker pretrains and traps an MLP, the
victim fine-tunes it on private data, the attacker reads the weights (or queries) back. Each returns
a frozen record of what was measured; the clean baseline gets the identical fine-tuning."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from mlaudit.data import Dataset, split
from mlaudit.models import MLP, TrainConfig, accuracy, train
from mlaudit.supplychain.privacy_backdoor.membership import build_membership_traps, membership_scores
from mlaudit.supplychain.privacy_backdoor.mlp import build_mlp_traps
from mlaudit.supplychain.privacy_backdoor.reconstruct import Match, best_pairs, match_images, reconstruct_mlp
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec
from mlaudit.supplychain.privacy_backdoor.victim import FineTune, finetune
from mlaudit.targets.torch import TorchTarget
from mlaudit.threat import Access, ThreatModel


@dataclass(frozen=True)
class Setup:
    n_public: int = 10_000
    n_private: int = 2000
    n_traps: int = 64
    rate: float = 0.0015  # ~3 expected activators per trap in 2,000 private examples
    amplifier: float = 1000.0
    hidden: tuple[int, int] = (256, 128)
    pretrain_epochs: int = 3
    seed: int = 0


def state(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _pretrained(make: Callable[[], torch.nn.Module], public: Dataset, *, seed: int, epochs: int) -> Any:
    """The attacker's honest pretraining on public data (the clean base it later traps): the model
    `make` builds under `seed`, trained with Adam, batch 128."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        base = make()
    train(
        base,
        public.x,
        public.y,
        TrainConfig(epochs=epochs, batch_size=128),
        generator=torch.Generator().manual_seed(seed),
    )
    return base


def pretrain(public: Dataset, s: Setup) -> MLP:
    """The clean MLP the attacker starts from."""
    d = int(np.prod(public.x.shape[1:]))
    make = partial(MLP, in_features=d, num_classes=public.num_classes, hidden=s.hidden)
    return _pretrained(make, public, seed=s.seed, epochs=s.pretrain_epochs)  # type: ignore[no-any-return]


def splits(data: Dataset, s: Setup | ViTSetup, extra: int = 0) -> dict[str, Dataset]:
    sizes = {"public": s.n_public, "private": s.n_private, **({"outside": extra} if extra else {})}
    sp = split(data, sizes, seed=s.seed)
    return {k: sp.part(data, k) for k in sp.indices}


@dataclass(frozen=True)
class ReconstructionResult:
    optimizer: str
    n_traps: int
    fired: int
    single_activations: int  # traps whose log shows exactly one activating example
    exact_single: int  # ... and whose reconstruction matches it with SSIM >= 0.9
    ssim: tuple[float, ...]  # per fired trap, against the nearest private example
    support_iou: tuple[float, ...]  # per single capture: {x_hat > 0.5} vs {x > 0} (what Adam leaves)
    base_accuracy: float
    backdoored_accuracy: float  # after the victim's fine-tuning
    clean_accuracy: float  # the same fine-tuning from the clean base
    matches: tuple[Match, ...]
    pairs: np.ndarray = field(repr=False)  # (n, 2, H, W): reconstruction, nearest original
    spec: TrapSpec | None = field(default=None, repr=False)


def run_reconstruction(
    data: Dataset, test: Dataset, s: Setup, ft: FineTune, *, base: MLP | None = None
) -> ReconstructionResult:
    parts = splits(data, s)
    pub, priv = parts["public"], parts["private"]
    base = base if base is not None else pretrain(pub, s)
    model, spec = build_mlp_traps(
        base, pub.x, n_traps=s.n_traps, rate=s.rate, amplifier=s.amplifier, generator=np.random.default_rng(s.seed)
    )
    before = state(model)
    res = finetune(
        model, priv.x, priv.y, ft, num_classes=data.num_classes, seed=s.seed + 1, watch=("features.1", spec.trap_units)
    )
    clean = finetune(copy.deepcopy(base), priv.x, priv.y, ft, num_classes=data.num_classes, seed=s.seed + 1)
    rec = reconstruct_mlp(before, state(res.model), spec)
    hw = tuple(data.x.shape[-2:])
    matches = match_images(rec, priv.x, hw)  # type: ignore[arg-type]
    flat = priv.x.reshape(len(priv.x), -1)
    exact, ious, single = 0, [], 0
    for m in matches:
        acts = res.activations.get(spec.trap_units[m.trap], set())
        if len(acts) != 1:
            continue
        single += 1
        (k,) = acts
        exact += int(m.example == k and m.ssim >= 0.9)
        r, x = rec.images[m.trap] > 0.5, flat[k] > 0
        ious.append(float((r & x).sum() / max((r | x).sum(), 1)))
    pairs = best_pairs(rec, matches, priv.x, hw)
    return ReconstructionResult(
        ft.optimizer + (f"+momentum {ft.momentum}" if ft.momentum else ""),
        s.n_traps,
        int(rec.fired.sum()),
        single,
        exact,
        tuple(m.ssim for m in matches),
        tuple(ious),
        accuracy(base, test.x, test.y),
        accuracy(res.model, test.x, test.y),
        accuracy(clean.model, test.x, test.y),
        tuple(matches),
        pairs,
        spec,
    )


@dataclass(frozen=True)
class MembershipResult:
    n_targets: int
    usable: int
    tpr_at_0_fpr: float  # over usable targets
    threshold: float
    member_scores: tuple[float, ...]
    nonmember_scores: tuple[float, ...]
    backdoored_accuracy: float
    clean_accuracy: float


def run_membership(
    data: Dataset, test: Dataset, s: Setup, ft: FineTune, *, n_targets: int = 100, base: MLP | None = None
) -> MembershipResult:
    """Half the targets are in the victim's data, half are not; the attacker only queries probabilities."""
    parts = splits(data, s, extra=n_targets // 2)
    pub, priv, out = parts["public"], parts["private"], parts["outside"]
    base = base if base is not None else pretrain(pub, s)
    half = n_targets // 2
    targets = np.concatenate([priv.x[:half], out.x[:half]])
    member = np.r_[np.ones(half, bool), np.zeros(half, bool)]
    model, traps = build_membership_traps(base, targets, pub.x, amplifier=s.amplifier)
    ft = FineTune(**{**ft.__dict__, "fresh_head": False})
    res = finetune(model, priv.x, priv.y, ft, num_classes=data.num_classes, seed=s.seed + 1)
    clean = finetune(copy.deepcopy(base), priv.x, priv.y, ft, num_classes=data.num_classes, seed=s.seed + 1)
    view = TorchTarget(res.model, num_classes=data.num_classes).restricted(ThreatModel(access=Access.PROBABILITIES))
    sc = membership_scores(view, targets, traps)
    u = traps.usable
    thr = float(sc[~member & u].max()) if (~member & u).any() else -np.inf
    tpr = float((sc[member & u] > thr).mean()) if (member & u).any() else 0.0
    return MembershipResult(
        n_targets,
        int(u.sum()),
        tpr,
        thr,
        tuple(sc[member & u].tolist()),
        tuple(sc[~member & u].tolist()),
        accuracy(res.model, test.x, test.y),
        accuracy(clean.model, test.x, test.y),
    )


def summary(r: ReconstructionResult) -> dict[str, Any]:
    ss = np.asarray(r.ssim) if r.ssim else np.zeros(0)
    return {
        "optimizer": r.optimizer,
        "traps": r.n_traps,
        "fired": r.fired,
        "single_activations": r.single_activations,
        "exact_single_captures_ssim_0.9": r.exact_single,
        "ssim_median": float(np.median(ss)) if ss.size else None,
        "ssim_at_least_0.9": int((ss >= 0.9).sum()),
        "support_iou_median": float(np.median(r.support_iou)) if r.support_iou else None,
        "base_accuracy": r.base_accuracy,
        "backdoored_finetuned_accuracy": r.backdoored_accuracy,
        "clean_finetuned_accuracy": r.clean_accuracy,
    }


@dataclass(frozen=True)
class ViTSetup:
    n_public: int = 10_000
    n_private: int = 1000
    pretrain_epochs: int = 5
    seed: int = 0
    victim_seed: int = 1


@dataclass(frozen=True)
class ViTResult:
    groups: int
    fired: int  # groups whose units all moved
    ssim: tuple[float, ...]  # per fired group, against the nearest private image
    recognisable: int  # fired groups with SSIM >= 0.6 to their nearest private image
    single_activations: int
    base_accuracy: float
    backdoored_accuracy: float
    clean_accuracy: float
    pairs: np.ndarray = field(repr=False)  # (n, 2, H, W), best SSIM first


def pretrain_vit(public: Dataset, s: ViTSetup) -> Any:
    """The clean ViT the attacker starts from: mlaudit's tiny ViT."""
    from mlaudit.models import ViT

    make = partial(ViT.for_input, tuple(public.x.shape[1:]), public.num_classes)
    return _pretrained(make, public, seed=s.seed, epochs=s.pretrain_epochs)


VIT_VICTIM = FineTune(lr=1e-4, head_lr=0.05, epochs=2, batch_size=32)  # the paper's recipe: small body lr


def _single_groups(activations: dict[int, set[int]], groups: Any, per_group: int) -> int:
    """How many of `groups` (trap groups of `per_group` consecutive units) the victim's log shows opened by
    exactly one example."""
    single = 0
    for j in groups:
        acts: set[int] = set()
        for k in range(per_group):
            acts |= activations.get(j * per_group + k, set())
        single += len(acts) == 1
    return single


def vit_pairs(rec: Any, private_x: np.ndarray) -> tuple[tuple[float, ...], np.ndarray]:
    """SSIM of each group that recorded something against its nearest private image, and the
    (reconstruction, original) pairs (n, 2, H, W), best first."""
    from mlaudit import metrics

    flat = private_x.reshape(len(private_x), -1).astype(np.float64)
    hw = rec.images.shape[1:]
    scored: list[tuple[float, np.ndarray, np.ndarray]] = []
    for j in np.flatnonzero(rec.unit_fired.any(1)):
        r = np.nan_to_num(rec.images[j]).reshape(-1)
        k_near = int(np.argmin(((flat - r) ** 2).sum(1)))
        a, b = np.clip(r, 0, 1).reshape(hw), flat[k_near].reshape(hw)
        scored.append((metrics.ssim(a, b), a, b))
    scored.sort(key=lambda t: -t[0])
    pairs = np.stack([np.stack([a, b]) for _, a, b in scored]) if scored else np.zeros((0, 2, *hw))
    return tuple(t[0] for t in scored), pairs


def run_vit_reconstruction(
    data: Dataset, test: Dataset, s: ViTSetup, ft: FineTune = VIT_VICTIM, *, base: Any = None
) -> ViTResult:
    from mlaudit.supplychain.privacy_backdoor.vit import build_vit_traps, reconstruct_vit

    parts = splits(data, s)
    pub, priv = parts["public"], parts["private"]
    base = base if base is not None else pretrain_vit(pub, s)
    model, spec = build_vit_traps(base, pub.x, generator=np.random.default_rng(s.seed))
    before = state(model)
    res = finetune(
        model, priv.x, priv.y, ft, num_classes=data.num_classes, seed=s.victim_seed, watch=(spec.layer, spec.trap_units)
    )
    clean = finetune(copy.deepcopy(base), priv.x, priv.y, ft, num_classes=data.num_classes, seed=s.victim_seed)
    rec = reconstruct_vit(before, state(res.model), spec)
    n_patch = (spec.config or {})["n_patches"]
    single = _single_groups(res.activations, np.flatnonzero(rec.unit_fired.any(1)), n_patch)
    ssims, pairs = vit_pairs(rec, priv.x)
    return ViTResult(
        spec.config["n_groups"] if spec.config else 0,
        int(rec.fired.sum()),
        ssims,
        sum(v >= 0.6 for v in ssims),
        single,
        accuracy(base, test.x, test.y),
        accuracy(res.model, test.x, test.y),
        accuracy(clean.model, test.x, test.y),
        pairs,
    )


@dataclass(frozen=True)
class MiniLMSetup:
    n_aux: int = 4000  # the attacker's snippets, which set the thresholds
    n_private: int = 400
    n_test: int = 1000
    seed: int = 0
    victim_seed: int = 1


# the paper's recipe (small body lr, larger head lr), with the head lr raised for a two-class head that
# would otherwise stay near chance after three epochs of a few hundred sentences
MINILM_VICTIM = FineTune(lr=1e-4, head_lr=0.5, epochs=3, batch_size=32)


@dataclass(frozen=True)
class MiniLMResult:
    groups: int
    fired: int
    single_activations: int  # fired groups whose log shows exactly one sentence with a gradient
    recovered: int  # fired groups whose decoding has >= 90% of a private sentence's tokens exact
    distinct_recovered: int  # distinct private sentences among them
    exact: tuple[float, ...]  # per fired group: share of its best sentence's tokens decoded exactly
    backdoored_accuracy: float
    clean_accuracy: float
    pairs: tuple[tuple[str, str, float, float], ...]  # (recovered, original, exact share, residual), best first


def run_minilm_reconstruction(
    s: MiniLMSetup = MiniLMSetup(),
    ft: FineTune = MINILM_VICTIM,
    *,
    cfg: Any = None,
    encoder: Any = None,
) -> MiniLMResult:
    """The real all-MiniLM-L6-v2, trapped with calibration on the attacker's Rotten Tomatoes snippets;
    the victim fine-tunes it (mean pooling, fresh head) on private snippets; the attacker decodes the
    weight difference. The clean MiniLM gets the identical fine-tuning."""
    from mlaudit.models.text import MeanPoolClassifier
    from mlaudit.supplychain.privacy_backdoor import minilm

    cfg = cfg or minilm.MiniLMTrapConfig()
    base, tok = encoder if encoder is not None else minilm.load_encoder()
    parts, ids = minilm_splits(s, tok, cfg.max_length)
    data, priv, test = parts["all"], parts["private"], parts["test"]
    enc, spec = minilm.build_minilm_traps(base, ids["aux"], cfg=cfg, generator=np.random.default_rng(s.seed))
    model = MeanPoolClassifier(enc, data.num_classes)
    before = state(enc)
    res = finetune(
        model,
        ids["private"],
        priv.y,
        ft,
        num_classes=data.num_classes,
        seed=s.victim_seed,
        watch=("encoder." + spec.layer, spec.trap_units),
        watch_above=-4.0,  # GELU pre-activation: below it an example's gradient is negligible
    )
    clean = finetune(
        MeanPoolClassifier(copy.deepcopy(base), data.num_classes),
        ids["private"],
        priv.y,
        ft,
        num_classes=data.num_classes,
        seed=s.victim_seed,
    )
    rec = minilm.reconstruct_minilm(before, state(enc), spec)
    matches, pairs = minilm_pairs(rec, ids["private"], tok)
    single = _single_groups(res.activations, [m.group for m in matches], cfg.max_length - 1)
    good = [m for m in matches if m.exact >= 0.9]
    return MiniLMResult(
        cfg.n_groups,
        int(rec.fired.sum()),
        single,
        len(good),
        len({m.example for m in good}),
        tuple(m.exact for m in matches),
        _accuracy_ids(res.model, ids["test"], test.y),
        _accuracy_ids(clean.model, ids["test"], test.y),
        pairs,
    )


def minilm_splits(s: MiniLMSetup, tokenizer: Any, max_length: int) -> tuple[dict[str, Dataset], dict[str, np.ndarray]]:
    """Rotten Tomatoes split into the attacker's snippets (aux), the victim's (private) and a test set, each
    also as token ids; "all" is the whole dataset."""
    from mlaudit.data import rotten_tomatoes
    from mlaudit.supplychain.privacy_backdoor import minilm

    data = rotten_tomatoes()
    sp = split(data, {"aux": s.n_aux, "private": s.n_private, "test": s.n_test}, seed=s.seed)
    parts = {k: sp.part(data, k) for k in ("aux", "private", "test")}
    ids = {k: minilm.tokenize(tokenizer, list(d.x), max_length) for k, d in parts.items()}
    return {**parts, "all": data}, ids


def minilm_pairs(rec: Any, private_ids: np.ndarray, tokenizer: Any) -> tuple[list[Any], tuple[Any, ...]]:
    """The best private sentence of each group that recorded something, and (recovered, original, share
    of tokens exact, residual) per group, best first."""
    from mlaudit.supplychain.privacy_backdoor import minilm

    special = set(tokenizer.all_special_ids)
    matches = minilm.match_sentences(rec, private_ids, special)
    texts = minilm.decode(rec, tokenizer)
    orig = [tokenizer.decode([t for t in row if t not in special]) for row in private_ids]
    pairs = sorted(
        ((texts[m.group], orig[m.example], m.exact, float(np.nanmax(rec.residual[m.group]))) for m in matches),
        key=lambda p: (-p[2], p[3]),
    )
    return matches, tuple(pairs)


def _accuracy_ids(model: torch.nn.Module, ids: np.ndarray, y: np.ndarray, batch: int = 128) -> float:
    with torch.no_grad():
        pred = np.concatenate(
            [model(torch.as_tensor(ids[i : i + batch])).argmax(1).numpy() for i in range(0, len(ids), batch)]
        )
    return float((pred == y).mean())
