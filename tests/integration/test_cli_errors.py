"""Bad input: exit 2 and one clear line (what, the value, the fix), never a traceback."""

import pickle

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from mlaudit.cli import main
from mlaudit.models import MLP

from .conftest import run_cli


def _nonmembers(tmp_path) -> dict:
    """Digits other than the members (the first 50): as an npz the user would write."""
    from mlaudit.data import digits

    d = digits()
    np.savez(tmp_path / "nonmembers.npz", x=d.x[100:150], y=d.y[100:150])
    return {"source": "npz", "path": str(tmp_path / "nonmembers.npz")}


def _config(tmp_path, model: str, members: dict | None = None, **target) -> str:
    members = members or {"source": "builtin", "name": "digits", "limit": 50}
    cfg = {
        "target": {
            "kind": "torch",
            "path": model,
            "architecture": "mlp",
            "num_classes": 10,
            "input_shape": [1, 8, 8],
            "architecture_args": {"hidden": [8]},
            **target,
        },
        "data": {"members": members, "nonmembers": _nonmembers(tmp_path)},
    }
    p = tmp_path / "audit.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def _mlp_file(tmp_path, num_classes=10) -> str:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = MLP(in_features=64, num_classes=num_classes, hidden=(8,))
    save_file(m.state_dict(), tmp_path / "m.safetensors")
    return str(tmp_path / "m.safetensors")


def _pickle_file(tmp_path) -> str:
    (tmp_path / "model.bin").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))
    return str(tmp_path / "model.bin")


def _corrupt_file(tmp_path) -> str:
    good = _mlp_file(tmp_path)
    raw = open(good, "rb").read()
    (tmp_path / "bad.safetensors").write_bytes(raw[:-100])  # truncated download
    return str(tmp_path / "bad.safetensors")


def _typo(tmp_path) -> str:
    (tmp_path / "typo.yaml").write_text("seed: 0\nthreat_modle:\n  access: labels\n")
    return str(tmp_path / "typo.yaml")


def _empty(tmp_path) -> str:
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 1, 8, 8), np.float32), y=np.zeros(0, np.int64))
    return _config(tmp_path, _mlp_file(tmp_path), {"source": "npz", "path": str(tmp_path / "empty.npz")})


CASES = {
    "missing config": (lambda t: "missing.yaml", "config file not found: 'missing.yaml'"),
    "pickle model": (
        lambda t: _config(t, _pickle_file(t)),
        "pickle-based file, and loading it could run arbitrary code",
    ),
    "corrupt safetensors": (lambda t: _config(t, _corrupt_file(t)), "corrupt safetensors file"),
    "config typo": (lambda t: _typo(t), "unknown key 'threat_modle' in config (did you mean 'threat_model'?)"),
    "label mismatch": (
        lambda t: _config(t, _mlp_file(t, num_classes=2), num_classes=2),
        "has label 9 but the model has 2 classes",
    ),
    "empty dataset": (_empty, "is empty (0 examples)"),
    "missing model": (lambda t: _config(t, str(t / "nope.safetensors")), "model not found"),
}


# through a real process (the entry point, nothing else printed, no traceback); the others call the same
# main() in this process (each process start costs about 7 s of imports)
IN_A_PROCESS = ("missing config", "pickle model")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_line(tmp_path, case, capsys):
    make, expected = CASES[case]
    args = ("audit", "--config", make(tmp_path), "--out", str(tmp_path / "out"))
    if case in IN_A_PROCESS:
        proc = run_cli(*args)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code = main(list(args))
        out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mlaudit: error: ") and expected in lines[0]
    assert "Traceback" not in err + out


def test_usage_error_exits_2():
    proc = run_cli("audit", "--profile", "huge")
    assert proc.returncode == 2 and "invalid choice: 'huge'" in proc.stderr and "Traceback" not in proc.stderr


def test_architecture_mismatch_names_the_tensor(tmp_path, capsys):
    cfg = _config(tmp_path, _mlp_file(tmp_path), architecture_args={"hidden": [16]})
    assert main(["audit", "--config", cfg, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'features.1.weight' has shape (8, 64) in the file but (16, 64) in the architecture" in err
