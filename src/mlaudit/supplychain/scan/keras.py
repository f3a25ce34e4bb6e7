"""Keras models: Lambda layers (Python bytecode run at load) anywhere in the config, nested models
included; arbitrary `module` / `registered_name` (CVE-2025-1550); loader calls hidden in function
configs (CVE-2025-8747, CVE-2025-9906); layers that load saved programs (TFSMLayer) and file- or
URL-valued settings (vocabularies, origins). A config is recognised by its content (class_name and
config), in a .keras zip with or without weights and in a Keras 3 folder. .h5 files are read with
h5py (no code runs): their Lambda layers load even under safe_mode (CVE-2025-9905)."""

from __future__ import annotations

import json
from typing import Any

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "keras_hub", "keras_nlp", "keras_cv", "builtins")
_CODE_WORDS = ("load_model", "set_global_attribute", "__import__", "exec(", "eval(", "os.system", "subprocess")


def check_config(cfg: Any, location: str, res: FileResult, path: str = "config") -> None:
    """Walk a Keras model config (any depth) and record what would run code when it loads."""
    if isinstance(cfg, list):
        for i, v in enumerate(cfg):
            check_config(v, location, res, f"{path}[{i}]")
        return
    if not isinstance(cfg, dict):
        if isinstance(cfg, str) and any(w in cfg for w in _CODE_WORDS):
            res.issues.append(
                Issue(
                    Severity.CRITICAL,
                    "keras/code-in-config",
                    f"{path} names a loader or code call: {cfg[:80]!r}",
                    location,
                    trigger=cfg[:80],
                )
            )
        return
    cls, name = (
        cfg.get("class_name"),
        (cfg.get("config") or {}).get("name") if isinstance(cfg.get("config"), dict) else None,
    )
    if cls in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
        res.issues.append(
            Issue(
                Severity.CRITICAL,
                "keras/lambda",
                f"{cls} layer {name!r} at {path}: its function is Python code run when the model loads",
                location,
                trigger=f"{cls}:{name}",
            )
        )
    module = cfg.get("module")
    if isinstance(module, str) and not any(module == m or module.startswith(m + ".") for m in _KERAS_MODULES):
        res.issues.append(
            Issue(
                Severity.HIGH,
                "keras/arbitrary-module",
                f"{path} imports module {module!r} to build {cls!r} (CVE-2025-1550)",
                location,
                trigger=module,
            )
        )
    _file_reads(cfg, cls, path, location, res)
    reg = cfg.get("registered_name")
    if isinstance(reg, str) and ">" in reg:
        res.issues.append(
            Issue(
                Severity.MEDIUM,
                "keras/custom-object",
                f"{path} needs custom object {reg!r}: code outside Keras",
                location,
                trigger=reg,
            )
        )
    for k, v in cfg.items():
        check_config(v, location, res, f"{path}.{k}")


# layers that load another model or program from a path or URL when the model is built
_LOADING_LAYERS = ("TFSMLayer", "KerasLayer", "SavedModelLayer")
# layer config keys whose string value Keras reads as a file (or fetches, through keras.utils.get_file)
_FILE_KEYS = ("vocabulary", "filepath", "origin", "file_path", "path", "url", "vocabulary_file")


def _file_reads(cfg: dict[str, Any], cls: Any, path: str, location: str, res: FileResult) -> None:
    """A layer that loads a saved program (TFSMLayer: a TensorFlow SavedModel, local or remote), or a
    file-valued setting (a TextVectorization / StringLookup vocabulary given as a path, an origin URL):
    building the model reads that file or fetches it."""
    got = cfg.get("config")
    inner: dict[str, Any] = got if isinstance(got, dict) else {}
    if cls in _LOADING_LAYERS:
        where = inner.get("filepath") or inner.get("handle") or "?"
        res.issues.append(
            Issue(Severity.HIGH, "keras/loads-program",
                  f"{cls} at {path} loads a saved program from {str(where)[:80]!r} when the model is built",
                  location, trigger=f"{cls}:{str(where)[:80]}")
        )  # fmt: skip
        return  # its filepath is that program, reported once
    for key in _FILE_KEYS:
        value = inner.get(key)
        if isinstance(value, str) and ("/" in value or "\\" in value or value.startswith(("http", "gs:", "s3:"))):
            remote = value.startswith(("http", "gs:", "s3:", "ftp"))
            how = "fetched" if remote else "read"
            res.issues.append(
                Issue(Severity.HIGH if remote else Severity.MEDIUM, "keras/file-setting",
                      f"{path}.config.{key} = {value[:80]!r}: {how} when the model is built", location,
                      trigger=value[:80])
            )  # fmt: skip


def looks_like_keras(doc: Any) -> bool:
    """A Keras model config (config.json of a .keras zip or of a Keras 3 folder): a class_name and its config."""
    return isinstance(doc, dict) and isinstance(doc.get("class_name"), str) and isinstance(doc.get("config"), dict)


def check_keras_json(raw: bytes, location: str, res: FileResult) -> None:
    try:
        cfg = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ScanError(f"Keras config.json is not JSON ({e})") from None
    check_config(cfg, location, res)


def scan_h5(path_or_file: Any, location: str, res: FileResult) -> None:
    try:
        import h5py
    except ImportError:
        raise ScanError("HDF5 file: install h5py to scan it (pip install h5py)") from None
    try:
        with h5py.File(path_or_file, "r") as h:
            for key in ("model_config", "training_config"):
                raw = h.attrs.get(key)
                if raw is None:
                    continue
                raw = raw.encode() if isinstance(raw, str) else bytes(raw)
                check_keras_json(raw, f"{location}!{key}", res)
    except OSError as e:
        raise ScanError(f"cannot read HDF5 file ({e})") from None
