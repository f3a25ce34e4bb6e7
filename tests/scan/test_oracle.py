"""Issue 21: the differential oracle. Files of the nine classes are generated here, malicious and benign
twins, and each is loaded with the real loaders that would be pointed at it (pickle, torch.load with and
without weights_only, numpy, joblib, jinja2's sandbox) in a throwaway sandbox process
(tests/scan/oracle_runner.py: a forked child per load under an audit hook, with memory, CPU and time
limits; every process, network, file-system, open and exec event is recorded and blocked before it
happens). The scanner, which never loads anything, must flag (severity medium or more, or "cannot be
scanned") exactly the files for which some loader raised such an event or ran past a limit, and
pass every other one.

Classes without a loader here: Hydra `_target_` configs (hydra is not installed), Keras (not
installed), ONNX external data and GGUF structure (their loaders refuse the files with an error, no
event: tests/scan/test_configs.py and test_gguf_tensors.py cover them). Class 6 is therefore not in
the oracle; the other eight are. Names built while rendering a template are flagged by the scanner
but made harmless by jinja2's sandbox (tests/scan/test_templates_computed.py), so they are not here:
the oracle would call them benign.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

RUNNER = Path(__file__).with_name("oracle_runner.py")
PICKLE_LOADERS = ("pickle", "torch", "torch-weights-only", "joblib")


@dataclass(frozen=True)
class Case:
    cls: int  # the issue's class (1-9)
    name: str  # the file's name (the scanner reads names: chat_template.jinja, data.pkl)
    data: bytes
    loaders: tuple[str, ...]


# -- payload and benign pickle bodies ----------------------------------------------------------------
def _payload(rng: random.Random) -> bytes:
    """A protocol-0 body that makes a process: spelt as GLOBAL or (protocol 4) STACK_GLOBAL."""
    target = rng.choice([(b"os", b"system"), (b"posix", b"system"), (b"subprocess", b"check_call")])
    arg = b"(S'true'\ntR" if target[1] == b"system" else b"((lp0\nS'true'\natR"
    if rng.random() < 0.5:
        return b"c" + target[0] + b"\n" + target[1] + b"\n" + arg
    m, n = target
    return b"\x8c" + bytes([len(m)]) + m + b"\x8c" + bytes([len(n)]) + n + b"\x93" + arg


def _benign_body(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return b"ccollections\nOrderedDict\n(tR"
    return b"(dp0\nS'k'\nI" + str(rng.randrange(99)).encode() + b"\ns"


def _prefix(rng: random.Random) -> bytes:
    """Class 1: values pushed and popped in spellings only CPython's reader takes (INT in base 16, 8, 2 or
    with underscores, STRING with escapes, a long text argument)."""
    v = rng.randrange(1, 10**9)
    spellings = [hex(v), oct(v), bin(v), f"{v:_}", f" {v} "]
    s = "".join(f"\\x{ord(c):02x}" for c in rng.choice(["os", "system", "abc"]))
    out = [b"I" + rng.choice(spellings).encode() + b"\n0", b"S'" + s.encode() + b"'\n0"]
    if rng.random() < 0.3:
        out.append(b"V" + b"x" * rng.randrange(70_000, 90_000) + b"\n0")
    rng.shuffle(out)
    return b"".join(out)


# -- generators, one per class (each gives malicious and benign twins) ---------------------------------
def class1(rng: random.Random) -> list[tuple[Case, bool]]:
    pre = _prefix(rng)
    proto = rng.choice([b"", b"\x80\x02", b"\x80\x04"])
    return [
        (Case(1, "model.pkl", proto + pre + _payload(rng) + b".", PICKLE_LOADERS), True),
        (Case(1, "model.pkl", proto + pre + _benign_body(rng) + b".", PICKLE_LOADERS), False),
    ]


def class2(rng: random.Random) -> list[tuple[Case, bool]]:
    """A standard-library class re-exported by an ML module, called (TemporaryDirectory makes a folder);
    its twin a real fitted estimator."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    module = rng.choice([b"sklearn.datasets._covtype", b"sklearn.datasets._openml"])
    suffix = ("x" * rng.randrange(1, 8)).encode()
    bad = b"c" + module + b"\nTemporaryDirectory\n(S'" + suffix + b"'\ntR."
    x, y = np.random.default_rng(rng.randrange(99)).normal(size=(30, 3)), np.arange(30) % 2
    est = rng.choice([LogisticRegression(), DecisionTreeClassifier(max_depth=2)]).fit(x, y)
    return [(Case(2, "model.pkl", bad, PICKLE_LOADERS), True),
            (Case(2, "model.pkl", pickle.dumps(est, protocol=rng.choice([2, 4])), PICKLE_LOADERS), False)]  # fmt: skip


def class3(rng: random.Random) -> list[tuple[Case, bool]]:
    """An allocation from one constant (bytearray of 2^31+ bytes) against a small one."""
    big = rng.randrange(1 << 31, 1 << 34)
    small = rng.randrange(1, 1 << 16)
    make = b"c__builtin__\nbytearray\n(I" if rng.random() < 0.5 else b"cbuiltins\nbytearray\n(I"
    return [(Case(3, "data.pkl", make + str(big).encode() + b"\ntR.", PICKLE_LOADERS), True),
            (Case(3, "data.pkl", make + str(small).encode() + b"\ntR.", PICKLE_LOADERS), False)]  # fmt: skip


def class4(rng: random.Random) -> list[tuple[Case, bool]]:
    """The legacy torch format is a stream of pickles; the payload in one torch reads after the first."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(rng.randrange(1, 5))}, buf, _use_new_zipfile_serialization=False)
    good = buf.getvalue()
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    assert good.startswith(magic)
    at = rng.choice([len(magic), len(magic) + len(pickle.dumps(1001, protocol=2))])
    bad = good[:at] + _payload(rng) + b"." + good[at:]
    loaders = ("torch", "pickle")
    return [(Case(4, "model.pt", bad, loaders), True), (Case(4, "model.pt", good, loaders), False)]


def class5(rng: random.Random) -> list[tuple[Case, bool]]:
    """A pickle at byte 0 that is also a zip by its end record (the zip holds a harmless npy); twin:
    the same zip behind a harmless pickle."""
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as f:
        arr = io.BytesIO()
        np.save(arr, np.arange(rng.randrange(1, 20)))
        f.writestr("w.npy", arr.getvalue())
    body = z.getvalue()
    return [(Case(5, "weights.npz", _payload(rng) + b"." + body, ("pickle", "npz", "joblib")), True),
            (Case(5, "weights.npz", _benign_body(rng) + b"." + body, ("pickle", "npz", "joblib")), False)]  # fmt: skip


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def class7(rng: random.Random) -> list[tuple[Case, bool]]:
    """Templates rendered in jinja2's immutable sandbox (as transformers renders chat templates): the
    sandbox turns an attribute escape into an undefined value, so what a template can still do is
    exhaust CPU or memory: nested loops each under the sandbox's range cap (bounds constant or set in
    the template), or a string repeated past any memory; twin: ChatML after a short loop."""
    n = rng.randrange(50_000, 99_999)
    kind = rng.randrange(3)
    if kind == 0:
        bad = f"{{% for i in range({n}) %}}{{% for j in range({n}) %}}{{% endfor %}}{{% endfor %}}"
    elif kind == 1:
        bad = f"{{% set n = {n} %}}{{% for i in range(n) %}}{{% for j in range(n) %}}{{% endfor %}}{{% endfor %}}"
    else:
        bad = "{{ 'ab' * " + str(rng.randrange(10**9, 10**10)) + " }}"
    good = "{% for i in range(" + str(rng.randrange(1, 5)) + ") %}{% endfor %}" + CHATML
    return [(Case(7, "chat_template.jinja", (bad + CHATML).encode(), ("jinja",)), True),
            (Case(7, "chat_template.jinja", good.encode(), ("jinja",)), False)]  # fmt: skip


def class8(rng: random.Random) -> list[tuple[Case, bool]]:
    """A numpy file whose object array holds a payload pickle (numpy.load with allow_pickle), against
    a plain float array."""
    n = rng.randrange(1, 30)
    good = io.BytesIO()
    np.save(good, np.arange(n, dtype=np.float32))
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (64 - (10 + len(header) + 1) % 64) + b"\n"
    bad = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x80\x02" + _payload(rng) + b"."
    return [(Case(8, "arr.npy", bad, ("numpy",)), True), (Case(8, "arr.npy", good.getvalue(), ("numpy",)), False)]


def class9(rng: random.Random) -> list[tuple[Case, bool]]:
    """Ordinary files the scanner used to flag: fitted pipelines with numpy ufuncs and scalar types,
    argparse.Namespace in a checkpoint, structured dtypes with 'O' in field names: all benign."""
    import argparse

    import joblib
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    x = np.random.default_rng(rng.randrange(99)).integers(0, 3, (20, 2))
    pipe = make_pipeline(FunctionTransformer(rng.choice([np.log1p, np.sqrt, np.abs])), OneHotEncoder(dtype=np.float64))
    j = io.BytesIO()
    joblib.dump(pipe.fit(x), j)
    t = io.BytesIO()
    torch.save({"args": argparse.Namespace(lr=rng.random(), epochs=rng.randrange(9)), "w": torch.ones(2)}, t)
    s = io.BytesIO()
    np.save(s, np.zeros(3, dtype=[("Obs", "f4"), ("ObjectId", "i8")]))
    return [(Case(9, "pipe.joblib", j.getvalue(), ("joblib", "pickle")), False),
            (Case(9, "ckpt.pt", t.getvalue(), ("torch", "torch-weights-only")), False),
            (Case(9, "table.npy", s.getvalue(), ("numpy",)), False)]  # fmt: skip


GENERATORS: dict[int, Callable[[random.Random], list[tuple[Case, bool]]]] = {
    1: class1, 2: class2, 3: class3, 4: class4, 5: class5, 7: class7, 8: class8, 9: class9,
}  # fmt: skip
SEEDS = 13  # 8 generators x 13 seeds: 212 files


def run_oracle(items: list[tuple[Path, str]], workers: int = 2) -> list[dict]:
    """Each item's result, the items shared among `workers` sandbox processes run at once (one per core)."""
    chunks = [items[k::workers] for k in range(workers)]
    procs = []
    for k, chunk in enumerate(chunks):
        jobs = Path(chunk[0][0]).parents[1] / f"oracle-jobs-{k}.json"
        jobs.write_text(json.dumps([[str(p), loader] for p, loader in chunk]))
        procs.append(subprocess.Popen([sys.executable, str(RUNNER), str(jobs)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    results: list[dict] = [{}] * len(items)
    for k, proc in enumerate(procs):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results[k::workers] = json.loads(out)
    return results


def _unsafe(result: dict) -> bool:
    return (
        bool(result["events"])
        or result["outcome"] in ("memory", "recursion", "sandbox")
        or (result["outcome"].startswith("killed"))
    )


def _verdicts(root: Path, seeds: int) -> list[tuple[Case, bool, bool, list[dict], object]]:
    """Per generated file: its case, what the generator meant, whether any loader did something unsafe
    (with the events), and the scanner's result."""
    cases: list[tuple[Case, bool, Path]] = []
    for cls, make in GENERATORS.items():
        for seed in range(seeds):
            for k, (case, meant) in enumerate(make(random.Random(1000 * cls + seed))):
                folder = root / f"c{cls}-s{seed}-{k}"
                folder.mkdir()
                (folder / case.name).write_bytes(case.data)
                cases.append((case, meant, folder / case.name))
    items = [(p, loader) for case, _, p in cases for loader in case.loaders]
    results = iter(run_oracle(items))
    out = []
    for case, meant, path in cases:
        loads = [next(results) for _ in case.loaders]
        (scan,) = scan_paths([path])
        out.append((case, meant, any(map(_unsafe, loads)), loads, scan))
    return out


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """make test: 4 seeds (66 files, about 8 s); the 212-file run is test_the_whole_oracle_agrees (make test-all)."""
    return _verdicts(tmp_path_factory.mktemp("oracle"), 4)


def test_the_whole_oracle_agrees(tmp_path):
    """The acceptance size: 13 seeds, 212 files, every one agreeing (about 25 s)."""
    whole = _verdicts(tmp_path, SEEDS)
    assert len(whole) >= 200 and {c.cls for c, *_ in whole} == {1, 2, 3, 4, 5, 7, 8, 9}
    assert all(meant == unsafe for _, meant, unsafe, _, _ in whole)
    assert all(unsafe == _flagged(s) for _, _, unsafe, _, s in whole)


def test_every_class_is_generated_both_ways(verdicts):
    assert {(c.cls, meant) for c, meant, *_ in verdicts} >= {(k, True) for k in (1, 2, 3, 4, 5, 7, 8)} | {(9, False)}


def test_the_generators_make_what_they_mean(verdicts):
    """The oracle itself: every file meant malicious does something unsafe under a real loader, no
    benign twin does (otherwise the agreement below would prove nothing)."""
    wrong = [(c.cls, c.name, meant, loads) for c, meant, unsafe, loads, _ in verdicts if meant != unsafe]
    assert not wrong, wrong[:5]


def test_the_scanner_flags_exactly_what_the_loaders_show_unsafe(verdicts):
    missed = [(c.cls, str(s.path)) for c, _, unsafe, _, s in verdicts if unsafe and not _flagged(s)]
    false = [(c.cls, str(s.path), [i.to_dict() for i in s.issues][:2]) for c, _, unsafe, _, s in verdicts
             if not unsafe and _flagged(s)]  # fmt: skip
    assert not missed and not false, (missed[:5], false[:5])


def _flagged(scan) -> bool:
    return scan.error is not None or scan.worst >= Severity.MEDIUM
