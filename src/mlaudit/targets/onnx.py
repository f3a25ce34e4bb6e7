"""Target adapter for an ONNX classifier run by onnxruntime on the CPU: a black box that gives logits
or probabilities (no gradients, no weights). The file is scanned before a session opens it (external
data that escapes its folder, custom operator domains), and its output must be (N, classes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.config import ONNX_OUTPUTS
from mlaudit.data.formats import existing
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.findings import Severity
from mlaudit.supplychain.scan.scanner import scan_file
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def check_scanned(path: Path) -> None:
    """Refuse an ONNX file the scanner flags (external data escaping its folder, custom operator domains)
    before onnxruntime opens it."""
    scanned = scan_file(path)
    if scanned.error is not None or scanned.worst >= Severity.MEDIUM:
        why = scanned.error or "; ".join(i.message for i in scanned.issues if i.severity >= Severity.MEDIUM)
        raise UnsafeFileError(f"{str(path)!r} did not pass the scan ({why}); run 'mlaudit scan' on it")


class OnnxTarget(Target):
    """`path`: an .onnx file with one float input (batch first) and a float (N, num_classes) output.

    output: "logits", "probabilities", or "auto" (probabilities when the first batch's rows are
    non-negative and sum to 1, logits otherwise; with a static input shape the first batch is a probe
    of constant inputs at construction, which also checks the output's shape; describe() records it).
    """

    max_access = Access.LOGITS

    def __init__(
        self,
        path: str | Path,
        *,
        num_classes: int,
        output: str = "auto",
        batch_size: int = 256,
        name: str | None = None,
    ) -> None:
        super().__init__()
        import onnxruntime as ort

        if output not in ONNX_OUTPUTS:
            raise InputError(f"unknown ONNX output {output!r}; use one of: {', '.join(ONNX_OUTPUTS)}")
        self.path = existing(str(path), "ONNX model")
        check_scanned(self.path)
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own types for invalid graphs
            raise InputError(f"onnxruntime cannot open {str(self.path)!r}: {e}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or "float" not in inputs[0].type:
            got = ", ".join(f"{i.name}: {i.type}" for i in inputs)
            raise InputError(f"{str(self.path)!r} takes inputs ({got}); mlaudit serves one float input, batch first")
        self.input_name, self.input_shape = inputs[0].name, tuple(inputs[0].shape[1:])
        self.num_classes, self.output, self.batch_size = num_classes, output, batch_size
        self.name = name or f"{self.path.name} (ONNX)"
        if all(isinstance(d, int) for d in self.input_shape):  # a static input shape: check the output now
            self._run(np.full((2, *self.input_shape), 0.5, np.float32))

    def _run(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        outs = [
            self.session.run(None, {self.input_name: x[i : i + self.batch_size]})[0]
            for i in range(0, len(x), self.batch_size)
        ]
        out = np.concatenate(outs).astype(np.float64) if outs else np.zeros((0, self.num_classes))
        if out.shape != (len(x), self.num_classes):
            raise InputError(
                f"{str(self.path)!r} returned shape {out.shape} for {len(x)} inputs; its first output must be "
                f"(N, classes) = (N, {self.num_classes}): check target.num_classes or export the logits first"
            )
        if self.output == "auto":
            sums = out.sum(1)
            self.output = "probabilities" if (out >= 0).all() and np.allclose(sums, 1.0, atol=1e-4) else "logits"
        return out

    def _probabilities(self, x: Any) -> np.ndarray:
        out = self._run(x)
        if self.output == "probabilities":
            return out
        z = out - out.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)  # type: ignore[no-any-return]

    def _logits(self, x: Any) -> np.ndarray:
        out = self._run(x)
        return np.log(np.clip(out, 1e-300, None)) if self.output == "probabilities" else out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "format": "onnx", "output": self.output, "input_shape": list(self.input_shape)}
