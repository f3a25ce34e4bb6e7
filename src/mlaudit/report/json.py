"""report.json: the machine-readable report, validated against report.schema.json."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.findings import Report


def schema() -> dict[str, Any]:
    return json.loads(resources.files("mlaudit.report").joinpath("report.schema.json").read_text())  # type: ignore[no-any-return]


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to report.json")


def _measured(o: Any) -> Any:
    """NaN and infinities (a rate over no inputs, a median of no successes) become null: not measured."""
    if isinstance(o, float | np.floating):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _measured(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_measured(v) for v in o]
    return o


def to_json(report: Report) -> str:
    # round-trip through json so that tuples become lists before validation
    return json.dumps(_measured(report.to_dict()), default=_default, indent=1, allow_nan=False)


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if `doc` does not follow the report schema."""
    import jsonschema

    jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker()).validate(doc)


def write_json(report: Report, path: Path) -> Path:
    text = to_json(report)
    validate(json.loads(text))
    path.write_text(text)
    return path
