"""joblib files: a pickle with numpy array bytes written inline after each NumpyArrayWrapper BUILD.

Object arrays are written as a nested pickle at that point; plain arrays as one padding-length byte,
the padding, then the raw bytes (joblib/numpy_pickle.py, NumpyArrayWrapper.write_array). The raw
bytes are skipped unread; the nested pickles are analysed like the outer one.
"""

from __future__ import annotations

import math
from typing import Any

from mlaudit.supplychain.scan.issues import ScanError
from mlaudit.supplychain.scan.pickle import Call, Global, PickleAnalysis, Reader, analyse

_WRAPPERS = ("joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper")


def _dtype(value: Any) -> tuple[int, bool]:
    """(itemsize, has_objects) of a pickled numpy.dtype(...) call, read from its args and state."""
    if not (isinstance(value, Call) and isinstance(value.func, Global) and value.func.full == "numpy.dtype"):
        raise ScanError("joblib array without a readable numpy dtype; cannot find where its bytes end")
    args, state = value.args, value.state
    if not (isinstance(args, tuple) and args and isinstance(args[0], str)):
        raise ScanError("joblib array dtype has no type string")
    flags = state[7] if isinstance(state, tuple) and len(state) >= 8 and isinstance(state[7], int) else 0
    elsize = state[5] if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int) else -1
    import numpy as np  # only for joblib files; the scanner's start-up stays light

    try:
        base = np.dtype(args[0])  # a type string such as 'f8' or 'O8': parsing it runs no code
    except TypeError:
        raise ScanError(f"joblib array has an unknown dtype {args[0]!r}") from None
    itemsize = elsize if elsize > 0 else base.itemsize
    return itemsize, bool(flags & 1) or base.hasobject


class JoblibHook:
    """Build hook: skips inline array bytes and analyses nested object-array pickles."""

    def __init__(self) -> None:
        self.nested: list[PickleAnalysis] = []
        self.arrays = 0

    def __call__(self, obj: Call, r: Reader) -> None:
        if not (isinstance(obj.func, Global) and obj.func.full in _WRAPPERS and isinstance(obj.state, dict)):
            return
        st = obj.state
        itemsize, has_objects = _dtype(st.get("dtype"))
        self.arrays += 1
        if has_objects:
            self.nested.extend(analyse(r, build_hook=self, max_pickles=1))
            return
        shape = st.get("shape")
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ScanError("joblib array with an unreadable shape; cannot find where its bytes end")
        if "numpy_array_alignment_bytes" in st:
            r.skip(r.read(1)[0])
        r.skip(math.prod(shape) * itemsize)
