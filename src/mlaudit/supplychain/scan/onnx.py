"""ONNX: external-data locations that escape the model's folder (absolute paths, '..', symlinks on any
part of the path; CVE-2024-27318, CVE-2025-51480) or name onnxruntime's in-memory marker, for every
tensor a loader reads (initializers, sparse initializers, node attributes, subgraphs), and custom
operator domains (which need a native plugin)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError

_STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft"}


def looks_like_onnx(raw: bytes) -> bool:
    try:
        import onnx
    except ImportError:
        return False
    try:
        m = onnx.ModelProto.FromString(raw)
    except Exception:  # protobuf's DecodeError and friends
        return False
    return bool(m.graph.node or m.graph.initializer) and m.ir_version > 0


def _graphs(graph: Any) -> Any:
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def scan_onnx(raw: bytes, model_dir: Path | None, location: str, res: FileResult) -> None:
    import onnx

    try:
        model = onnx.ModelProto.FromString(raw)
    except Exception as e:  # protobuf DecodeError
        raise ScanError(f"cannot parse ONNX protobuf ({e})") from None
    for imp in model.opset_import:
        if imp.domain not in _STANDARD_DOMAINS:
            res.issues.append(
                Issue(
                    Severity.MEDIUM,
                    "onnx/custom-domain",
                    f"operator domain {imp.domain!r} needs a custom native library to run",
                    location,
                    trigger=imp.domain,
                )
            )
    for t in _tensors(model.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = next((e.value for e in t.external_data if e.key == "location"), "")
        _check_location(loc, t.name, model_dir, location, res)


def _tensors(graph: Any) -> Any:
    """Every tensor onnx / onnxruntime may read external data for: initializers, sparse initializers
    (values and indices) and the tensors held by node attributes (a Constant's value, TENSORS lists,
    sparse tensors), in the graph and every subgraph."""
    import onnx

    for g in _graphs(graph):
        yield from g.initializer
        for sp in g.sparse_initializer:
            yield from (sp.values, sp.indices)
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == onnx.AttributeProto.TENSORS:
                    yield from attr.tensors
                elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                    yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
                elif attr.type == onnx.AttributeProto.SPARSE_TENSORS:
                    for sp in attr.sparse_tensors:
                        yield from (sp.values, sp.indices)


ORT_MEMORY_MARKER = "_ORT_MEM_ADDR_"  # onnxruntime reads such a location's offset as a process address


def _check_location(loc: str, tensor: str, model_dir: Path | None, location: str, res: FileResult) -> None:
    if ORT_MEMORY_MARKER in loc:
        res.issues.append(
            Issue(
                Severity.CRITICAL,
                "onnx/external-data-memory",
                f"tensor {tensor!r} names onnxruntime's in-memory marker {loc!r}: its offset is read as an "
                "address in the loading process's memory",
                location,
                trigger=loc,
            )
        )
        return
    if os.path.isabs(loc) or loc.startswith(("\\", "/")) or ":" in loc[:3]:
        res.issues.append(
            Issue(
                Severity.CRITICAL,
                "onnx/external-data-path",
                f"tensor {tensor!r} reads external data from absolute path {loc!r}",
                location,
                trigger=loc,
            )
        )
        return
    if ".." in re.split(r"[\\/]+", loc):  # either separator: onnxruntime on Windows reads both
        res.issues.append(
            Issue(
                Severity.CRITICAL,
                "onnx/external-data-path",
                f"tensor {tensor!r} reads external data outside the model folder: {loc!r}",
                location,
                trigger=loc,
            )
        )
        return
    if model_dir is not None:
        target = model_dir / loc  # a symlink anywhere on the way (a linked folder too) counts
        if not target.resolve().is_relative_to(model_dir.resolve()):
            res.issues.append(
                Issue(
                    Severity.HIGH,
                    "onnx/external-data-symlink",
                    f"tensor {tensor!r} external data {loc!r} leads out of the folder through a symlink",
                    location,
                    trigger=loc,
                )
            )
