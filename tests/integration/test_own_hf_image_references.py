"""Reference models for a user's Hugging Face image classifier: with `base:` (the public ViT it was
fine-tuned from) and a recipe, each reference is the base with a fresh head of the target's classes,
trained by the recipe through the processor's steps. With `trainable: [model.classifier]` every weight
but the head must equal the base's in every cached reference (a reference that did not start from the
base, or trained more than the recipe says, fails), and the heads must differ (they trained). A base
of another architecture is one line, exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mlaudit.data import load_builtin

from .conftest import audit_config, read_report


def _vit(hidden: int, labels: int):
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(
        image_size=8, patch_size=2, num_channels=1, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=labels,
    )  # fmt: skip
    return ViTForImageClassification(cfg)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A public base (5 labels, trained briefly on digits 5-9), the user's fine-tune of it (10 labels,
    all weights, 150 members), and their npz files; as a user's scripts would save them."""
    from transformers import ViTImageProcessor

    out = tmp_path_factory.mktemp("vit-refs")
    d = load_builtin("digits")
    x = (d.x.reshape(-1, 1, 8, 8) / d.x.max()).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(x))
    proc = ViTImageProcessor(size={"height": 8, "width": 8}, image_mean=[0.5], image_std=[0.5])

    def fit(model, rows, labels, epochs):
        xt, yt = torch.as_tensor(x[rows]), torch.as_tensor(labels)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(epochs):
            for b in torch.randperm(len(xt)).split(32):
                loss = model(pixel_values=(xt[b] - 0.5) / 0.5, labels=yt[b]).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
        return model.eval()

    torch.manual_seed(0)
    public = idx[600:][d.y[idx[600:]] >= 5][:300]
    base = fit(_vit(32, 5), public, d.y[public] - 5, 2)
    base.save_pretrained(out / "base", safe_serialization=True)
    proc.save_pretrained(out / "base")
    from transformers import ViTForImageClassification

    model = ViTForImageClassification.from_pretrained(out / "base", num_labels=10, ignore_mismatched_sizes=True)
    parts = {"members": idx[:150], "nonmembers": idx[150:300], "population": idx[300:600]}
    fit(model, parts["members"], d.y[parts["members"]], 12)
    model.save_pretrained(out / "model", safe_serialization=True)
    proc.save_pretrained(out / "model")
    for name, rows in parts.items():
        np.savez(out / f"{name}.npz", x=x[rows], y=d.y[rows])
    (out / "other").mkdir()
    _vit(16, 5).save_pretrained(out / "other", safe_serialization=True)
    proc.save_pretrained(out / "other")
    return out


def _config(out, base) -> str:
    return f"""target: {{kind: huggingface, path: {out / "model"}, num_classes: 10}}
base: {{path: {base}}}
recipe: {{optimizer: adam, lr: 3e-3, epochs: 3, batch_size: 32, start: base, trainable: [model.classifier]}}
references: 2
data:
  members: {{source: npz, path: {out / "members.npz"}}}
  nonmembers: {{source: npz, path: {out / "nonmembers.npz"}}}
  population: {{source: npz, path: {out / "population.npz"}}}
threat_model: {{access: probabilities, knowledge: [population_data, base_model, training_recipe]}}
attacks: [lira-offline, base-reference]
"""


def test_references_are_the_base_with_a_trained_fresh_head(folders, tmp_path):
    assert audit_config(_config(folders, folders / "base"), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert {"lira-offline", "base-reference"} <= set(found)
    from transformers import ViTForImageClassification

    public = ViTForImageClassification.from_pretrained(folders / "base")  # its names as the module has them
    base = {f"model.{k}": v for k, v in public.state_dict().items()}
    refs = sorted((tmp_path / "r" / ".mlaudit" / "models").glob("own-*-offline-*.safetensors"))
    assert len(refs) == 2
    heads = []
    for ref in refs:
        state = load_file(str(ref))
        body = [k for k in state if k in base and not k.startswith("model.classifier.")]
        assert len(body) > 10
        differ = [k for k in body if not torch.equal(state[k], base[k])]
        assert not differ, differ
        assert state["model.classifier.weight"].shape == (10, 32)  # the target's classes, not the base's 5
        heads.append(state["model.classifier.weight"])
    assert not torch.allclose(heads[0], heads[1])


def test_a_base_of_another_architecture_is_one_line_exit_2(folders, tmp_path, capsys):
    assert audit_config(_config(folders, folders / "other"), tmp_path) == 2
    assert "is not the target's architecture" in capsys.readouterr().err
