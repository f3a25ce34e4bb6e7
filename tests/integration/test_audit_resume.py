"""An audit interrupted during reference training resumes without retraining the finished models."""

from __future__ import annotations

import hashlib

import pytest

from mlaudit.config import AuditConfig, from_dict
from mlaudit.progress import NullProgress
from mlaudit.runner.audit import run_audit


class _InterruptAt(NullProgress):
    """Ctrl-C as soon as a progress bar whose key contains `key` moves."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.started: list[str] = []

    def start(self, key: str, description: str, total: int) -> None:
        self.started.append(key)

    def update(self, key: str, completed: int) -> None:
        if self.key in key:
            raise KeyboardInterrupt


def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_interrupted_audit_reuses_the_finished_reference_models(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("mlaudit.scenarios.fashion_mnist.fashion_mnist_available", lambda: False)  # digits: seconds
    cfg = from_dict(
        AuditConfig,
        {
            "profile": "quick",
            "threat_model": {"knowledge": ["population_data", "training_recipe"]},
            "attacks": ["lira", "lira-offline"],
        },
    )
    with pytest.raises(KeyboardInterrupt):
        run_audit(cfg, tmp_path, progress=_InterruptAt("offline"))
    models = tmp_path / ".mlaudit" / "models"
    online = sorted(models.glob("ref-*-online-pairs-*.safetensors"))
    assert len(online) == 4 and not list(models.glob("ref-*-offline-*"))  # the online set finished, offline did not
    before = _digest(online)
    mtimes = {p.name: p.stat().st_mtime_ns for p in online}

    progress = _InterruptAt("never")
    with caplog.at_level("INFO", logger="mlaudit"):
        report = run_audit(cfg, tmp_path, progress=progress)
    trained = [k for k in progress.started if k.startswith("ref-")]
    assert len(trained) == 1 and "offline" in trained[0]  # only the interrupted set trains again
    # and the target is not retrained either: its weights come from the model cache
    assert not {"pretrain", "finetune"} & set(progress.started)
    assert "loaded cached weights" in caplog.text and "-finetuned.safetensors" in caplog.text
    assert _digest(online) == before and {p.name: p.stat().st_mtime_ns for p in online} == mtimes
    assert len(list(models.glob("ref-*-offline-*.safetensors"))) == 4
    assert {f.id for f in report.findings} >= {"lira", "lira-offline", "lira-control", "lira-offline-control"}
