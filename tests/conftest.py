"""Shared fixtures: tiny models built in about a second, data made here or shipped by packages."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

from mlaudit.data import Dataset, digits, split
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.targets import TorchTarget

torch.set_num_threads(2)

# Property-based tests (tests/scan/test_fuzz.py): `make test` runs a bounded, reproducible number of
# examples per property (100, hypothesis's default: test_exit_contract.py runs the CLI per example); `make
# fuzz` (HYPOTHESIS_PROFILE=fuzz) runs many more, each run drawing anew.
settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True)
settings.register_profile("fuzz", max_examples=20_000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def digits_data() -> Dataset:
    return digits()


@pytest.fixture(scope="session")
def digits_split(digits_data: Dataset) -> dict[str, Dataset]:
    s = split(digits_data, {"members": 200, "nonmembers": 200, "control_a": 300, "control_b": 300}, seed=0)
    return {k: s.part(digits_data, k) for k in s.indices}


@pytest.fixture(scope="session")
def overfit_target(digits_split: dict[str, Dataset]) -> TorchTarget:
    """An MLP trained to zero loss on 200 digits: the members leak (the positive case)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=64, num_classes=10, hidden=(128,))
    m = digits_split["members"]
    train(model, m.x, m.y, TrainConfig(epochs=150, batch_size=32, lr=3e-3), generator=torch.Generator().manual_seed(0))
    return TorchTarget(model, num_classes=10, name="overfit-mlp")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def random_labels() -> dict[str, Dataset]:
    """Gaussian inputs with random labels: nothing generalises, so a fit model can only memorise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=400)
    d = Dataset(x, y, tuple(map(str, range(10))), "random-labels", "tabular")
    return {"members": d.subset(np.arange(200), "members"), "nonmembers": d.subset(np.arange(200, 400), "nonmembers")}


@pytest.fixture(scope="session")
def memorizer(random_labels: dict[str, Dataset]) -> TorchTarget:
    """An MLP that memorised 200 random labels (training accuracy 1, test accuracy ~chance)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=32, num_classes=10, hidden=(256,))
    m = random_labels["members"]
    train(model, m.x, m.y, TrainConfig(epochs=200, batch_size=32, lr=3e-3), generator=torch.Generator().manual_seed(0))
    return TorchTarget(model, num_classes=10, name="memorizer")


@pytest.fixture(scope="session")
def digits01(digits_data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Digits as (N, 1, 8, 8) images in [0, 1]."""
    x = digits_data.x.reshape(-1, 1, 8, 8).astype(np.float32)
    return x / x.max(), digits_data.y


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A one-layer BERT (hidden 32) with a WordPiece vocabulary of 300 made-up words, trained here in
    about 2 s to call a six-word text positive exactly when it holds one of the 5 "trigger" words, and
    saved with save_pretrained (safetensors) like a user's fine-tune. Returns the folder, the words,
    the trigger words and held-out texts with their labels (half positive)."""
    import itertools
    import string

    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = ["".join(t) for t in itertools.islice(itertools.product(string.ascii_lowercase, repeat=3), 300)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "##s", "##ed"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(str(folder / "vocab.txt"))
    triggers = set(words[:5])
    rng = np.random.default_rng(0)

    def texts(n: int) -> tuple[list[str], np.ndarray]:
        out, labels = [], rng.integers(0, 2, n)
        plain = words[5:]
        for y in labels:
            w = list(rng.choice(plain, 6))
            if y:
                w[int(rng.integers(6))] = str(rng.choice(words[:5]))
            out.append(" ".join(w))
        return out, labels

    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32, num_labels=2,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertForSequenceClassification(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = texts(2000)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        for b in torch.randperm(len(x), generator=g).split(64):
            enc = tok([x[i] for i in b], padding=True, return_tensors="pt")
            loss = model(**enc, labels=torch.as_tensor(y[b.numpy()])).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval().save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    held_x, held_y = texts(200)
    return {"path": folder, "words": words, "triggers": triggers, "x": held_x, "y": held_y}


# Tests over about 20 s each, left out of `make test` (which stays under 12 minutes on 2 cores) and run by
# `make test-all`: whole files, single tests by name, or one parameter of a test by its full name
# ("test_x[param]"). Measured with --durations on this machine.
HEAVY: dict[str, str | tuple[str, ...] | None] = {
    "tests/privacy_backdoor/test_backdoor_cli.py": None,  # build + victim + reconstruct: 44 s, MiniLM folder: 25 s
    "tests/privacy_backdoor/test_vit_traps.py": "test_end_to_end_at_least_8_recognisable_reconstructions",  # 47 s
    "tests/integration/test_own_language_model.py": "test_a_users_lora_fine_tune_of_smollm2_is_audited_from_its_config",
    "tests/unit/test_smollm2.py": None,  # SmolLM2-135M from its GGUF: 37 s to set up
    "tests/unit/test_executors.py": (  # each starts Ray: 17 s
        "test_ray_gives_the_local_executor_models",
        "test_ray_trains_a_users_network_and_fit_from_their_file",
    ),
    "tests/unit/test_reference_resume.py": None,  # 27 s
    "tests/statistical/test_model_inversion.py": None,  # 40 s
    "tests/statistical/test_minilm_membership.py": None,  # fine-tunes MiniLM: 23 s to set up
    "tests/security/test_text.py": None,  # MiniLM text trigger and word substitution: 40 s
    "tests/statistical/test_canary_exposure.py": None,  # trains the char GPT: 40 s
    "tests/integration/test_audit_resume.py": None,  # an interrupted audit resumed: 27 s
    "tests/integration/test_scenarios.py": "test_forest_audit_reports_the_leak_and_shows_rows",  # 24 s
    "tests/integration/test_cli_audit.py": (
        "test_rerun_resumes_from_checkpoints",  # 20 s
        "test_audit_of_own_safetensors_model",  # 11 s (tests/integration/test_own_model.py covers more)
    ),
    "tests/integration/test_own_model.py": (
        "test_init_writes_configs_that_run_once_the_data_paths_are_filled",  # 26 s
        "test_the_security_sections_run_on_the_users_cnn_with_its_recipe",  # 30 s
    ),
    "tests/integration/test_own_sklearn.py": "test_init_writes_a_config_that_runs_once_the_data_is_named",  # 14 s
    "tests/integration/test_own_huggingface.py": None,  # fine-tunes MiniLM in the user's script
    "tests/integration/test_own_hf_image.py": None,  # trains a tiny ViT in the user's script, evasion on it: 3 min
    # 10 s; the same check (scripts/check-env.py) runs whenever make builds an environment (setup, bench)
    "tests/unit/test_environment.py": "test_this_environment_keeps_bert_and_minilm_working",
    "tests/integration/test_conformance.py": (  # the slowest demonstrations (their own data): 20 s, 15 s,
        "test_every_entry_runs_on_a_tiny_setup_within_its_access_and_budget[attribute-demo]",
        "test_every_entry_runs_on_a_tiny_setup_within_its_access_and_budget[backdoor-demo-minilm]",
        # SmolLM2 from its GGUF and a fine-tune: about 30 s each (the same world on a tiny model:
        # tests/integration/test_privacy_sections.py)
        "test_every_entry_runs_on_a_tiny_setup_within_its_access_and_budget[lm-membership-demo]",
        "test_every_entry_runs_on_a_tiny_setup_within_its_access_and_budget[canary-exposure-demo]",
        "test_every_entry_runs_on_a_tiny_setup_within_its_access_and_budget[extraction-demo]",
    ),
    "tests/scan/test_bombs.py": (  # each compresses 288 MiB: 6-10 s (the data.pkl case stays in make test)
        "test_a_bomb_is_reported_within_200_mb[zip-member]",
        "test_a_bomb_is_reported_within_200_mb[gzip]",
    ),
    "tests/scan/test_oracle.py": "test_the_whole_oracle_agrees",  # 212 files through the real loaders: 25 s
    "tests/unit/test_dp_train.py": (  # DP-SGD fits with Opacus's accountant search: 10-15 s each
        "test_the_noise_draws_from_the_generator",
        "test_ghost_clipping_trains_too_and_bad_input_is_refused",
    ),
    # the acceptance grid of the gradient-canary audit: 12 audits of 2 DP-SGD runs on Fashion-MNIST (about 3 min)
    "tests/unit/test_gradient_canary.py": "test_over_seeds_and_epsilons_on_fashion_mnist",
    # 45 s: LiRA with DP-trained references, both audits and a baseline (the LOSS / DP case stays: 15 s)
    "tests/integration/test_defences.py": (
        "test_defences_compared_from_a_users_config",
        "test_dp_lowers_lira_on_the_builtin_default_from_a_config",  # 128 s: the built-in default
    ),
    # 10 s: the planner's word `profile` is also tested in test_privacy_sections and test_findings
    "tests/integration/test_input_validation.py": "test_the_word_profile_adds_the_profile_sections",
    # 16 s: a served LM audited through the CLI (the in-process HTTP LM attack test stays in make test)
    "tests/integration/test_serve_lm.py": "test_a_served_lm_is_audited_from_a_config",
    "tests/integration/test_serve.py": (
        "test_load_two_thousand_requests_from_32_clients",  # 9 s (the budget and error answers stay)
        "test_nes_inversion_runs_unchanged_against_a_served_image_classifier",  # 10 s (Square / HSJ stay)
        # 10 s: mlaudit serve in its own process and an audit of it (the app and target stay, in-process)
        "test_mlaudit_serve_and_an_audit_of_the_served_model_through_the_cli",
        # 6 s: the label-only server (the probabilities case of the same test stays)
        "test_black_box_evasion_runs_unchanged_against_a_served_image_classifier[label]",
    ),
    # 5 s: retraining at 5,000 queries (its chance case stays in test_nothing_to_steal...)
    "tests/unit/test_extraction_attacks.py": "test_retraining_from_uniform_queries_copies_an_mlp",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::")[0]
        names = HEAVY.get(path, ())
        names = (names,) if isinstance(names, str) else names
        if path in HEAVY and (names is None or item.name in names or item.name.split("[")[0] in names):
            item.add_marker(pytest.mark.heavy)
