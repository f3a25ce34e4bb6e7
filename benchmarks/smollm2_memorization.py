"""Memorization on the real pretrained SmolLM2-135M: canary exposure and training-data extraction after
fine-tuning its top blocks on King James Bible lines with inserted Faker SSN canaries.

Not a test (it takes minutes on 2 cores). Prints the exposure per insertion count, the extraction
results under each ranking metric (perplexity, zlib, and the base model as reference, Carlini et al.
2021), and ends with `smollm2_max_exposure_bits=X`.

    python benchmarks/smollm2_memorization.py [--chars 30000] [--epochs 6] [--samples 1000]
        [--generations 1000] [--top-k 10] [--prompts 20]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from mlaudit.attacks.memorization.exposure import SSN_PREFIX, SSN_SPACE_BITS, exposures, faker_ssns, insert_canaries
from mlaudit.attacks.memorization.extraction import precision_at, rank_generations, recovered_secrets
from mlaudit.data.assets import kjv_lines
from mlaudit.models import smollm2

COUNTS = (0, 0, 0, 1, 2, 4, 10, 20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=30_000, help="Bible characters in the fine-tuning text")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--blocks", type=int, default=2, help="top decoder blocks fine-tuned (of 30)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--samples", type=int, default=1000, help="random SSNs for the rank estimate")
    ap.add_argument("--generations", type=int, default=1000)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument(
        "--prompts", type=int, default=20, help="public Bible lines the generations continue (0: unprompted)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mlaudit-smollm2"))
    a = ap.parse_args()
    torch.manual_seed(a.seed)  # nothing here draws from it; set for any library code that might

    t0 = time.perf_counter()
    model, tok = smollm2.load(a.cache)
    print(f"loaded SmolLM2-135M in {time.perf_counter() - t0:.1f} s", flush=True)
    base = copy.deepcopy(model)  # the reference model of the extraction ranking: never saw the canaries

    canaries = dict(zip(faker_ssns(len(COUNTS), seed=a.seed), COUNTS, strict=True))
    lines = insert_canaries(
        kjv_lines(a.chars), {s: k for s, k in canaries.items() if k}, rng=np.random.default_rng(a.seed)
    )
    text = "\n".join(lines) + "\n"
    ids = smollm2.pack(tok, lines, a.seq_len)
    print(f"fine-tuning text: {len(lines)} lines, {ids.numel()} tokens in {len(ids)} rows", flush=True)

    prefix = "\n" + SSN_PREFIX.rstrip()

    def score(m):
        return lambda secrets: smollm2.continuation_bits(m, tok, prefix, [" " + s for s in secrets])

    rng = np.random.default_rng(a.seed + 1)
    t0 = time.perf_counter()
    before = exposures(score(model), canaries, n_samples=a.samples, rng=rng)
    print(f"exposure before fine-tuning ({time.perf_counter() - t0:.0f} s)", flush=True)

    t0 = time.perf_counter()
    losses = smollm2.finetune_top(
        model, ids, blocks=a.blocks, epochs=a.epochs, lr=a.lr, generator=torch.Generator().manual_seed(a.seed)
    )
    print(f"fine-tuned top {a.blocks} blocks, {a.epochs} epochs in {time.perf_counter() - t0:.0f} s; "
          f"loss per epoch {', '.join(f'{x:.3f}' for x in losses)}", flush=True)  # fmt: skip

    t0 = time.perf_counter()
    after = exposures(score(model), canaries, n_samples=a.samples, rng=np.random.default_rng(a.seed + 1))
    print(f"exposure after fine-tuning ({time.perf_counter() - t0:.0f} s); max {SSN_SPACE_BITS:.1f} bits")
    print("| insertions | secret | exposure before | exposure after | rank among samples |")
    print("|---|---|---|---|---|")
    for b, r in zip(before, after, strict=True):
        print(f"| {r.insertions} | {r.secret} | {b.exposure:.1f} | {r.exposure:.1f} | {r.empirical_rank} |")

    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(a.seed + 2)
    # Carlini et al. 2021 also prompt with public text: here lines of the Bible, which the adversary has
    # (never a canary line), each followed by a newline, so a generation is a next training-like line
    public = [x for x in kjv_lines(a.chars) if "security" not in x]
    pick = np.random.default_rng(a.seed + 3).choice(len(public), a.prompts, replace=False) if a.prompts else []
    prompts = [public[i] + "\n" for i in pick] or ["\n"]
    per = -(-a.generations // len(prompts))
    gens = [
        x
        for p in prompts
        for x in smollm2.sample(model, tok, n=per, max_new_tokens=32, top_k=a.top_k, generator=g, prompt=p)
    ]
    print(f"\n{len(gens)} generations after {len(prompts)} prompts in {time.perf_counter() - t0:.0f} s", flush=True)

    def bits(m):  # each metric ranks the same distinct generations: score them once per model
        memo: dict[tuple[str, ...], np.ndarray] = {}

        def score(texts: list[str]) -> np.ndarray:
            if tuple(texts) not in memo:
                memo[tuple(texts)] = smollm2.text_bits(m, tok, texts)
            return memo[tuple(texts)]

        return score

    print("| metric | distinct | precision@100 | secrets recovered (insertions) | best rank of a secret |")
    print("|---|---|---|---|---|")
    mine, ref = bits(model), bits(base)
    for metric in ("perplexity", "zlib", "reference"):
        ranked = rank_generations(gens, mine, text, metric=metric, reference=ref)
        found = recovered_secrets(ranked, list(canaries))
        first = min((i + 1 for i, e in enumerate(ranked) if set(e.pii) & set(found)), default=None)
        print(f"| {metric} | {len(ranked)} | {precision_at(ranked, 100):.2f} | "
              f"{', '.join(f'{s} ({canaries[s]})' for s in found) or 'none'} | {first} |")  # fmt: skip
        if metric == "reference":
            print("top 5 by reference:")
            for e in ranked[:5]:
                print(f"  {e.score:+.3f} {'V' if e.verbatim else ' '} {e.text!r}")
    print(f"smollm2_max_exposure_bits={max(r.exposure for r in after):.1f}")


if __name__ == "__main__":
    main()
