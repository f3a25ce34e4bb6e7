"""LoRA as a training recipe (models.lora): the merged weights against the paper's formula
W = W0 + (alpha / r) B A written out, the settings read back from a real PEFT adapter folder, the
config's refusals, and reference models of a LoRA adapter target: trained as adapters over the public
base and merged, so only the adapted modules and the head differ from the base (a full fine-tune, or
an unmerged adapter, fails that)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from mlaudit.config import LoraRecipeConfig, RecipeConfig, from_dict
from mlaudit.errors import ConfigError, InputError
from mlaudit.models.lora import LoraSpec, merged

from ..integration.conftest import audit_config, read_report


def _net() -> nn.Sequential:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_merged_weights_follow_the_lora_formula():
    net = _net()
    w0, head0 = net[0].weight.detach().clone(), net[2].weight.detach().clone()
    peft_model = LoraSpec(rank=2, alpha=4.0, dropout=0.0, target_modules=("0",), modules_to_save=("2",)).wrap(net)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable), trainable
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    opt = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(5):  # B starts at zero: a few steps make B A non-zero
        opt.zero_grad()
        nn.functional.cross_entropy(peft_model(x), y).backward()
        opt.step()
    layer = peft_model.base_model.model[0]
    a, b = layer.lora_A["default"].weight.detach(), layer.lora_B["default"].weight.detach()
    head = peft_model.base_model.model[2].modules_to_save["default"].weight.detach().clone()
    with torch.no_grad():
        expected_out = peft_model(x)
    plain = merged(peft_model)
    assert type(plain) is nn.Sequential and not any("lora" in n for n, _ in plain.named_parameters())
    assert float((b @ a).abs().max()) > 1e-3  # the update is not trivially zero
    torch.testing.assert_close(plain[0].weight, w0 + (4.0 / 2) * b @ a)  # Hu et al. 2021, eq. (3) with scale alpha/r
    torch.testing.assert_close(plain[2].weight, head)  # the head's trained copy, not the original
    assert not torch.allclose(head, head0)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), expected_out, atol=1e-5, rtol=1e-5)


def test_settings_are_read_from_a_saved_peft_adapter(tmp_path):
    spec = LoraSpec(rank=4, alpha=8.0, dropout=0.1, target_modules=("0",), modules_to_save=("2",))
    spec.wrap(_net()).save_pretrained(tmp_path)
    got = LoraSpec.from_adapter(tmp_path)
    assert (got.rank, got.alpha, got.dropout, got.target_modules, got.modules_to_save) == (4, 8.0, 0.1, ("0",), ("2",))


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"peft_type": "IA3", "target_modules": ["q"]}, "'IA3' adapter; reference models are reproduced for LoRA"),
        ({"peft_type": "LORA", "lora_alpha": 16, "target_modules": ["q"]}, "does not record r, lora_alpha"),
    ],
)
def test_an_adapter_it_cannot_reproduce_is_refused(tmp_path, doc, message):
    (tmp_path / "adapter_config.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message):
        LoraSpec.from_adapter(tmp_path)


def test_target_modules_that_match_nothing_name_the_models_modules():
    with pytest.raises(InputError, match=r"cannot be adapted .*which has 0 \(Linear\), 1 \(ReLU\), 2 \(Linear\)"):
        LoraSpec(rank=2, alpha=4.0, dropout=0.0, target_modules=("query",)).wrap(_net())


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"lora": {"rank": 0, "target_modules": ["q"]}}, "rank must be >= 1"),
        ({"lora": {"rank": 4}}, "target_modules is empty"),
        ({"lora": {"target_modules": ["q"]}, "trainable": ["classifier"]}, "both choose what trains"),
    ],
)
def test_bad_lora_recipes_are_config_errors(recipe, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(RecipeConfig, recipe, "recipe")
    assert from_dict(LoraRecipeConfig, {"target_modules": ["q"]}, "lora").alpha == 16.0


def _jsonl(path, texts, labels):
    rows = (json.dumps({"text": t, "label": int(y)}) for t, y in zip(texts, labels, strict=True))
    path.write_text("".join(r + "\n" for r in rows))


def test_references_of_a_lora_adapter_are_merged_adapters_over_the_base(tiny_bert, tmp_path):
    """A user's LoRA adapter (rank 4 on query and value) over the tiny BERT; `recipe:` without lora
    reads the adapter's settings; the 2 offline references must then equal the base everywhere but in
    query, value and the classifier (peft's SEQ_CLS head)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    base = tiny_bert["path"]
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, local_files_only=True)
    peft_model = get_peft_model(
        model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"])
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    x, y = tiny_bert["x"], tiny_bert["y"]
    for name, sl in (("members", slice(0, 40)), ("nonmembers", slice(40, 80)), ("population", slice(80, 200))):
        _jsonl(tmp_path / f"{name}.jsonl", x[sl], y[sl])
    src = "{source: jsonl, path: %s}"
    cfg = f"""target: {{kind: huggingface, path: {tmp_path / "adapter"}, num_classes: 2, max_length: 16}}
base: {{path: {base}}}
recipe: {{optimizer: adamw, lr: 1e-2, epochs: 2, batch_size: 16}}
references: 2
data:
  members: {src % (tmp_path / "members.jsonl")}
  nonmembers: {src % (tmp_path / "nonmembers.jsonl")}
  population: {src % (tmp_path / "population.jsonl")}
threat_model: {{access: probabilities, knowledge: [population_data, base_model, training_recipe]}}
attacks: [lira-offline]
"""
    assert audit_config(cfg, tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["target"]["recipe"]["lora"]["rank"] == 4
    assert report["target"]["recipe"]["lora"]["target_modules"] == ["query", "value"]  # sorted
    assert 0 <= found["lira-offline"]["metrics"]["auc"]["value"] <= 1
    base_state = load_file(str(base / "model.safetensors"))
    refs = sorted((tmp_path / "r" / ".mlaudit" / "models").glob("own-*-offline-*.safetensors"))
    assert len(refs) == 2
    for ref in refs:
        state = load_file(str(ref))
        assert not any("lora" in k for k in state)  # merged into the weights
        changed = {k for k, v in state.items() if k in base_state and not torch.equal(v, base_state[k])}
        assert changed, "the reference did not train"
        assert all(".query." in k or ".value." in k or k.startswith("classifier.") for k in changed), changed
        assert any(".query." in k for k in changed) and any(k.startswith("classifier.") for k in changed)
    assert np.isfinite(found["lira-offline"]["metrics"]["tpr_at_0.01_fpr"]["value"])


def test_a_torch_recipe_with_lora_trains_adapters_and_the_head_only():
    """recipe.lora on the user's own torch network: reference models start as the base with LoRA on
    the named layer and the head in full; train_references trains them (task by task) and the frozen
    weights keep the base's values."""
    from mlaudit.models import MLP
    from mlaudit.scenarios.own_model import _recipe
    from mlaudit.scenarios.references import train_references

    def make() -> nn.Module:
        return MLP(in_features=6, num_classes=3, hidden=(8,))

    rc = RecipeConfig(start="scratch", epochs=3, lr=1e-2, lora=LoraRecipeConfig(rank=2, target_modules=("features.1",)))
    recipe = _recipe(rc, make, None)
    start = recipe.start(1)
    trainable = {n for n, p in start.named_parameters() if p.requires_grad}
    assert trainable == {
        "base_model.model.features.1.lora_A.default.weight", "base_model.model.features.1.lora_B.default.weight",
        "base_model.model.head.modules_to_save.default.weight", "base_model.model.head.modules_to_save.default.bias",
    }  # fmt: skip
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 6)).astype(np.float32), rng.integers(0, 3, 60)
    models, keep = train_references(
        recipe.start, x, y, np.arange(60), n_train=30, n_models=2, config=recipe.config, seed=3, cache=None, key="k"
    )
    assert keep.shape == (2, 60) and keep.sum(1).tolist() == [30, 30]
    for k, m in enumerate(models):
        fresh = recipe.start(3 * 1000 + k)  # the same start, untrained
        layer, layer0 = m.base_model.model.features[1], fresh.base_model.model.features[1]
        torch.testing.assert_close(layer.base_layer.weight, layer0.base_layer.weight, rtol=0, atol=0)  # frozen
        assert float(layer.lora_B["default"].weight.detach().abs().max()) > 0  # B starts at 0: it trained
