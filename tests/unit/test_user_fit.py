"""The user's own training function as the recipe (recipe.fit): reference models are trained by it,
not by mlaudit's loop (its fingerprint, a head bias it sets, is in every cached reference), it is
called once per reference with that reference's subset, a change to its file retrains them, and a
recipe that mixes it with mlaudit's training keys, or a function of the wrong shape, is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from mlaudit.config import RecipeConfig, from_dict
from mlaudit.errors import ConfigError
from mlaudit.models import MLP, TrainConfig, train

from ..integration.conftest import audit_config, read_report

USER_FIT = '''
import json
import numpy as np
import torch

def fit(model, x, y, *, seed, epochs, log):
    """The user's loop: full-batch SGD; then a fingerprint no mlaudit loop leaves."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        model.head.bias.fill_(MARK)
    with open(log, "a") as f:
        f.write(json.dumps({"n": len(x), "seed": seed, "dtype": str(x.dtype)}) + "\\n")
'''


def _setup(tmp_path, mark: float) -> dict:
    rng = np.random.default_rng(0)
    parts = {p: (rng.normal(size=(40, 16)).astype(np.float32), rng.integers(0, 3, 40)) for p in ("m", "n", "p")}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=16, num_classes=3, hidden=(8,))
    cfg = TrainConfig(epochs=60, batch_size=40, lr=1e-2)
    train(model, *parts["m"], cfg, generator=torch.Generator().manual_seed(0))
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    for part, (x, y) in parts.items():
        np.savez(tmp_path / f"{part}.npz", x=x, y=y)
    (tmp_path / "user_train.py").write_text(USER_FIT.replace("MARK", str(mark)))
    return {
        "target": {
            "kind": "torch", "path": str(tmp_path / "model.safetensors"), "architecture": "mlp", "num_classes": 3,
            "input_shape": [16], "architecture_args": {"hidden": [8]},
        },
        "recipe": {
            "start": "scratch", "fit": f"{tmp_path / 'user_train.py'}:fit",
            "fit_args": {"epochs": 20, "log": str(tmp_path / "calls.jsonl")},
        },
        "references": 2,
        "data": {k: {"source": "npz", "path": str(tmp_path / f"{v}.npz")} for k, v in
                 (("members", "m"), ("nonmembers", "n"), ("population", "p"))},
        "threat_model": {"access": "probabilities", "knowledge": ["population_data", "training_recipe"]},
        "attacks": ["lira", "lira-offline"],
    }  # fmt: skip


def _calls(tmp_path) -> list[dict]:
    import json

    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def _biases(tmp_path) -> list[np.ndarray]:
    files = sorted((tmp_path / "r" / ".mlaudit" / "models").glob("own-*.safetensors"))
    return [load_file(str(f))["head.bias"].numpy() for f in files]


def test_references_are_trained_by_the_users_fit(tmp_path):
    cfg = _setup(tmp_path, 0.125)
    assert audit_config(yaml.safe_dump(cfg), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert {"lira", "lira-offline"} <= set(found)
    calls = _calls(tmp_path)
    # 2 online references on complementary halves of the 80 candidates (40 each); 2 offline on the 20
    # population rows that are not RMIA's z half (scenarios.references.reference_sets)
    assert sorted(c["n"] for c in calls) == [20, 20, 40, 40] and len({c["seed"] for c in calls}) == 4
    assert {c["dtype"] for c in calls} == {"float32"}
    biases = _biases(tmp_path)
    assert len(biases) == 4 and all(np.all(b == np.float32(0.125)) for b in biases)  # the user's fingerprint

    (tmp_path / "user_train.py").write_text(USER_FIT.replace("MARK", "0.5"))  # other training code
    assert audit_config(yaml.safe_dump(cfg), tmp_path) in (0, 1)
    assert len(_calls(tmp_path)) == 8  # retrained, not taken from the cache
    assert sum(np.all(b == np.float32(0.5)) for b in _biases(tmp_path)) == 4


def test_a_fit_of_the_wrong_shape_is_one_line_exit_2(tmp_path, capsys):
    cfg = _setup(tmp_path, 0.125)
    cfg["recipe"]["fit_args"] = {"epochs": 20}  # the function also needs `log`
    assert audit_config(yaml.safe_dump(cfg), tmp_path) == 2
    err = capsys.readouterr().err
    assert "must accept (model, x, y, seed=..., **fit_args)" in err and "missing a required argument: 'log'" in err


def test_a_fit_that_returns_something_else_is_one_line_exit_2(tmp_path, capsys):
    cfg = _setup(tmp_path, 0.125)
    (tmp_path / "user_train.py").write_text("def fit(model, x, y, *, seed, epochs, log):\n    return 3\n")
    assert audit_config(yaml.safe_dump(cfg), tmp_path) == 2
    assert "returned a int; return the model or None" in capsys.readouterr().err


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"fit": "t.py:fit", "lr": 0.1, "epochs": 3}, r"trains the models itself; remove recipe.lr, recipe.epochs"),
        ({"fit_args": {"a": 1}}, "recipe.fit_args are for recipe.fit, which is not set"),
    ],
)
def test_fit_with_mlaudits_training_keys_is_a_config_error(recipe, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(RecipeConfig, recipe, "recipe")
