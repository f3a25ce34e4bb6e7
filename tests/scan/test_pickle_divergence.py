"""Issue 21, class 1: the analyser reads protocol-0 arguments as CPython's unpickler does (Lib/pickle.py
and _pickle.c). Differential: generated data-only pickles (no import, so pickle.loads is safe to run
here) spelling integers and strings every way CPython accepts give the analyser the value
pickle.loads gives. Bypasses built from the divergences it had (an INT in base 16, a STRING name spelt
with escapes, a text argument longer than its old cap) are flagged, never passed as text."""

from __future__ import annotations

import io
import pickle
import random

import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths
from mlaudit.supplychain.scan.pickle import MAX_LINE, Reader, analyse


def _ints(rng: random.Random) -> list[tuple[bytes, object]]:
    """(INT / LONG argument line, the spelling's meaning) for a random integer in every base int(s, 0) takes."""
    v = rng.randrange(-(10**12), 10**12)
    sign = "-" if v < 0 else ""
    a = abs(v)
    spellings = [str(v), f"{sign}0x{a:x}", f"{sign}0X{a:X}", f"{sign}0o{a:o}", f"{sign}0b{a:b}", f" {v} "]
    if a >= 1000:
        s = str(a)
        spellings.append(sign + s[:-3] + "_" + s[-3:])  # underscores, as int("1_000", 0) reads them
    return [(sp.encode(), v) for sp in spellings]


def _string(rng: random.Random) -> bytes:
    """A STRING argument: quoted either way, with escapes codecs.escape_decode resolves."""
    pieces = []
    for _ in range(rng.randrange(1, 8)):
        c = chr(rng.randrange(32, 127))
        kind = rng.randrange(4)
        if kind == 0:
            pieces.append(f"\\x{ord(c):02x}")
        elif kind == 1:
            pieces.append(f"\\{ord(c):03o}")
        elif c not in "\\'\"":
            pieces.append(c)
    q = rng.choice("'\"")
    return f"{q}{''.join(pieces)}{q}".encode()


def _result(data: bytes):
    (a,) = analyse(Reader(io.BytesIO(data)), max_pickles=1)
    assert a.error is None, a.error
    return a.result


@pytest.mark.parametrize("seed", range(25))
def test_values_match_the_real_unpickler(seed):
    """Per seed: every integer spelling as INT and as LONG (with and without its L), a STRING, and
    the INT booleans; 25 seeds give 25 x (>= 12 integers + 1 string) + 2 = over 300 pickles."""
    rng = random.Random(seed)
    cases = [b"I00\n.", b"I01\n."]
    for line, _ in _ints(rng):
        cases += [b"I" + line + b"\n.", b"L" + line + b"\n.", b"L" + line + b"L\n."]
    cases.append(b"S" + _string(rng) + b"\n.")
    for data in cases:
        expected = pickle.loads(data, encoding="latin-1")
        got = _result(data)
        assert got == expected and type(got) is type(expected), (data, got, expected)


def _scan(tmp_path, data: bytes, name: str = "data.bin"):
    (tmp_path / name).write_bytes(data)
    (r,) = scan_paths([tmp_path / name])
    return r, {i.trigger for i in r.issues if i.severity >= Severity.HIGH}


def test_an_int_in_base_16_before_the_payload_is_still_a_pickle(tmp_path):
    r, bad = _scan(tmp_path, b"I0x10\n0cos\nsystem\n(S'true'\ntR.")
    assert r.format == "pickle" and "os.system" in bad


def test_a_name_spelt_with_escapes_is_decoded_before_stack_global(tmp_path):
    r, bad = _scan(tmp_path, b"S'\\x6fs'\nS'sys\\x74em'\n\x93S'true'\n\x85R.")
    assert "os.system" in bad


def test_a_text_argument_longer_than_the_cap_does_not_make_a_pickle_text(tmp_path):
    huge = b"I0x" + b"f" * (MAX_LINE + 10) + b"\n0"  # int(s, 0) in base 16 has no digit limit: it loads
    r, bad = _scan(tmp_path, huge + b"cos\nsystem\n(S'true'\ntR.")
    assert r.format == "pickle" and "os.system" in bad


def test_an_unquoted_string_is_refused_as_cpython_refuses_it():
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(b"Sabc\n.")
    (a,) = analyse(Reader(io.BytesIO(b"(Sabc\n.")), max_pickles=1)
    assert a.error is not None and "not quoted" in a.error
