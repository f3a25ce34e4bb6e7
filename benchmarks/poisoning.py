"""Poisoning figures on real data: backdoors planted in a Fashion-MNIST CNN and a fine-tuned MiniLM, and
the detectors measured on them.

1. Fashion-MNIST CNN trained on the 60,000 training images (3 epochs), clean and with a `--rate` share
   poisoned by BadNets (3x3 checkerboard, bottom-right), Blended (alpha 0.2) and label-consistent
   (PGD eps 0.3 on the clean model as surrogate); clean accuracy and ASR on the 10,000 test images.
2. On the BadNets model: Spectral Signatures (default removal rate) and Activation Clustering recall,
   STRIP detection at 1% false rejection, Neural Cleanse anomaly indices on the poisoned and the
   clean model.
3. all-MiniLM-L6-v2 fine-tuned (top 2 blocks + head, 2 epochs) on 2,000 Rotten Tomatoes snippets with
   `--text-rate` of them given the trigger word "cf" and the positive label; ASR on 500 test snippets.

Ends with badnets_asr=, badnets_clean_accuracy_drop=, spectral_recall=, nc_target_index=, text_asr=.
Usage: python benchmarks/poisoning.py [--rate 0.05] [--text-rate 0.05] [--skip-text]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mlaudit.attacks.poisoning import BadNets, Blended, LabelConsistent, TextTrigger, attack_success_rate
from mlaudit.data import fashion_mnist
from mlaudit.defenses.backdoor import activation_clustering, neural_cleanse, penultimate, spectral_signatures, strip
from mlaudit.models import CNN, TrainConfig, accuracy, train

TARGET = 0


def fit(x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    torch.manual_seed(0)
    m = CNN()
    train(m, x, y, TrainConfig(epochs=3, batch_size=128), generator=torch.Generator().manual_seed(0))
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


@torch.no_grad()
def pred(m: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    return torch.cat([m(torch.as_tensor(x[i : i + 2000])).argmax(1) for i in range(0, len(x), 2000)]).numpy()


def image_section(rate: float) -> dict[str, float]:
    tr, te = fashion_mnist("train"), fashion_mnist("test")
    x, y, xt, yt = tr.x, tr.y, te.x, te.y
    t0 = time.perf_counter()
    clean = fit(x, y)
    clean_acc = accuracy(clean, xt, yt)
    print(f"clean CNN: test accuracy {clean_acc:.4f} ({time.perf_counter() - t0:.0f} s)")
    rng = np.random.default_rng(0)
    bn, bl, lc = BadNets(TARGET), Blended((1, 28, 28), TARGET), LabelConsistent(TARGET)
    lc_rate = min(rate, 0.5 * float((y == TARGET).mean()))  # clean-label poisons come from the target class
    poisoned = {
        "badnets": (bn.poison(x, y, rate, rng), bn.apply),
        "blended": (bl.poison(x, y, rate, rng), bl.apply),
        "label-consistent": (lc.poison(x, y, lc_rate, rng, surrogate=clean), lc.apply),
    }
    out, models = {}, {}
    print(f"{'attack':18s}{'poison':>8s}{'clean acc':>11s}{'change':>9s}{'ASR':>8s}{'ASR clean model':>17s}")
    for name, (p, apply) in poisoned.items():
        m = models[name] = fit(p.x, p.y)
        acc = accuracy(m, xt, yt)
        asr = attack_success_rate(pred(m, apply(xt)), yt, TARGET)
        asr0 = attack_success_rate(pred(clean, apply(xt)), yt, TARGET)
        print(f"{name:18s}{p.poison_rate:8.1%}{acc:11.4f}{acc - clean_acc:+9.4f}{asr:8.1%}{asr0:17.1%}")
        out[f"{name}_asr"], out[f"{name}_drop"] = asr, clean_acc - acc
    p, apply = poisoned["badnets"]
    bad = models["badnets"]
    reps = penultimate(bad, p.x)
    ss = spectral_signatures(reps, p.y)
    ac = activation_clustering(reps, p.y)
    print(f"Spectral Signatures: removes {ss.removal_rate:.1%} of each class, recall {ss.recall(p.is_poison):.3f}")
    fp = float(ac.flagged[~p.is_poison].mean())
    print(
        f"Activation Clustering: classes {ac.flagged_classes}, recall {ac.recall(p.is_poison):.3f}, "
        f"clean examples flagged {fp:.3f}"
    )

    def probs(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(bad(torch.as_tensor(z, dtype=torch.float32)), 1).numpy()

    keep = yt != TARGET
    st = strip(probs, xt[:500], apply(xt[keep][500:1000]), x[:2000], rng=np.random.default_rng(0))
    print(f"STRIP: {st.flagged.mean():.1%} of triggered inputs caught at 1% false rejection")
    for name, m in (("poisoned", bad), ("clean", clean)):
        t0 = time.perf_counter()
        nc = neural_cleanse(m, xt[5000:5500], 10, epochs=30, generator=torch.Generator().manual_seed(0))
        print(
            f"Neural Cleanse, {name} model: flagged {nc.flagged}; mask L1 {np.round(nc.l1, 1).tolist()}; "
            f"anomaly index {np.round(nc.anomaly_index, 2).tolist()} ({time.perf_counter() - t0:.0f} s)"
        )
        out[f"nc_{name}_target_index"] = float(nc.anomaly_index[TARGET])
        out[f"nc_{name}_flagged"] = float(len(nc.flagged))
    out["spectral_recall"], out["badnets_clean_accuracy_drop"] = ss.recall(p.is_poison), out["badnets_drop"]
    return out


def text_section(rate: float) -> float:
    from mlaudit.data import rotten_tomatoes
    from mlaudit.models.text import TextTrainConfig, finetune_text
    from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path

    d = rotten_tomatoes()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(d.x))
    x, y = np.array(d.x, dtype=object), d.y
    tr, te = perm[:2000], perm[-500:]
    trig = TextTrigger(target_label=1)
    p = trig.poison(x[tr], y[tr], rate, rng)
    res = {}
    for name, (xx, yy) in (("clean", (x[tr], y[tr])), ("poisoned", (p.x, p.y))):
        t = HuggingFaceTarget(minilm_path(), num_labels=2, seed=0)
        t0 = time.perf_counter()
        finetune_text(t.model, t.tokenizer, list(xx), yy, TextTrainConfig(), generator=torch.Generator().manual_seed(0))
        acc = float((t.labels(list(x[te])) == y[te]).mean())
        asr = attack_success_rate(t.labels(trig.apply(list(x[te]), np.random.default_rng(1))), y[te], 1)
        res[name] = asr
        print(f"MiniLM {name}: accuracy {acc:.3f}, ASR {asr:.1%} ({time.perf_counter() - t0:.0f} s)")
    return res["poisoned"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--text-rate", type=float, default=0.05)
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--skip-images", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if not a.skip_images:
        out = image_section(a.rate)
        for k in (
            "badnets_asr",
            "badnets_clean_accuracy_drop",
            "spectral_recall",
            "nc_poisoned_target_index",
            "nc_clean_target_index",
            "nc_clean_flagged",
        ):
            print(f"{k}={out[k]:.4f}")
    if not a.skip_text:
        print(f"text_asr={text_section(a.text_rate):.4f}")


if __name__ == "__main__":
    main()
