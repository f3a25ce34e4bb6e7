"""Typed, validated audit configuration. Unknown keys are an error naming the valid ones."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlaudit.errors import ConfigError, InputError

PROFILES = ("quick", "full")
TARGET_KINDS = ("default", "torch", "huggingface")
# the built-in targets (kind "default"): what is trained, on which real data
SCENARIOS = ("fashion-mnist", "cps1988-mlp", "cps1988-forest", "rotten-tomatoes-minilm")
DATA_SOURCES = ("builtin", "idx", "table", "npz", "image-folder")


@dataclass(frozen=True)
class DataSourceConfig:
    source: str = "builtin"  # builtin | idx | table | npz | image-folder
    name: str | None = None  # builtin dataset name (see `mlaudit list`)
    path: str | None = None  # file or folder (idx: the images file)
    labels_path: str | None = None  # idx: the labels file
    label_column: str = "label"  # table
    x_key: str = "x"  # npz
    y_key: str = "y"  # npz
    limit: int | None = None  # use at most this many examples (the first ones)

    def __post_init__(self) -> None:
        _one_of("data source", self.source, DATA_SOURCES)
        if self.source == "builtin" and not self.name:
            raise ConfigError("a builtin data source needs 'name' (e.g. digits); see 'mlaudit list'")
        if self.source != "builtin" and not self.path:
            raise ConfigError(f"data source {self.source!r} needs 'path'")
        if self.source == "idx" and not self.labels_path:
            raise ConfigError("an idx data source needs 'labels_path' (the labels IDX file)")


@dataclass(frozen=True)
class DataConfig:
    members: DataSourceConfig | None = None
    nonmembers: DataSourceConfig | None = None
    control: bool = True  # also attack two disjoint non-member halves: a chance-level baseline


@dataclass(frozen=True)
class TargetConfig:
    kind: str = "default"
    scenario: str = (
        "fashion-mnist"  # kind default: fashion-mnist | cps1988-mlp | cps1988-forest | rotten-tomatoes-minilm
    )
    path: str | None = None
    architecture: str = "mlp"  # torch: mlp | cnn | vit
    architecture_args: dict[str, Any] = field(default_factory=dict)  # e.g. {hidden: [256, 128]}
    num_classes: int = 10
    input_shape: tuple[int, ...] = (1, 28, 28)
    max_length: int = 64  # huggingface

    def __post_init__(self) -> None:
        _one_of("target kind", self.kind, TARGET_KINDS)
        _one_of("target scenario", self.scenario, SCENARIOS)
        if self.kind != "default" and not self.path:
            raise ConfigError(f"target kind {self.kind!r} needs 'path' (a .safetensors file or a model folder)")
        if self.num_classes < 2:
            raise ConfigError(f"target.num_classes must be at least 2, got {self.num_classes}")


@dataclass(frozen=True)
class ThreatModelConfig:
    access: str = "probabilities"
    query_budget: int | None = None
    knowledge: tuple[str, ...] = ()
    asset: str = "training_data"


@dataclass(frozen=True)
class AuditConfig:
    seed: int = 0
    profile: str = "quick"
    fail_on: str = "high"
    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    threat_model: ThreatModelConfig = field(default_factory=ThreatModelConfig)
    attacks: tuple[str, ...] = ("loss",)

    def __post_init__(self) -> None:
        _one_of("profile", self.profile, PROFILES)
        if self.target.kind != "default" and (self.data.members is None or self.data.nonmembers is None):
            raise ConfigError(
                "auditing your own model needs data.members and data.nonmembers (which examples it was trained on)"
            )
        if not self.attacks:
            raise ConfigError("attacks is empty; list at least one (see 'mlaudit list')")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _one_of(what: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; use one of: {', '.join(valid)}")


def from_dict(cls: type[Any], raw: Any, where: str = "config") -> Any:
    """Build dataclass `cls` from a mapping, checking keys and types recursively."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(raw).__name__}: {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {key!r} in {where}{hint}; valid keys: {', '.join(names)}")
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid {where}: {e}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}: {value!r}")
        return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict and not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}: {value!r}")
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


# The built-in targets' configs, shipped in the package (mlaudit/configs/NAME.yaml): `--config builtin:NAME`;
# with no config, the first is the default audit.
BUILTIN_CONFIGS = ("fashion-mnist", "cps1988-mlp", "cps1988-forest", "rotten-tomatoes-minilm")


def _read(path: str | Path) -> Any:
    """The raw mapping of a YAML config file or a `builtin:NAME` config (safe loader only)."""
    import yaml

    text, where = _builtin_text(str(path)) if str(path).startswith("builtin:") else _file_text(Path(path))
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {where!r} is not valid YAML{at}; fix the syntax") from None


def _builtin_text(spec: str) -> tuple[str, str]:
    from importlib import resources

    name = spec.removeprefix("builtin:")
    if name not in BUILTIN_CONFIGS:
        raise ConfigError(f"unknown built-in config {spec!r}; use builtin: and one of {', '.join(BUILTIN_CONFIGS)}")
    return resources.files("mlaudit").joinpath(f"configs/{name}.yaml").read_text(), spec


def _file_text(p: Path) -> tuple[str, str]:
    if not p.is_file():
        raise InputError(f"config file not found: {str(p)!r}; check the path or omit --config for the built-in default")
    return p.read_text(), str(p)


def load(path: str | Path | None, *, profile: str | None = None) -> AuditConfig:
    """Read a YAML config, or `builtin:NAME`; None gives the built-in default audit (builtin:fashion-mnist)."""
    raw = _read(path if path is not None else f"builtin:{BUILTIN_CONFIGS[0]}")
    if profile is not None:
        if not isinstance(raw, dict):
            raise ConfigError(f"config must be a mapping of keys to values, got {type(raw).__name__}")
        raw = {**raw, "profile": profile}
    return from_dict(AuditConfig, raw)  # type: ignore[no-any-return]
