"""report.json: the machine-readable report, validated against report.schema.json."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.findings import Report
from mlaudit.report.summary import MITIGATIONS, summarize


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


def measured(o: Any) -> Any:
    """NaN and infinities (a rate over no inputs, a median of no successes) become null: not measured."""
    if isinstance(o, float | np.floating):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: measured(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [measured(v) for v in o]
    return o


def to_json(report: Report, figures: Path | None = None) -> str:
    """The report as JSON. With `figures` (a folder), images are written there as PNG files and the
    JSON names them (path relative to the folder's parent, and sha256) instead of holding base64."""
    doc = measured(report.to_dict())
    doc["summary"] = summarize(doc)
    for f in doc["findings"]:
        f["mitigations"] = list(MITIGATIONS.get(f["category"], ()))
    if figures is not None:
        _write_figures(doc, figures)
    return json.dumps(doc, default=_default, indent=1, allow_nan=False)


def _write_figures(doc: dict[str, Any], folder: Path) -> None:
    for f in doc["findings"]:
        n = 0
        for a in f["artifacts"]:
            if a["kind"] != "image_grid" or "png_base64" not in a["data"]:
                continue
            n += 1
            raw = base64.b64decode(a["data"]["png_base64"])
            name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{f['id']}-{n}.png")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(raw)
            a["data"] = {"path": f"{folder.name}/{name}", "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if `doc` does not follow the report schema."""
    import jsonschema

    jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker()).validate(doc)


def write_json(report: Report, path: Path) -> Path:
    """report.json at `path`, its images as PNG files in the folder `figures` beside it."""
    text = to_json(report, path.parent / "figures")
    validate(json.loads(text))
    path.write_text(text)
    return path
