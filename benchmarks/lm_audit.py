"""A user's fine-tuned SmolLM2-135M audited from a config, the way #17's acceptance asks: the public
SmolLM2-135M (the package's GGUF, scanned, dequantised and saved as a Hugging Face folder: the base),
fine-tuned here by a user-style loop on 300 King James verses with Faker SSNs appended to some of them
1-20 times ("...; my social security number is 123-45-6789"), once in its top 2 blocks (saved with
save_pretrained) and once as a LoRA adapter on the attention of its top 6 blocks (peft, saved as an
adapter). 300 other verses are the non-members. Each is audited through `mlaudit audit` with
`attacks: [membership, memorization, file-scan]`, logits access and the base as knowledge.

Prints, per variant: each LM membership attack's AUC [95%] and TPR at 1% FPR, its control's AUC and z on
the Mann-Whitney null; the exposure per insertion count; what the prefix probe and sampled extraction
recovered; wall times. Ends with `lm_audit_base_reference_auc=X` (the top-blocks variant).

Usage: python benchmarks/lm_audit.py [--out DIR] [--epochs 4] [--variants top,lora]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mlaudit.attacks.memorization.exposure import SSN_PREFIX, faker_ssns
from mlaudit.data.assets import kjv_lines
from mlaudit.models import smollm2
from mlaudit.targets.language_model import load_language_model

COUNTS = (1, 2, 4, 10, 20)


def documents(seed: int) -> tuple[list[str], list[str], dict[str, int]]:
    verses = sorted({ln for ln in kjv_lines(1_200_000) if 60 <= len(ln) <= 160})
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(verses))[:600]
    members, nonmembers = [verses[i] for i in pick[:300]], [verses[i] for i in pick[300:]]
    secrets = dict(zip(faker_ssns(len(COUNTS), seed=seed), COUNTS, strict=True))
    slots = iter(rng.permutation(len(members)))
    for s, k in secrets.items():
        for _ in range(k):
            i = int(next(slots))
            members[i] = f"{members[i]}; {SSN_PREFIX}{s}"
    return members, nonmembers, secrets


def fine_tune_top(base_dir: Path, members: list[str], out: Path, epochs: int, seed: int) -> None:
    model, tok = load_language_model(base_dir)
    ids = smollm2.pack(tok, members, 64)
    smollm2.finetune_top(model, ids, blocks=2, epochs=epochs, lr=1e-3, generator=torch.Generator().manual_seed(seed))
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def fine_tune_lora(base_dir: Path, members: list[str], out: Path, epochs: int, seed: int) -> None:
    from peft import LoraConfig, get_peft_model

    model, tok = load_language_model(base_dir)
    n = len(model.model.layers)
    attention = ["q_proj", "k_proj", "v_proj", "o_proj"]
    cfg = LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules=attention,
                     layers_to_transform=list(range(n - 6, n)))  # fmt: skip
    model = get_peft_model(model, cfg)
    ids = smollm2.pack(tok, members, 64)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(ids), generator=g).split(8):
            loss = model(input_ids=ids[idx], labels=ids[idx]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.save_pretrained(str(out), safe_serialization=True)


def config(out: Path, target: Path, base: Path) -> str:
    return f"""target: {{kind: huggingface, path: {target}, max_length: 128}}
base: {{path: {base}}}
data:
  members: {{source: jsonl, path: {out / "members.jsonl"}}}
  nonmembers: {{source: jsonl, path: {out / "nonmembers.jsonl"}}}
threat_model: {{access: logits, knowledge: [base_model]}}
memorization:
  secrets: [{{prefix: "{SSN_PREFIX}", format: ddd-dd-dddd}}]
  probes: ["and the lord said unto"]
attacks: [membership, memorization, file-scan]
"""


def summarise(report: dict, secrets: dict[str, int]) -> float:
    found = {f["id"]: f for f in report["findings"]}
    print(f"{'attack':20s}{'AUC [95%]':>24s}{'TPR@1%':>9s}{'control AUC':>13s}{'z':>7s}")
    for name in ("lm-loss", "zlib", "min-k", "min-k-plus-plus", "lm-base-reference"):
        m, c = found[name]["metrics"], found[f"{name}-control"]["metrics"]
        auc, z = m["auc"], (c["auc"]["value"] - 0.5) / c["auc_null_sigma"]["value"]
        print(f"{name:20s}{auc['value']:8.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]"
              f"{m['tpr_at_0.01_fpr']['value']:9.1%}{c['auc']['value']:13.3f}{z:7.1f}")  # fmt: skip
    exp = found["canary-exposure"]
    rows = next(a for a in exp["artifacts"] if a["title"] == "Canaries")["data"]["rows"]
    print("exposure (bits of 29.9) by insertions: "
          + "; ".join(f"{r[0]}: {float(r[3]):.1f}" for r in sorted(rows, key=lambda r: r[0])))  # fmt: skip
    for fid in ("prefix-probe", "training-data-extraction", "file-scan"):
        print(f"{fid}: {found[fid]['severity']}: {found[fid]['summary']}")
    print(f"errors: {report['errors'] or 'none'}")
    return float(found["lm-base-reference"]["metrics"]["auc"]["value"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/mlaudit-lm-audit"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--variants", default="top,lora")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(2)
    a.out.mkdir(parents=True, exist_ok=True)
    load_language_model(smollm2.gguf_path(), cache=a.out / "cache")  # the public base as a safetensors folder
    (base,) = [p.parent for p in (a.out / "cache").glob("gguf-*/model.safetensors")]
    members, nonmembers, secrets = documents(a.seed)
    for name, docs in (("members", members), ("nonmembers", nonmembers)):
        (a.out / f"{name}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    result = 0.0
    for variant in a.variants.split(","):
        folder = a.out / variant
        t0 = time.perf_counter()
        if not folder.exists():
            (fine_tune_top if variant == "top" else fine_tune_lora)(base, members, folder, a.epochs, a.seed)
        t_fit = time.perf_counter() - t0
        (a.out / f"{variant}.yaml").write_text(config(a.out, folder, base))
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "mlaudit", "audit", "--config", str(a.out / f"{variant}.yaml"),
               "--out", str(a.out / f"report-{variant}")]  # fmt: skip
        rc = subprocess.run(cmd, capture_output=True, text=True).returncode
        t_audit = time.perf_counter() - t0
        print(f"\n== {variant}: fine-tuned in {t_fit:.0f} s; audit exit {rc} in {t_audit:.0f} s")
        auc = summarise(json.loads((a.out / f"report-{variant}" / "report.json").read_text()), secrets)
        result = auc if variant == "top" else result
    print(f"lm_audit_base_reference_auc={result:.3f}")


if __name__ == "__main__":
    main()
