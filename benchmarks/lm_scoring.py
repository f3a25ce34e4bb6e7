"""Language-model scoring throughput: mlaudit's LanguageModelTarget (documents sorted by length, padded
batches of about 4,096 tokens, one log-softmax per batch) against a plain per-document Hugging Face loop
(one forward pass per document, log-softmax, gather) on SmolLM2-135M, the same documents, the same
machine, one run. Both must give the same log-probabilities (checked to 1e-4).

Ends with `lm_scoring_speedup=X` (tokens/s of mlaudit over the plain loop; goal >= 1.5).

Usage: python benchmarks/lm_scoring.py [--documents 200] [--cache DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from mlaudit.data.assets import kjv_lines
from mlaudit.targets.language_model import LanguageModelTarget, load_language_model


def plain_loop(model, tok, texts: list[str]) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    out = []
    with torch.no_grad():
        for t in texts:
            ids = torch.as_tensor([[tok.bos_token_id] + tok(t, add_special_tokens=False)["input_ids"]])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            out.append(logp.gather(-1, ids[0, 1:, None])[:, 0].double().numpy())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=200)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mlaudit-lm-cache"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    from mlaudit.models.smollm2 import gguf_path

    model, tok = load_language_model(gguf_path(), cache=a.cache)  # scanned, dequantised, cached as safetensors
    lines = [ln for ln in kjv_lines(400_000) if len(ln) >= 40]
    rng = np.random.default_rng(0)
    texts = [" ".join(lines[i : i + int(rng.integers(1, 4))]) for i in rng.choice(len(lines) - 4, a.documents)]
    target = LanguageModelTarget(model, tok, name="SmolLM2-135M", max_length=512)
    n_tokens = sum(len(target.encode(t)) - 1 for t in texts)
    plain_loop(model, tok, texts[:4])  # warm-up, both
    LanguageModelTarget(model, tok, name="warm-up", max_length=512).token_logprobs(texts[:4])  # its own memo
    t0 = time.perf_counter()
    ref = plain_loop(model, tok, texts)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = target.token_logprobs(texts)
    t_ours = time.perf_counter() - t0
    worst = max(float(np.abs(a - b).max()) for a, b in zip(got, ref, strict=True))
    assert worst < 1e-4, f"log-probabilities differ by {worst}"
    print(f"{a.documents} documents, {n_tokens} scored tokens; largest difference {worst:.1e}")
    print(f"plain per-document loop {n_tokens / t_plain:8.0f} tokens/s ({t_plain:.1f} s)")
    print(f"mlaudit batched        {n_tokens / t_ours:8.0f} tokens/s ({t_ours:.1f} s)")
    print(f"lm_scoring_speedup={t_plain / t_ours:.2f}")


if __name__ == "__main__":
    main()
