"""Model files load only through safetensors or torch.load(weights_only=True); nothing is unpickled."""

import os
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from mlaudit import InputError, UnsafeFileError
from mlaudit.targets import load_state_dict, sniff


class _Payload:
    """Pickles to a call of os.system that would create a marker file (it must never run)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_safetensors_round_trip(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)}
    save_file(state, tmp_path / "m.safetensors")
    out = load_state_dict(tmp_path / "m.safetensors")
    assert torch.equal(out["w"], state["w"])


def test_pickle_file_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    f = tmp_path / "model.safetensors"  # the extension lies: the content is sniffed
    f.write_bytes(pickle.dumps({"w": _Payload(marker)}, protocol=4))
    assert sniff(f) == "pickle"
    with pytest.raises(UnsafeFileError, match="pickle-based file, and loading it could run arbitrary code"):
        load_state_dict(f)
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_torch_file_with_code_refused_by_the_scan(tmp_path, legacy):
    marker = tmp_path / "pwned"
    f = tmp_path / "model.pt"
    torch.save({"w": _Payload(marker)}, f, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeFileError, match="failed the model-file scan .pickle/code-execution"):
        load_state_dict(f)
    assert not marker.exists()


def test_legacy_torch_state_dict_loads_after_scan(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "m.pth", _use_new_zipfile_serialization=False)
    assert torch.equal(load_state_dict(tmp_path / "m.pth")["w"], torch.ones(2))


def test_plain_torch_state_dict_loads_weights_only(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "m.pt")
    assert torch.equal(load_state_dict(tmp_path / "m.pt")["w"], torch.ones(2))


def _header(tmp_path, header: bytes, body: bytes = b""):
    f = tmp_path / "bad.safetensors"
    f.write_bytes(struct.pack("<Q", len(header)) + header + body)
    return f


@pytest.mark.parametrize(
    "header,body,msg",
    [
        (b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 4, "tensors end at byte"),
        (b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8, "overlaps or has gaps"),
        (b'{"w": nope', b"", "header is not JSON"),
    ],
)
def test_corrupt_safetensors(tmp_path, header, body, msg):
    with pytest.raises(InputError, match=msg):
        load_state_dict(_header(tmp_path, header, body))


def test_header_length_beyond_file(tmp_path):
    f = tmp_path / "bad.safetensors"
    f.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    with pytest.raises(InputError, match="header length 1000000000 exceeds the file"):
        load_state_dict(f)


def test_unknown_and_missing_files(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"hello world, not a model")
    with pytest.raises(UnsafeFileError, match="not a format mlaudit loads"):
        load_state_dict(tmp_path / "x.bin")
    with pytest.raises(InputError, match="model file not found"):
        load_state_dict(tmp_path / "missing.safetensors")
