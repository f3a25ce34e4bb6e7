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
TARGET_KINDS = ("default", "torch", "huggingface", "sklearn", "onnx", "http")
# the built-in targets (kind "default"): what is trained, on which real data
SCENARIOS = ("fashion-mnist", "cps1988-mlp", "cps1988-forest", "rotten-tomatoes-minilm")
DATA_SOURCES = ("builtin", "idx", "table", "npz", "image-folder", "jsonl", "hf-disk", "text")
RECIPE_OPTIMIZERS = ("adam", "adamw", "sgd")
RECIPE_AUGMENTATIONS = ("flip", "crop")  # what models.train.augment_batch applies
ONNX_OUTPUTS = ("auto", "logits", "probabilities")  # what an ONNX model's first output holds (auto: detected)
RECIPE_SCHEDULES = ("constant", "cosine", "step")
# the recipe keys that say how to train, which a user's own recipe.fit replaces
TRAINING_KEYS = (
    "optimizer", "lr", "schedule", "epochs", "batch_size", "weight_decay", "momentum", "label_smoothing", "augment",
    "trainable", "lora",
)  # fmt: skip


@dataclass(frozen=True)
class DataSourceConfig:
    # builtin | idx | table | npz | image-folder | jsonl | hf-disk (datasets' save_to_disk) | text (documents:
    # a .txt file, one per line, or a folder, one per .txt file)
    source: str = "builtin"
    name: str | None = None  # builtin dataset name (see `mlaudit list`)
    path: str | None = None  # file or folder (idx: the images file)
    labels_path: str | None = None  # idx: the labels file
    label_column: str = "label"  # table, jsonl (the label field)
    text_field: str | None = None  # jsonl: the text field (default "text"); table, hf-disk: a text column
    split: str | None = None  # hf-disk: the split of a DatasetDict folder (train, test, ...)
    color_mode: str = "auto"  # image-folder, hf-disk images: auto | grayscale | rgb
    x_key: str = "x"  # npz
    y_key: str = "y"  # npz
    limit: int | None = None  # use at most this many examples (the first ones)
    sensitive_column: str | None = None  # table: the attribute an adversary infers (attribute inference)

    def __post_init__(self) -> None:
        _one_of("data source", self.source, DATA_SOURCES)
        if self.source == "builtin" and not self.name:
            raise ConfigError("a builtin data source needs 'name' (e.g. digits); see 'mlaudit list'")
        if self.source != "builtin" and not self.path:
            raise ConfigError(f"data source {self.source!r} needs 'path'")
        if self.source == "idx" and not self.labels_path:
            raise ConfigError("an idx data source needs 'labels_path' (the labels IDX file)")
        _one_of("color_mode", self.color_mode, ("auto", "grayscale", "rgb"))
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"data limit must be at least 1 example, got {self.limit}")
        if self.text_field is not None and self.source not in ("jsonl", "table", "hf-disk"):
            raise ConfigError(f"text_field is for jsonl, table and hf-disk sources, not {self.source!r}; remove it")
        if self.split is not None and self.source != "hf-disk":
            raise ConfigError(f"split is for hf-disk sources (a DatasetDict folder), not {self.source!r}; remove it")
        if self.sensitive_column is not None and self.source != "table":
            raise ConfigError(f"sensitive_column is for table sources, not {self.source!r}; remove it")


@dataclass(frozen=True)
class DataConfig:
    members: DataSourceConfig | None = None
    nonmembers: DataSourceConfig | None = None
    # the adversary's own data from the same distribution, none of it trained on: reference models train on it
    population: DataSourceConfig | None = None
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
    # torch: your own network instead of a built-in architecture: "path/to/file.py:make_net" or
    # "package.module:make_net" (your code runs: only because this key names it), called with factory_args
    factory: str | None = None
    factory_args: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 10
    input_shape: tuple[int, ...] = (1, 28, 28)
    max_length: int | None = None  # huggingface: tokens per input (classifiers 64; language models 512, in windows)
    # sklearn (a skops file): types beyond skops' defaults that you trust, e.g. [sklearn.tree._tree.Tree]
    trusted: tuple[str, ...] = ()
    output: str = "auto"  # onnx: logits | probabilities | auto (probabilities when rows sum to 1)
    # http: a model served with the Open Inference Protocol v2 (mlaudit serve, KServe, Triton, MLServer)
    url: str | None = None  # e.g. http://127.0.0.1:8080
    model_name: str | None = None  # the served model's name (/v2/models/NAME)
    api_key_env: str | None = None  # the environment variable holding the API key (never the key itself)
    rate_limit: float | None = None  # most requests per second
    concurrency: int = 4
    api: str = "oip"  # http: oip (a classifier, /v2/models/NAME/infer) | completions (an LM, /v1/completions)

    def __post_init__(self) -> None:
        _one_of("target kind", self.kind, TARGET_KINDS)
        _one_of("target scenario", self.scenario, SCENARIOS)
        if self.kind == "http" and not (self.url and self.model_name):
            raise ConfigError("target kind 'http' needs url (e.g. http://127.0.0.1:8080) and model_name")
        _one_of("target.api", self.api, ("oip", "completions"))
        if self.kind == "http" and not str(self.url).startswith(("http://", "https://")):
            raise ConfigError(f"target.url must start with http:// or https://, got {self.url!r}")
        if self.kind not in ("default", "http") and not self.path:
            raise ConfigError(f"target kind {self.kind!r} needs 'path' (a .safetensors file or a model folder)")
        if self.num_classes < 2:
            raise ConfigError(f"target.num_classes must be at least 2, got {self.num_classes}")
        if not self.input_shape or any(d < 1 for d in self.input_shape):
            raise ConfigError(
                f"target.input_shape must list positive sizes without the batch axis (e.g. [1, 28, 28]), "
                f"got {list(self.input_shape)}"
            )
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"target.max_length must be at least 1 token, got {self.max_length}")
        if self.factory is not None and self.kind != "torch":
            raise ConfigError(f"target.factory is for kind torch, not {self.kind!r}; remove it or set kind: torch")
        if self.trusted and self.kind != "sklearn":
            raise ConfigError(f"target.trusted is for kind sklearn (skops files), not {self.kind!r}; remove it")
        _one_of("target.output", self.output, ONNX_OUTPUTS)


@dataclass(frozen=True)
class BaseConfig:
    """The public model the target was fine-tuned from: same kind and architecture (or factory) as the target."""

    path: str


@dataclass(frozen=True)
class LoraRecipeConfig:
    """LoRA (Hu et al. 2021) as the recipe's trainable parameters: rank-`rank` updates scaled by
    alpha / rank on the named modules, the head trained in full (peft)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ()  # e.g. [query, value]; module names (or name suffixes) of the model

    def __post_init__(self) -> None:
        if self.rank < 1 or not self.alpha > 0 or not 0 <= self.dropout < 1:
            raise ConfigError(
                f"recipe.lora: rank must be >= 1, alpha > 0 and 0 <= dropout < 1; got rank={self.rank}, "
                f"alpha={self.alpha}, dropout={self.dropout}"
            )
        if not self.target_modules:
            raise ConfigError("recipe.lora.target_modules is empty: name the modules LoRA adapts, e.g. [query, value]")


@dataclass(frozen=True)
class RecipeConfig:
    """How the target was trained, so that reference, shadow and surrogate models can be trained like it."""

    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    schedule: str = "constant"  # constant | cosine | step (x0.1 at half and three quarters of the epochs)
    epochs: int = 10
    batch_size: int = 64
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd
    start: str = "base"  # base: fine-tune a copy of `base:` | scratch: the architecture's fresh initialisation
    fresh_head: bool = True  # start base: re-initialise the head (the last nn.Linear, or `head`)
    head: str | None = None  # the head's module name, e.g. "classifier"
    trainable: tuple[str, ...] | None = None  # module names that train (e.g. [classifier], [layer4, fc]); None: all
    label_smoothing: float = 0.0
    augment: tuple[str, ...] = ()  # images: flip (horizontal), crop (pad 4, random crop)
    # LoRA adapters train instead of the weights (a PEFT adapter target: read from its adapter_config.json)
    lora: LoraRecipeConfig | None = None
    # your own training function instead of the keys above: "train.py:fit" or "package.module:fit", called
    # as fit(model, x, y, seed=..., **fit_args) on numpy arrays; it trains `model` (or returns the trained one)
    fit: str | None = None
    fit_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _one_of("recipe.optimizer", self.optimizer, RECIPE_OPTIMIZERS)
        _one_of("recipe.schedule", self.schedule, RECIPE_SCHEDULES)
        _one_of("recipe.start", self.start, ("base", "scratch"))
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(
                f"recipe.epochs and recipe.batch_size must be at least 1, got {self.epochs}, {self.batch_size}"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"recipe.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        for a in self.augment:
            _one_of("recipe.augment", a, RECIPE_AUGMENTATIONS)
        if self.fit is not None:
            defaults = RecipeConfig()
            set_too = [k for k in TRAINING_KEYS if getattr(self, k) != getattr(defaults, k)]
            if set_too:
                raise ConfigError(
                    f"recipe.fit {self.fit!r} trains the models itself; remove recipe.{', recipe.'.join(set_too)} "
                    "(or remove fit to use them)"
                )
        elif self.fit_args:
            raise ConfigError("recipe.fit_args are for recipe.fit, which is not set; add fit or remove them")
        if self.lora is not None and self.trainable is not None:
            raise ConfigError(
                "recipe.lora and recipe.trainable both choose what trains (LoRA: its adapters and the head); remove one"
            )
        if self.trainable is not None and not self.trainable:
            raise ConfigError("recipe.trainable is empty: name the modules that train, or remove it (all train)")
        if not self.lr > 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError(
                f"recipe: lr must be > 0, weight_decay >= 0 and 0 <= momentum < 1; got lr={self.lr}, "
                f"weight_decay={self.weight_decay}, momentum={self.momentum}"
            )


DEFENCE_BASELINES = ("weight_decay", "label_smoothing", "early_stopping")  # what defenses.comparison trains
OUTPUT_DEFENCES = ("round", "top_k", "label", "noise", "reverse_sigmoid")  # defenses.output, its default settings
DP_ACCOUNTANTS = ("rdp", "prv")


@dataclass(frozen=True)
class DPDefenceConfig:
    """DP-SGD fine-tunes compared with the undefended model: the recipe made private by Opacus at each
    epsilon (per-example clipping to max_grad_norm, noise set by the accountant for (epsilon, delta))."""

    epsilons: tuple[float, ...] = (1.0, 8.0)
    delta: float | None = None  # null: 1e-5, or 1 / (10 n) when the training set is over 10,000 rows
    max_grad_norm: float = 1.0
    accountant: str = "prv"  # prv (numerically tight) | rdp (an upper bound)
    # the gradient-canary audit beside each epsilon: canaries per run (0: no audit); runs
    audit_canaries: int = 50_000
    audit_runs: int = 1
    # the one-run audit with input-space canaries (mislabelled population rows; 0: none): one more DP run
    input_canaries: int = 500

    def __post_init__(self) -> None:
        if not self.epsilons or any(not e > 0 or e > 100 for e in self.epsilons):
            raise ConfigError(f"defenses.dp.epsilons must be numbers in (0, 100], got {list(self.epsilons)}")
        if self.delta is not None and not 0 < self.delta < 1:
            raise ConfigError(f"defenses.dp.delta must be in (0, 1) (below 1 / members), got {self.delta}")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"defenses.dp.max_grad_norm must be > 0, got {self.max_grad_norm}")
        _one_of("defenses.dp.accountant", self.accountant, DP_ACCOUNTANTS)
        if self.audit_canaries < 0 or self.audit_runs < 1 or 0 < self.audit_canaries < 100:
            raise ConfigError(
                f"defenses.dp.audit_canaries must be 0 (no audit) or at least 100, audit_runs at least 1; got "
                f"{self.audit_canaries}, {self.audit_runs}"
            )
        if self.input_canaries < 0 or 0 < self.input_canaries < 10:
            raise ConfigError(f"defenses.dp.input_canaries must be 0 (none) or at least 10, got {self.input_canaries}")


@dataclass(frozen=True)
class DefensesConfig:
    """Defence comparison: the same membership attacks on the undefended model and on models trained
    with the recipe under each defence (DP-SGD at several epsilons, cheap baselines); the report draws
    the privacy-utility curve. Needs the training recipe (the defended models are trained here)."""

    dp: DPDefenceConfig | None = None
    baselines: tuple[str, ...] = ()  # weight_decay (5e-4) | label_smoothing (0.1) | early_stopping (patience 3)
    # the audited model's answers post-processed as `mlaudit serve` would (no retraining; a served model too):
    # round (2 decimals) | top_k (1) | label | noise (0.01) | reverse_sigmoid (beta 0.2, gamma 0.5)
    outputs: tuple[str, ...] = ()
    attacks: tuple[str, ...] = ("loss", "lira")  # membership attacks run on every model

    def __post_init__(self) -> None:
        for b in self.baselines:
            _one_of("defenses.baselines entry", b, DEFENCE_BASELINES)
        for o in self.outputs:
            _one_of("defenses.outputs entry", o, OUTPUT_DEFENCES)
        if self.dp is None and not self.baselines and not self.outputs:
            raise ConfigError(
                "defenses: names no defence; add dp: {epsilons: [1, 8]}, baselines: [weight_decay] or outputs: [round]"
            )

    @property
    def trains(self) -> bool:
        """Whether a defence retrains the model (DP, baselines): the recipe is needed then."""
        return self.dp is not None or bool(self.baselines)
        if not self.attacks:
            raise ConfigError("defenses.attacks is empty; name the membership attacks to compare, e.g. [loss, lira]")


@dataclass(frozen=True)
class SecretConfig:
    """A secret format of the members' documents: the text it follows and its characters' template
    (d digit, a / A letter, x hex; others literal), e.g. {prefix: "my ssn is ", format: ddd-dd-dddd}."""

    prefix: str
    format: str

    def __post_init__(self) -> None:
        placeholders = self.format.replace("\\\\", "").replace("\\d", "").replace("\\a", "").replace("\\A", "")
        if not any(c in "daAx" for c in placeholders.replace("\\x", "")):
            raise ConfigError(
                f"memorization.secrets format {self.format!r} has no placeholder; use d (digit), a / A (letter), "
                "x (hex), e.g. ddd-dd-dddd"
            )
        if not self.prefix.strip():
            raise ConfigError(f"memorization.secrets format {self.format!r} needs the prefix it follows")


@dataclass(frozen=True)
class MemorizationConfig:
    """Language models: what the memorisation attacks look for."""

    secrets: tuple[SecretConfig, ...] = ()  # canary exposure, and the prefix probes' prefixes
    probes: tuple[str, ...] = ()  # more prefixes to complete, e.g. ["Patient ID:"]


@dataclass(frozen=True)
class ThreatModelConfig:
    access: str = "probabilities"
    query_budget: int | None = None
    knowledge: tuple[str, ...] = ()
    asset: str = "training_data"


@dataclass(frozen=True)
class KeyConfig:
    """An API key of `mlaudit serve`: read from the environment variable `key_env` (or given as `key`, for
    loopback tests), with an optional budget of rows."""

    name: str
    key_env: str | None = None
    key: str | None = None
    budget: int | None = None

    def __post_init__(self) -> None:
        if (self.key_env is None) == (self.key is None):
            raise ConfigError(f"serve key {self.name!r} needs exactly one of key_env (an environment variable) or key")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"serve key {self.name!r}: budget must be a positive number of rows or null")


@dataclass(frozen=True)
class ServeConfig:
    model_name: str = "model"
    host: str = "127.0.0.1"
    port: int = 8080
    keys: tuple[KeyConfig, ...] = ()
    # the output defence: {kind: none | top_k | label | round | noise | reverse_sigmoid,
    #                     k, decimals, scale, beta, gamma}
    defence: dict[str, Any] = field(default_factory=dict)
    prada_delta: float | None = 0.9  # PRADA's Shapiro-Wilk threshold per key; null turns detection off
    log: str | None = "serve-log.jsonl"

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError("serve.keys is empty; add at least one key: [{name: me, key_env: MLAUDIT_KEY}]")
        if len({k.name for k in self.keys}) != len(self.keys):
            raise ConfigError("serve.keys has two keys of the same name; name each once")
        if not 0 < self.port < 65536:
            raise ConfigError(f"serve.port must be 1-65535, got {self.port}")


@dataclass(frozen=True)
class ServeFileConfig:
    """`mlaudit serve CONFIG`: the target (as in an audit config) and how to serve it."""

    seed: int = 0
    target: TargetConfig = field(default_factory=TargetConfig)
    base: BaseConfig | None = None
    serve: ServeConfig = field(default_factory=lambda: ServeConfig(keys=(KeyConfig("default", key_env="MLAUDIT_KEY"),)))

    def __post_init__(self) -> None:
        if self.target.kind == "default":
            raise ConfigError("mlaudit serve needs target.kind and target.path (torch, huggingface, sklearn or onnx)")


def load_serve(path: str | Path) -> ServeFileConfig:
    cfg: ServeFileConfig = from_dict(ServeFileConfig, _read(path))
    return cfg


@dataclass(frozen=True)
class AuditConfig:
    seed: int = 0
    profile: str = "quick"
    fail_on: str = "high"
    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    threat_model: ThreatModelConfig = field(default_factory=ThreatModelConfig)
    # names, families, `all`, and `profile` (the profile's sections: scans, evasion, backdoors, ...); only these run
    attacks: tuple[str, ...] = ("profile", "loss")
    base: BaseConfig | None = None  # your own model: the public checkpoint it was fine-tuned from
    recipe: RecipeConfig | None = None  # your own model: how it was trained (reference models follow it)
    references: int | None = None  # your own model: reference models per set (online, offline); 4 quick, 8 full
    memorization: MemorizationConfig | None = None  # your own language model: secret formats, prefixes to probe
    defenses: DefensesConfig | None = None  # compare the attacks on models trained with defences (DP-SGD, ...)

    def __post_init__(self) -> None:
        _one_of("profile", self.profile, PROFILES)
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2^32), got {self.seed}")
        if self.target.kind != "default" and (self.data.members is None or self.data.nonmembers is None):
            raise ConfigError(
                "auditing your own model needs data.members and data.nonmembers (which examples it was trained on)"
            )
        if not self.attacks:
            raise ConfigError("attacks is empty; list at least one (see 'mlaudit list')")
        mine = self.target.kind != "default"
        if not mine and (self.base or self.recipe or self.data.population or self.references is not None):
            raise ConfigError(
                "base, recipe, references and data.population describe your own model; the built-in targets have theirs"
            )
        if self.references is not None and self.references < 1:
            raise ConfigError(f"references must be at least 1 (per set), got {self.references}")
        lm_http = self.target.kind == "http" and self.target.api == "completions"
        if self.base is not None and self.target.kind not in ("torch", "huggingface") and not lm_http:
            raise ConfigError(
                f"base: is supported for target kinds torch and huggingface, not {self.target.kind!r}; remove base:"
            )
        if self.recipe is not None and self.target.kind == "sklearn":
            raise ConfigError(
                "a scikit-learn model's recipe is its own parameters (reference models refit a clone); remove recipe:"
            )
        if self.recipe is not None and self.recipe.start == "base" and self.base is None:
            raise ConfigError(
                "recipe.start is 'base' but no base: is given; add base.path or set recipe.start: scratch"
            )
        if mine:
            self._knowledge_exists()
        if self.memorization is not None and self.target.kind != "huggingface" and not lm_http:
            raise ConfigError("memorization: is for language models (target kind huggingface); remove it")
        if self.recipe is not None and self.target.kind not in ("torch", "huggingface"):
            raise ConfigError(f"recipe: is supported for target kinds torch and huggingface, not {self.target.kind!r}")
        if self.recipe is not None and self.target.kind == "huggingface" and self.recipe.augment:
            raise ConfigError("recipe.augment (flip, crop) is for images; remove it for a text classifier")
        if self.recipe is not None and self.target.kind == "huggingface" and self.recipe.fit is not None:
            raise ConfigError(
                "recipe.fit is for torch targets; a Hugging Face model's references fine-tune with the recipe's "
                "keys (optimizer, lr, epochs, ...): remove fit"
            )
        if self.recipe is not None and self.target.kind == "huggingface" and self.recipe.start != "base":
            raise ConfigError(
                "recipe.start for a Hugging Face model must be base (references fine-tune copies of base:)"
            )

        trains = self.recipe is not None and self.target.kind in ("torch", "huggingface")
        if self.defenses is not None and self.defenses.trains and mine and not trains:
            raise ConfigError(
                "defenses.dp and defenses.baselines train the compared models with your recipe: they need target "
                "kind torch (or a Hugging Face image classifier) and recipe: "
                f"(this config has kind {self.target.kind!r}{'' if self.recipe else ' and no recipe'}); "
                "keep only defenses.outputs, or remove defenses:"
            )
        if self.defenses is not None and self.defenses.trains and not mine and self.target.scenario != "fashion-mnist":
            raise ConfigError(
                f"defenses: on a built-in target needs the fashion-mnist scenario (its recipe is a torch one), not "
                f"{self.target.scenario!r}"
            )
        if self.defenses is not None and self.recipe is not None and self.recipe.fit is not None:
            raise ConfigError(
                "defenses: trains with mlaudit's loop (DP-SGD cannot wrap your own fit); remove recipe.fit"
            )

    def _knowledge_exists(self) -> None:
        """The adversary's knowledge must be something this config holds: the report lists it as theirs."""
        has = {
            "base_model": (self.base is not None, "add base: {path: ...} (the public checkpoint)"),
            "training_recipe": (
                self.recipe is not None or self.target.kind == "sklearn",
                "add recipe: (how the model was trained)",
            ),
            "population_data": (self.data.population is not None, "add data.population (data it was not trained on)"),
        }
        for k in self.threat_model.knowledge:
            held, fix = has.get(k, (True, ""))
            if not held:
                raise ConfigError(
                    f"threat_model.knowledge names {k!r} but this config gives none; {fix}, or remove {k!r}"
                )

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
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            return float(value)  # YAML reads 1e-3 (no dot) as a string
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
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
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {where!r} is not valid YAML{at}; fix the syntax") from None
    if raw is None:  # an empty file is a mistake, not a request for the built-in audit
        raise ConfigError(f"config {where!r} is empty; write a config (mlaudit init MODEL) or omit --config")
    return raw


def _builtin_text(spec: str) -> tuple[str, str]:
    from importlib import resources

    name = spec.removeprefix("builtin:")
    if name not in BUILTIN_CONFIGS:
        raise ConfigError(f"unknown built-in config {spec!r}; use builtin: and one of {', '.join(BUILTIN_CONFIGS)}")
    return resources.files("mlaudit").joinpath(f"configs/{name}.yaml").read_text(), spec


def _file_text(p: Path) -> tuple[str, str]:
    if not p.is_file():
        raise InputError(f"config file not found: {str(p)!r}; check the path or omit --config for the built-in default")
    try:
        return p.read_text(encoding="utf-8"), str(p)
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config {str(p)!r} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8"
        ) from None
    except OSError as e:
        raise InputError(f"cannot read config {str(p)!r}: {e.strerror}; check the path and its permissions") from None


def load(path: str | Path | None, *, profile: str | None = None) -> AuditConfig:
    """Read a YAML config, or `builtin:NAME`; None gives the built-in default audit (builtin:fashion-mnist)."""
    raw = _read(path if path is not None else f"builtin:{BUILTIN_CONFIGS[0]}")
    if profile is not None:
        if not isinstance(raw, dict):
            raise ConfigError(f"config must be a mapping of keys to values, got {type(raw).__name__}")
        raw = {**raw, "profile": profile}
    cfg: AuditConfig = from_dict(AuditConfig, raw)
    if "target" not in raw:  # a config without a target would audit the built-in one instead of the user's
        raise ConfigError(
            f"config {str(path)!r} names no target; add target: (mlaudit init MODEL writes one), "
            "or use --config builtin:NAME for a built-in target"
        )
    return cfg
