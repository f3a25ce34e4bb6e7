"""Issue 18: a language model behind `mlaudit serve`'s OpenAI-compatible /v1/completions, queried by the
completions target: the prompt log-probabilities it reads back equal the local model's (the bigram table of
tests/lm, computed by hand there), sampled continuations equal a local run with the same seed (the tiny
Llama of tests/fixtures/own_lm), an LM membership attack runs unchanged with every counted query answered
for the key, and a logits-access attack is refused (the API returns no whole distribution)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.data import Dataset
from mlaudit.registry import run_attack
from mlaudit.serve import Key, ServedModel, Server, running
from mlaudit.targets.base import UnsupportedAccess
from mlaudit.targets.completions import CompletionsTarget
from mlaudit.targets.language_model import LanguageModelTarget
from mlaudit.threat import Access, ThreatModel
from tests.fixtures.own_lm import train_lm as tiny
from tests.lm.test_lm_membership import AB, BIGRAM, Bigram


def _serve(target):
    key = Key("alice", "k")
    return Server({"lm": ServedModel("lm", target, text=True)}, [key]), key


def test_served_log_probabilities_equal_the_local_ones():
    local = LanguageModelTarget(Bigram(), AB(), name="bigram", max_length=8)
    server, key = _serve(LanguageModelTarget(Bigram(), AB(), name="bigram", max_length=8))
    with running(server) as url:
        remote = CompletionsTarget(url, "lm", api_key="k")
        got = remote.token_logprobs(["aab", "ba", "bbbb"])
        with pytest.raises(UnsupportedAccess):
            remote.token_statistics(["aab"])  # Min-K%++ needs the whole distribution: refused, not faked
    want = local.token_logprobs(["aab", "ba", "bbbb"])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-6)
    np.testing.assert_allclose(got[0], np.log([BIGRAM[0, 1], BIGRAM[1, 1], BIGRAM[1, 2]]), atol=1e-6)  # by hand
    assert key.used == 3


def test_an_lm_attack_runs_unchanged_and_generation_matches_a_local_seeded_run():
    torch.manual_seed(0)
    model, tok = tiny.model(seed=1), tiny.tokenizer()
    target = LanguageModelTarget(model, tok, name="tiny", max_length=64)
    server, key = _serve(target)
    members, nonmembers, _, _ = tiny.lines()
    docs = lambda t, n: Dataset(list(t[:20]), np.zeros(20, np.int64), ("document",), n, "text")  # noqa: E731
    inputs = AttackInputs(members=docs(members, "members"), nonmembers=docs(nonmembers, "non-members"))
    with running(server) as url:
        remote = CompletionsTarget(url, "lm", api_key="k")
        f = run_attack("lm-loss", remote, inputs, seed=0, threat_model=ThreatModel(access=Access.PROBABILITIES))
        used_by_attack = key.used
        texts = remote.generate(
            ["In the beginning"] * 3, max_new_tokens=12, top_k=5, generator=torch.Generator().manual_seed(7)
        )
    assert f.config["queries"] == 40 == used_by_attack  # every document one query, each answered for the key
    assert key.used == 43  # and the 3 prompts
    assert 0 <= f.metrics["auc"].value <= 1
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(7)))
    local = target.generate(
        ["In the beginning"] * 3, max_new_tokens=12, top_k=5, generator=torch.Generator().manual_seed(seed)
    )
    assert texts == local and all(t for t in texts)


def test_a_served_lm_is_audited_from_a_config(tmp_path, monkeypatch):
    """`mlaudit serve` of a causal LM folder, then `mlaudit audit` of target kind http with api completions:
    the log-prob attacks run over HTTP (the tiny Llama fine-tuned on its members: lm-loss finds the leak),
    Min-K%++ is skipped because the API gives no logits, and the report records the endpoint."""
    import json

    from mlaudit.config import load_serve

    from .conftest import audit_config, read_report

    members, nonmembers, _, _ = tiny.lines()
    _, tuned, tok = tiny.base_and_tuned(members, epochs=8)
    folder = tiny.save(tuned, tok, tmp_path / "lm")
    for name, docs in (("members", members), ("nonmembers", nonmembers)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    (tmp_path / "serve.yaml").write_text(
        f"target: {{kind: huggingface, path: {folder}, max_length: 64}}\n"
        "serve: {model_name: tiny, keys: [{name: auditor, key_env: LM_TEST_KEY}]}\n"
    )
    monkeypatch.setenv("LM_TEST_KEY", "s3cret")
    from mlaudit.serve import build_server

    src = "{{source: jsonl, path: {}, text_field: text}}"
    with running(build_server(load_serve(tmp_path / "serve.yaml"), tmp_path)) as url:
        rc = audit_config(
            f"""target: {{kind: http, api: completions, url: "{url}", model_name: tiny, api_key_env: LM_TEST_KEY}}
data:
  members: {src.format(tmp_path / "members.jsonl")}
  nonmembers: {src.format(tmp_path / "nonmembers.jsonl")}
threat_model: {{access: logits}}
attacks: [lm-loss, zlib, min-k-plus-plus]
""",
            tmp_path,
        )
    assert rc in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["target"]["adapter"] == "CompletionsTarget" and report["target"]["num_classes"] is None
    assert report["threat_model"]["output"] == "logprobs" == found["lm-loss"]["threat_model"]["output"]
    assert found["lm-loss"]["metrics"]["auc"]["value"] > 0.7 and "zlib" in found
    skipped = {s["attack"]: s["reason"] for s in report["skipped"]}
    assert "probabilities" in skipped["min-k-plus-plus"], skipped
