"""Data-free detection of privacy-backdoor signatures in weights (Feng & Tramer 2024, sec. "Limitations";
shared/research/privacy-backdoors.md section 8). Heuristics, reported with the layers and units involved.

Checks on every weight matrix (conv kernels as rows of fan-in):
- extreme entries: |w| at least 1000 x the tensor's median |w| (amplifiers, huge constants);
- one-hot rows: rows with a single non-zero entry in an otherwise dense matrix (amplifier plumbing);
- zeroed blocks: columns that are exactly zero for most rows of a dense matrix (cut trap <-> benign paths);
- identical row norms: several rows with the same norm to 1e-6 (unit-norm baits);
- duplicated or mirrored rows (|cos| > 0.9999);
and on biases (far-tail robust z-scores: trap thresholds) and LayerNorm parameters (gamma exactly 0,
|beta| >= 1000, many identical gammas). With a base checkpoint: widened layers and sparse diffs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit.findings import Severity

_SKIP = ("running_mean", "running_var", "num_batches_tracked", "position_ids", "token_type_ids")


@dataclass(frozen=True)
class WeightFinding:
    severity: Severity
    check: str
    layer: str
    units: tuple[int, ...]
    message: str


def _rows(w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1).astype(np.float64)


def _matrix_checks(name: str, w: np.ndarray) -> list[WeightFinding]:
    m = _rows(w)
    if m.shape[1] < 4 or m.shape[0] < 4:
        return []
    a = np.abs(m)
    med = float(np.median(a[a > 0])) if (a > 0).any() else 0.0
    return _extreme(name, a, med) + _sparsity(name, a, med) + _row_shapes(name, m)


def _extreme(name: str, a: np.ndarray, med: float) -> list[WeightFinding]:
    """Weights 1000x the median magnitude: the constants that linearise a LayerNorm or latch a trap."""
    extreme = np.argwhere(a >= 1000 * med) if med > 0 else np.zeros((0, 2), int)
    if not len(extreme):
        return []
    rows = tuple(sorted({int(r) for r, _ in extreme}))
    what = f"{len(extreme)} weights >= 1000x the median |w| ({med:.3g}); max {a.max():.3g}"
    return [WeightFinding(Severity.HIGH, "extreme-weights", name, rows[:64], what)]


def _sparsity(name: str, a: np.ndarray, med: float) -> list[WeightFinding]:
    """In a dense matrix: one-hot rows (extractors) and columns zero for most rows but read by a few."""
    out: list[WeightFinding] = []
    if float((a > 0).mean()) <= 0.5:
        return out
    onehot = np.flatnonzero((a > 0).sum(1) == 1)
    if len(onehot) >= 2:
        what = f"{len(onehot)} rows with a single non-zero weight in a dense matrix"
        out.append(WeightFinding(Severity.HIGH, "one-hot-rows", name, tuple(int(i) for i in onehot[:64]), what))
    zero_frac = (a == 0).mean(0)
    # zero for most rows but read by a few: a channel cut from the benign units and routed to chosen
    # ones (inputs that are zero in every row are dead channels, common after training)
    read = a.max(0) >= med  # the few rows that read the column do so at full strength (not decayed dust)
    zero_cols = np.flatnonzero((zero_frac >= 0.5) & (zero_frac < 1.0) & read)
    if len(zero_cols) >= 4:
        what = f"{len(zero_cols)} input columns exactly zero for most rows but read by a few"
        out.append(WeightFinding(Severity.HIGH, "zeroed-block", name, tuple(int(i) for i in zero_cols[:64]), what))
    return out


def _row_shapes(name: str, m: np.ndarray) -> list[WeightFinding]:
    """Rows sharing one norm (unit-norm baits) and rows duplicating or mirroring another."""
    out: list[WeightFinding] = []
    norms = np.linalg.norm(m, axis=1)
    nz = norms[norms > 0.01 * np.median(norms)]  # ignore decayed rows, whose tiny norms all round alike
    if len(nz) >= 8 and m.shape[1] >= 16:
        _, counts = np.unique(np.round(nz, 6), return_counts=True)
        if counts.max() >= 8:
            what = f"{counts.max()} rows share one norm to 1e-6 (unit-norm baits?)"
            out.append(WeightFinding(Severity.MEDIUM, "identical-norms", name, (), what))
    if m.shape[0] <= 4096 and m.shape[1] >= 16:
        unit = m / np.maximum(norms[:, None], 1e-12)
        cos = unit @ unit.T
        np.fill_diagonal(cos, 0)
        live = norms > 0
        dup = np.argwhere((np.abs(cos) > 0.9999) & live[:, None] & live[None, :])
        if len(dup):
            rows = tuple(sorted({int(i) for pair in dup for i in pair}))
            what = f"{len(rows)} rows duplicate or mirror another (|cos| > 0.9999)"
            out.append(WeightFinding(Severity.MEDIUM, "duplicate-rows", name, rows[:64], what))
    return out


def _bias_checks(name: str, b: np.ndarray) -> list[WeightFinding]:
    b = b.astype(np.float64).ravel()
    if b.size < 16:
        return []
    med = np.median(b)
    mad = np.median(np.abs(b - med)) * 1.4826
    if mad == 0:
        return []
    z = (b - med) / mad
    far = np.flatnonzero(np.abs(z) > 12)
    if len(far) >= 4:
        return [
            WeightFinding(
                Severity.MEDIUM,
                "bias-outliers",
                name,
                tuple(int(i) for i in far[:64]),
                f"{len(far)} biases more than 12 robust sigmas from the median (trap thresholds?)",
            )
        ]
    return []


def _layernorm_checks(name: str, t: np.ndarray, is_gamma: bool) -> list[WeightFinding]:
    t = t.astype(np.float64).ravel()
    out = []
    if is_gamma:
        zeros = np.flatnonzero(t == 0)
        if len(zeros) >= 4:
            out.append(
                WeightFinding(
                    Severity.HIGH,
                    "layernorm-zero-gamma",
                    name,
                    tuple(int(i) for i in zeros[:64]),
                    f"{len(zeros)} LayerNorm gains exactly 0 (channels cut out of the model)",
                )
            )
        vals, counts = np.unique(t, return_counts=True)
        if t.size >= 32 and counts.max() >= max(8, t.size // 8) and vals[counts.argmax()] not in (1.0,):
            out.append(
                WeightFinding(
                    Severity.MEDIUM,
                    "layernorm-identical",
                    name,
                    (),
                    f"{counts.max()} LayerNorm gains share the value {vals[counts.argmax()]:.6g}",
                )
            )
    big = np.flatnonzero(np.abs(t) >= 1000)
    if len(big):
        out.append(
            WeightFinding(
                Severity.HIGH,
                "layernorm-constant",
                name,
                tuple(int(i) for i in big[:64]),
                f"{len(big)} LayerNorm parameters of magnitude >= 1000 (linearised LayerNorm?)",
            )
        )
    return out


def detect(state: dict[str, np.ndarray], base: dict[str, np.ndarray] | None = None) -> list[WeightFinding]:
    """Inspect a state dict (and its diff against `base`) for trap signatures."""
    out: list[WeightFinding] = []
    norm_like = {k.rsplit(".", 1)[0] for k, v in state.items() if v.ndim == 1 and k.endswith(".weight")}
    for name, t in state.items():
        if any(s in name for s in _SKIP) or not np.issubdtype(t.dtype, np.floating):
            continue
        prefix = name.rsplit(".", 1)[0]
        if t.ndim >= 2:
            if "embeddings" in name and t.shape[0] > 2 * t.shape[1]:
                continue  # vocabulary embeddings: rows are tokens, not units
            out.extend(_matrix_checks(name, t))
        elif name.endswith(".bias") and prefix in norm_like:
            out.extend(_layernorm_checks(name, t, is_gamma=False))
        elif name.endswith(".weight") and prefix in norm_like and ("norm" in name.lower() or "ln" in name.lower()):
            out.extend(_layernorm_checks(name, t, is_gamma=True))
        elif name.endswith(".bias"):
            out.extend(_bias_checks(name, t))
    if base is not None:
        out.extend(_diff_checks(state, base))
    return out


def _legacy(name: str) -> str:
    """transformers' renames of old checkpoints' LayerNorm parameters (gamma / beta)."""
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


def align(state: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`state` renamed into `base`'s names the way transformers matches a checkpoint to a model: with
    or without the base-model prefix ("bert.", "model.", ...), old LayerNorm names mapped; the
    prefix choice that matches the most base tensors wins."""
    base_names = {_legacy(k) for k in base}
    state = {_legacy(k): v for k, v in state.items()}
    heads = {k.split(".", 1)[0] + "." for k in (*state, *base_names) if "." in k}
    best, best_hits = state, len(base_names & set(state))
    for p in sorted(heads):
        for renamed in (
            {k.removeprefix(p): v for k, v in state.items() if k.startswith(p)},
            {p + k: v for k, v in state.items()},
        ):
            hits = len(base_names & set(renamed))
            if hits > best_hits:
                best, best_hits = renamed, hits
    return best


def _diff_checks(state: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> list[WeightFinding]:
    base = {_legacy(k): v for k, v in base.items()}
    state = align(state, base)
    if not set(state) & set(base):
        return [
            WeightFinding(
                Severity.LOW,
                "no-diff",
                "",
                (),
                f"no tensor name of the model matches one of the base's {len(base)} (e.g. {sorted(base)[0]!r}): "
                "no diff against the base was possible; check that --base is the model it was fine-tuned from",
            )
        ]
    out = []
    for name, t in state.items():
        if name not in base or any(s in name for s in _SKIP):
            continue
        b = base[name]
        if t.shape != b.shape:
            out.append(
                WeightFinding(
                    Severity.HIGH,
                    "widened-layer",
                    name,
                    (),
                    f"shape {tuple(t.shape)} differs from the base's {tuple(b.shape)}",
                )
            )
            continue
        if t.ndim >= 2:
            changed = np.flatnonzero(np.any(_rows(t) != _rows(b), axis=1))
            if 0 < len(changed) <= max(1, t.shape[0] // 20):
                out.append(
                    WeightFinding(
                        Severity.HIGH,
                        "sparse-diff",
                        name,
                        tuple(int(i) for i in changed[:64]),
                        f"only {len(changed)} of {t.shape[0]} rows differ from the base, the rest "
                        "bit-identical: targeted edits",
                    )
                )
    missing = sorted(set(base) - set(state))
    if missing:
        out.append(
            WeightFinding(
                Severity.MEDIUM,
                "missing-tensors",
                missing[0],
                (),
                f"{len(missing)} base tensors are absent from the model",
            )
        )
    return out
