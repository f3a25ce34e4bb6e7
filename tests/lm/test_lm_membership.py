"""Language-model membership attacks: the per-token formulas against a hand-computed case, the target's
batched, windowed scoring against a plain per-document loop, and each attack both ways on a tiny LM
(finds the leak of a model trained on its members; at chance on two sets it never saw)."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.data import Dataset
from mlaudit.registry import REGISTRY, get_attack
from mlaudit.targets.language_model import LanguageModelTarget, load_language_model, windows
from mlaudit.threat import Access, Knowledge, ThreatModel
from tests.fixtures.own_lm import train_lm as tiny

# a bigram model over 3 tokens (0 = BOS, 1 = "a", 2 = "b"): next-token probabilities by the previous token
BIGRAM = np.array([[0.2, 0.4, 0.4], [0.1, 0.6, 0.3], [0.1, 0.2, 0.7]])


class Bigram(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(1, 3)  # only its shape is read (the vocabulary size)
        self.table = torch.log(torch.as_tensor(BIGRAM, dtype=torch.float32))

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        return SimpleNamespace(logits=self.table[input_ids])


class AB:
    bos_token_id = 0

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [{"a": 1, "b": 2}[c] for c in text]}


def docs(texts: list[str], name: str) -> Dataset:
    return Dataset(list(texts), np.zeros(len(texts), np.int64), ("document",), name, "text")


def test_min_k_and_min_k_plus_plus_match_the_papers_formulas_on_a_hand_computed_case() -> None:
    target = LanguageModelTarget(Bigram(), AB(), name="bigram", max_length=8)
    # "aab" after BOS: p(a|BOS) = 0.4, p(a|a) = 0.6, p(b|a) = 0.3
    lp = target.token_logprobs(["aab"])[0]
    assert lp == pytest.approx(np.log([0.4, 0.6, 0.3]), abs=1e-6)
    st = target.token_statistics(["aab"])
    # mu, sigma of log p(z) under the BOS row (0.2, 0.4, 0.4), by hand: mu = 0.2 ln 0.2 + 0.8 ln 0.4 = -1.05492,
    # E[(ln p)^2] = 0.2 (ln 0.2)^2 + 0.8 (ln 0.4)^2 = 1.18974, sigma = sqrt(1.18974 - 1.05492^2) = 0.27730
    assert st.means[0][0] == pytest.approx(-1.05492, abs=1e-4)
    assert st.stds[0][0] == pytest.approx(0.27730, abs=1e-4)
    from mlaudit.attacks.membership.min_k import min_k_scores
    from mlaudit.attacks.membership.min_k_plus_plus import min_k_plus_plus_scores

    # Min-K% (Shi et al.): k = 20% of 3 tokens keeps ceil(0.6) = 1, the least likely: ln 0.3; k = 50% keeps 2
    assert min_k_scores(target, ["aab"], 0.2)[0] == pytest.approx(math.log(0.3), abs=1e-6)
    assert min_k_scores(target, ["aab"], 0.5)[0] == pytest.approx((math.log(0.3) + math.log(0.4)) / 2, abs=1e-6)
    # Min-K%++ (Zhang et al.): z_t = (ln p(x_t) - mu_t) / sigma_t per token, written out from the table
    z = []
    for prev, tok in ((0, 1), (1, 1), (1, 2)):
        p = BIGRAM[prev]
        mu = float((p * np.log(p)).sum())
        sd = math.sqrt(float((p * np.log(p) ** 2).sum()) - mu**2)
        z.append((math.log(p[tok]) - mu) / sd)
    assert z[0] == pytest.approx(0.49994, abs=1e-4)  # (ln 0.4 + 1.05492) / 0.27730
    assert min_k_plus_plus_scores(target, ["aab"], 0.2)[0] == pytest.approx(min(z), abs=1e-5)
    assert min_k_plus_plus_scores(target, ["aab"], 1.0)[0] == pytest.approx(np.mean(z), abs=1e-5)


def test_offline_lira_on_documents_matches_a_hand_computed_case() -> None:
    from mlaudit.attacks.membership.lm_lira import lira_offline_scores

    # two references, two documents: means (0.5, 0); residuals -0.5, 0.5, 0, 0 with 4 - 2 degrees of freedom:
    # variance 0.25, sd 0.5; scores log Phi((0 - 0.5) / 0.5) = log Phi(-1), log Phi((1 - 0) / 0.5) = log Phi(2)
    got = lira_offline_scores(np.array([0.0, 1.0]), np.array([[0.0, 0.0], [1.0, 0.0]]))
    assert got == pytest.approx([math.log(0.158655), math.log(0.977250)], abs=1e-5)
    # one reference: the sd of the target-minus-reference differences (here 0.5)
    one = lira_offline_scores(np.array([0.0, 1.0]), np.array([[0.0, 0.0]]))
    assert one == pytest.approx([math.log(0.5), math.log(0.977250)], abs=1e-5)


def test_long_documents_are_scored_in_windows_once_per_token_in_any_batch() -> None:
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(["a", "b"], size=n)) for n in (3, 17, 40, 9, 64)]
    whole = LanguageModelTarget(Bigram(), AB(), name="bigram", max_length=128).token_logprobs(texts)
    for length, batch in ((8, 8), (9, 4096), (16, 32)):
        part = LanguageModelTarget(Bigram(), AB(), name="bigram", max_length=length, batch_tokens=batch)
        got = part.token_logprobs(texts)
        for a, b, t in zip(got, whole, texts, strict=True):
            assert len(a) == len(t)  # every token once (BOS is context only)
            np.testing.assert_allclose(a, b, atol=1e-6)
    # the windows themselves: each token after the first window keeps at least half a window of context
    ids = list(range(30))
    w = windows(ids, 8)
    assert [len(x) for x, _ in w] == [8] * len(w)
    assert sum(len(x) - s for x, s in w) == 29 and all(s >= 4 for _, s in w[1:])


def test_batched_scoring_matches_a_plain_per_document_loop_on_a_real_llama(tmp_path) -> None:
    folder = tiny.save(tiny.model(seed=1), tiny.tokenizer(), tmp_path / "lm")
    model, tok = load_language_model(folder)
    target = LanguageModelTarget(model, tok, name="tiny", max_length=256, batch_tokens=600)
    texts = ["in the beginning god created", "and the earth was without form, and void;", "a", "light."]
    got = target.token_logprobs(texts)
    for text, lp in zip(texts, got, strict=True):  # one unpadded forward pass per document
        ids = torch.as_tensor([[0] + tok(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            ref = torch.log_softmax(model(input_ids=ids).logits[0, :-1].double(), -1)
        np.testing.assert_allclose(lp, ref.gather(-1, ids[0, 1:, None])[:, 0].numpy(), atol=2e-5)
    st = target.token_statistics(texts[:1])
    assert np.all(st.stds[0] > 0) and len(st.means[0]) == len(texts[0])
    view = target.restricted(ThreatModel(access=Access.PROBABILITIES))
    view.token_logprobs(texts)
    assert view.queries == 4  # one per document
    with pytest.raises(Exception, match="logits"):
        view.token_statistics(texts)  # Min-K%++ needs the whole distribution


@pytest.fixture(scope="module")
def fine_tuned() -> dict[str, object]:
    """A public 'base' trained on 240 population lines, fine-tuned on 80 member lines (the target)."""
    members, nonmembers, _, _ = tiny.lines()
    base, target, tok = tiny.base_and_tuned(members, epochs=8)
    return {
        "target": LanguageModelTarget(target, tok, name="fine-tuned"),
        "base": LanguageModelTarget(base, tok, name="base"),
        "members": docs(members, "members"),
        "nonmembers": docs(nonmembers[:80], "non-members"),
        "control": (docs(nonmembers[:80], "non-members A"), docs(nonmembers[80:], "non-members B")),
    }


@pytest.mark.parametrize("attack", ["lm-loss", "zlib", "min-k", "min-k-plus-plus", "lm-base-reference"])
def test_each_lm_attack_finds_the_fine_tuning_leak_and_sits_at_chance_on_the_control(fine_tuned, attack) -> None:
    tm = ThreatModel(access=Access.LOGITS, knowledge=frozenset({Knowledge.BASE_MODEL}))
    view = fine_tuned["target"].restricted(tm)
    leak = get_attack(attack).run(
        view, AttackInputs(fine_tuned["members"], fine_tuned["nonmembers"], base=fine_tuned["base"]), seed=0
    )
    a, b = fine_tuned["control"]
    control = get_attack(attack).run(view, AttackInputs(a, b, base=fine_tuned["base"]), seed=0)
    sigma = leak.metrics["auc_null_sigma"].value  # 80 vs 80: sd of the AUC under H0 ~= 0.046
    print(attack, round(leak.metrics["auc"].value, 3), round(control.metrics["auc"].value, 3))
    # the leak: more than 4 null sigmas above chance (a chance-level attack passes with p < 1e-4)
    assert leak.metrics["auc"].value > 0.5 + 4 * sigma
    # two sets the model never saw: within 4 null sigmas of chance (fails by accident with p < 1e-4)
    assert abs(control.metrics["auc"].value - 0.5) < 4 * control.metrics["auc_null_sigma"].value


LANGUAGE_ENTRIES = sorted(n for n in REGISTRY if get_attack(n).requires.modalities == {"language"})


@pytest.mark.parametrize("name", LANGUAGE_ENTRIES)
def test_every_language_model_entry_keeps_the_contract(fine_tuned, name) -> None:
    """Each registered LM entry runs through a view with exactly its declared access and knowledge, gives
    the same finding twice, counts its queries, leaves the weights alone and fits the report schema."""
    import json

    from mlaudit.attacks.memorization.exposure import SSN_PREFIX
    from mlaudit.attacks.memorization.secrets import SecretFormat
    from mlaudit.findings import Report
    from mlaudit.report.json import to_json, validate

    attack = get_attack(name, **({"samples": 200} if name == "canary-exposure" else {}))
    assert attack.requires.modalities == {"language"} and LANGUAGE_ENTRIES
    members = fine_tuned["members"]
    secret = dataclasses.replace(members, x=[*members.x[:-1], SSN_PREFIX + "123-45-6789"])
    secret = dataclasses.replace(secret, y=np.zeros(len(secret.x), np.int64))
    texts = [*secret.x, *fine_tuned["nonmembers"].x]  # the base as one 'reference LM' for lm-lira-offline
    refs = {
        t: np.array([float(lp.mean())]) for t, lp in zip(texts, fine_tuned["base"].token_logprobs(texts), strict=True)
    }
    inputs = AttackInputs(secret, fine_tuned["nonmembers"], base=fine_tuned["base"],
                          secrets=(SecretFormat(SSN_PREFIX, "ddd-dd-dddd"),), lm_reference_scores=refs)  # fmt: skip
    tm = ThreatModel(access=attack.requires.access, knowledge=attack.requires.knowledge)
    target = fine_tuned["target"]
    before = {k: v.copy() for k, v in target.weights().items()}
    views = [target.restricted(tm) for _ in range(2)]
    a, b = (attack.run(v, inputs, seed=0) for v in views)
    assert a.category == attack.category and views[0].queries > 0
    assert {k: m.value for k, m in a.metrics.items()} == {k: m.value for k, m in b.metrics.items()}
    assert all((v == before[k]).all() for k, v in target.weights().items())
    info = {**target.describe(), "kind": "huggingface"}
    report = Report("0", "2026-01-01T00:00:00+00:00", info, tm.to_dict(), {"seed": 0}, (a,), {})
    validate(json.loads(to_json(report)))


def test_reference_lora_reads_the_adapters_layers_to_transform(tmp_path) -> None:
    """A LoRA adapter on one layer only (peft's layers_to_transform): the references' LoRA is built alike."""
    from peft import LoraConfig, get_peft_model

    from mlaudit.models.lora import LoraSpec

    cfg = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["q_proj"], layers_to_transform=[1])
    get_peft_model(tiny.model(seed=0), cfg).save_pretrained(tmp_path / "adapter", safe_serialization=True)
    spec = LoraSpec.from_adapter(tmp_path / "adapter")
    assert spec.layers == (1,) and spec.target_modules == ("q_proj",)
    wrapped = spec.wrap(tiny.model(seed=0), task="CAUSAL_LM")
    adapted = {n.split(".layers.")[1].split(".")[0] for n, _ in wrapped.named_parameters() if "lora_A" in n}
    assert adapted == {"1"}  # layer 0 untouched, as in the user's adapter


def test_with_statistics_one_pass_serves_log_probabilities_and_min_k_plus_plus() -> None:
    """An audit that grants logits scores each document once: log-probs first (LOSS, zlib, Min-K%), then
    Min-K%++'s statistics from the same pass. Without the flag the statistics need a second pass."""
    for statistics, passes in ((True, 1), (False, 2)):
        model = Bigram()
        calls: list[int] = []
        model.register_forward_hook(lambda *_, seen=calls: seen.append(1))
        target = LanguageModelTarget(model, AB(), name="bigram", max_length=8, statistics=statistics)
        lp = target.token_logprobs(["aab", "ba"])
        st = target.token_statistics(["aab", "ba"])
        assert len(calls) == passes, (statistics, calls)
        assert st.logprobs[0] == pytest.approx(lp[0]) and st.means[0][0] == pytest.approx(-1.05492, abs=1e-4)
