import pytest

from mlaudit import ConfigError, InputError
from mlaudit.config import AuditConfig, from_dict, load


def test_default_config():
    cfg = load(None)
    assert cfg.target.kind == "default" and cfg.profile == "quick"
    assert cfg.attacks == (
        "profile",
        "loss",
        "base-reference",
        "lira",
        "lira-offline",
        "rmia",
        "rmia-offline",
        "backdoor-demo",
    )
    assert load("builtin:cps1988-forest").target.scenario == "cps1988-forest"
    assert cfg.threat_model.knowledge == ("population_data", "base_model", "training_recipe")


def test_unknown_key_named_with_suggestion_and_valid_keys():
    with pytest.raises(
        ConfigError, match=r"unknown key 'atacks' in config \(did you mean 'attacks'\?\); valid keys: seed"
    ):
        from_dict(AuditConfig, {"atacks": ["loss"]})


def test_nested_unknown_key():
    with pytest.raises(ConfigError, match=r"unknown key 'acess' in config.threat_model \(did you mean 'access'\?\)"):
        from_dict(AuditConfig, {"threat_model": {"acess": "labels"}})


def test_type_errors_name_the_value():
    with pytest.raises(ConfigError, match="config.seed must be an integer, got 'zero'"):
        from_dict(AuditConfig, {"seed": "zero"})
    with pytest.raises(ConfigError, match="config.attacks must be a list"):
        from_dict(AuditConfig, {"attacks": "loss"})


def test_own_model_needs_membership_data():
    with pytest.raises(ConfigError, match="needs data.members and data.nonmembers"):
        from_dict(AuditConfig, {"target": {"kind": "torch", "path": "m.safetensors"}})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(InputError, match="config file not found: 'nope.yaml'"):
        load("nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load(bad)


def test_profile_override(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("seed: 3\ntarget: {kind: default}\n")
    cfg = load(f, profile="full")
    assert cfg.seed == 3 and cfg.profile == "full"
