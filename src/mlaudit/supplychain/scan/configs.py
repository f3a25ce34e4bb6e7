"""Config files that load code or other files: Hydra's `_target_` (NeMo and other frameworks
instantiate the named class or function with the config's arguments) and a sharded checkpoint's
index (`weight_map`: the loader opens every file it names, relative to the folder)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue
from mlaudit.supplychain.scan.policy import classify

# frameworks whose configs name their own classes by _target_ (instantiating them builds a model part)
_FRAMEWORKS = ("nemo.", "torch.nn.", "torch.optim.", "transformers.", "omegaconf.", "lightning.", "pytorch_lightning.")


def check_targets(doc: Any, loc: str, res: FileResult, *, depth: int = 0) -> None:
    """Every `_target_` anywhere in the config: a framework's own class is LOW (the config instantiates
    it), anything else is classified like a pickle import (os.system is critical)."""
    if depth > 64:
        return
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        if key == "_target_" and isinstance(value, str):
            module, _, name = value.rpartition(".")
            if value.startswith(_FRAMEWORKS) and "__" not in value:
                severity, why = Severity.LOW, "a framework class the config instantiates"
            else:
                verdict = classify(module or value, name)
                severity, why = max(verdict.severity, Severity.MEDIUM), verdict.why
            res.issues.append(
                Issue(severity, "config/hydra-target", f"_target_ {value!r}: instantiated on load; {why}", loc)
            )
        else:
            check_targets(value, loc, res, depth=depth + 1)


def check_weight_map(weight_map: dict[str, Any], loc: str, res: FileResult) -> None:
    """Every file a sharded checkpoint's index names must stay inside its folder."""
    for tensor, file in weight_map.items():
        path = PurePosixPath(str(file).replace("\\", "/"))
        if not isinstance(file, str) or path.is_absolute() or ".." in path.parts or ":" in str(file):
            res.issues.append(
                Issue(
                    Severity.HIGH,
                    "index/path-escape",
                    f"weight_map sends {tensor!r} to {file!r}, outside the model folder: the loader opens it",
                    loc,
                )
            )
