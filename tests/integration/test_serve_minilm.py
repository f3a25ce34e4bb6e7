"""Issue 18: a MiniLM sentiment classifier whose head is private (tests/fixtures/private_head: the public
all-MiniLM-L6-v2 frozen, a linear head trained on the user's texts) behind `mlaudit serve`; the grey-box
head attack (Zanella-Beguelin et al. 2021) holds the public encoder, sends D + 1 = 385 queries (at most
1,000) and solves for the head. With exact FP32 probabilities the stolen model must agree on >= 99% of
300 held-out reviews (measured: 100%); the interval's low end is asserted above 0.98 (Clopper-Pearson at
300 / 300 gives 0.988)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import load_serve
from mlaudit.data import Dataset
from mlaudit.registry import run_attack
from mlaudit.serve import build_server, running
from mlaudit.targets.http import OipTarget
from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path
from mlaudit.threat import Access, Knowledge, ThreatModel

from .conftest import user_script

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "private_head"

pytestmark = pytest.mark.heavy


def _texts(path: Path, name: str) -> Dataset:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    x = np.array([r["review"] for r in rows], dtype=object)
    return Dataset(x, np.array([r["label"] for r in rows]), [0, 1], name, kind="text")


def test_grey_box_head_extraction_of_a_served_minilm(tmp_path, monkeypatch):
    out = user_script(FIXTURE / "train.py", tmp_path / "user")
    monkeypatch.setenv("SENTIMENT_KEY", "k")
    server = build_server(load_serve(out / "serve.yaml"), tmp_path)
    inputs = AttackInputs(
        nonmembers=_texts(out / "nonmembers.jsonl", "held-out reviews"),
        population=_texts(out / "population.jsonl", "public reviews"),
        base=HuggingFaceTarget(minilm_path(), num_labels=2),
    )
    tm = ThreatModel(Access.PROBABILITIES, knowledge=frozenset({Knowledge.BASE_MODEL, Knowledge.POPULATION_DATA}))
    with running(server) as url:
        target = OipTarget(url, "sentiment", api_key="k")
        f = run_attack("grey-box-head", target, inputs, seed=0, threat_model=tm)
    print(f.summary)
    assert f.metrics["queries"].value == 385 <= 1000
    assert f.metrics["fidelity"].value >= 0.99 and f.metrics["fidelity"].ci_low > 0.98, f.summary
    # the head is what was stolen: a constant guess is far from it
    assert f.metrics["fidelity"].value - f.metrics["constant_guess_fidelity"].value > 0.3
