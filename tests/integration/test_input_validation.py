"""No silent wrong answers (issue #23): every bad or unusual input is refused before any attack runs,
with exit 2 and one line (what, the value, the fix); a defect is exit 4, never 1 (the findings code).

A tiny MLP trained here on 300 scikit-learn digits (8x8 pixels in [0, 1]) is the user's model; each case
changes one input and audits it in-process through the CLI's main (attacks: [loss], so a case costs
about a second). Each case asserts the refusal the fix introduced, so it fails on the old behaviour
(which is noted beside it)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import save_file
from sklearn.datasets import load_digits

from mlaudit.cli import EXIT_INTERNAL, main
from mlaudit.models import build


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """The user's folder: mlp.safetensors (train accuracy ~100%) and members / non-members as npz."""
    d = tmp_path_factory.mktemp("user")
    digits = load_digits()
    x, y = (digits.images / 16).astype(np.float32)[:, None], digits.target
    order = np.random.default_rng(0).permutation(len(y))
    m, n = order[:300], order[300:600]
    torch.manual_seed(0)
    net = build("mlp", (1, 8, 8), 10, hidden=(32,))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.tensor(x[m])), torch.tensor(y[m])).backward()
        opt.step()
    save_file(net.state_dict(), d / "mlp.safetensors")
    np.savez(d / "members.npz", x=x[m], y=y[m])
    np.savez(d / "nonmembers.npz", x=x[n], y=y[n])
    return d, x, y, m, n


def audit(user, tmp_path, *, members=None, nonmembers=None, attacks=("loss",), **top) -> int:
    d = user[0]
    cfg = {
        "target": {
            "kind": "torch",
            "path": str(d / "mlp.safetensors"),
            "architecture": "mlp",
            "architecture_args": {"hidden": [32]},
            "input_shape": [1, 8, 8],
            "num_classes": 10,
        },
        "data": {
            "members": members or {"source": "npz", "path": str(d / "members.npz")},
            "nonmembers": nonmembers or {"source": "npz", "path": str(d / "nonmembers.npz")},
        },
        "attacks": list(attacks),
        **top,
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(cfg))
    return main(["audit", "--config", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "r")])


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def findings(tmp_path) -> dict:
    return {f["id"]: f for f in json.loads((tmp_path / "r" / "report.json").read_text())["findings"]}


def test_attacks_lists_exactly_what_runs(user, tmp_path):
    """Before: attacks: [loss] also ran evasion and Neural Cleanse (the profile's sections), and their
    HIGH set the exit code. Now only LOSS and its control run, and this well-generalising MLP exits 0."""
    assert audit(user, tmp_path) == 0
    assert set(findings(tmp_path)) == {"loss", "loss-control"}


def test_the_word_profile_adds_the_profile_sections(user, tmp_path):
    assert audit(user, tmp_path, attacks=("profile", "loss")) in (0, 1)
    assert {"file-scan", "backdoor-detect", "evasion", "loss"} <= set(findings(tmp_path))


def test_knowledge_the_config_does_not_hold_is_refused(user, tmp_path, capsys):
    """Before: knowledge [base_model, training_recipe] was listed in the report with no base or recipe."""
    tm = {"access": "probabilities", "knowledge": ["base_model"]}
    assert audit(user, tmp_path, threat_model=tm) == 2
    assert "names 'base_model' but this config gives none; add base:" in error_line(capsys)


def test_members_given_twice_are_refused(user, tmp_path, capsys):
    """Before: identical member and non-member files gave AUC 0.500, a confident 'no leak'."""
    same = {"source": "npz", "path": str(user[0] / "members.npz")}
    assert audit(user, tmp_path, nonmembers=same) == 2
    assert "100% of the members" in error_line(capsys)


def test_uint8_images_are_scaled_like_idx_and_image_folders(user, tmp_path):
    """Before: 0..255 pixels reached a model trained on [0, 1] (LOSS AUC 0.10 rated HIGH). Now uint8
    images are scaled by 1/255, so the audit sees what the float file gives: the same LOSS AUC."""
    d, x, y, m, n = user
    np.savez(tmp_path / "m8.npz", x=np.round(x[m] * 255).astype(np.uint8), y=y[m])
    np.savez(tmp_path / "n8.npz", x=np.round(x[n] * 255).astype(np.uint8), y=y[n])
    (tmp_path / "f").mkdir()
    (tmp_path / "u").mkdir()
    assert audit(user, tmp_path / "f") == 0
    as_float = findings(tmp_path / "f")["loss"]["metrics"]["auc"]["value"]
    members, nonmembers = ({"source": "npz", "path": str(tmp_path / f"{k}8.npz")} for k in "mn")
    assert audit(user, tmp_path / "u", members=members, nonmembers=nonmembers) == 0
    # x*16 levels rounded to 1/255 steps move a pixel by at most 0.5/255: the losses barely change
    assert findings(tmp_path / "u")["loss"]["metrics"]["auc"]["value"] == pytest.approx(as_float, abs=0.01)


def test_data_the_model_was_not_trained_on_is_refused(user, tmp_path, capsys):
    """Labels shifted by one class (a wrong label mapping): the model is right on 0% of the members,
    below the majority label's rate; before, the audit measured the mismatch as a leak."""
    d, x, y, m, n = user
    np.savez(tmp_path / "shifted.npz", x=x[m], y=(y[m] + 1) % 10)
    assert audit(user, tmp_path, members={"source": "npz", "path": str(tmp_path / "shifted.npz")}) == 2
    assert "no better than always naming their most common label" in error_line(capsys)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("float_labels", "labels must be integer class indices, got [0.5"),  # before: truncated to 0
        ("nan", "300 of 300 examples hold NaN or infinity"),  # before: exit 3 after the other jobs ran
        ("wrong_shape", "the model cannot take the members (shape (1, 4, 8) per example)"),  # before: exit 3
        ("truncated", "the file is truncated or not npz"),  # before: BadZipFile traceback, exit 1
        ("labels_2d", "labels must be one class index per example, shape (N,)"),
    ],
)
def test_bad_npz_files_are_one_line_exit_2(user, tmp_path, capsys, case, expected):
    d, x, y, m, n = user
    f = tmp_path / "bad.npz"
    if case == "float_labels":
        np.savez(f, x=x[m], y=y[m] + 0.5)
    elif case == "nan":
        np.savez(f, x=np.full_like(x[m], np.nan), y=y[m])
    elif case == "wrong_shape":
        np.savez(f, x=x[m][:, :, :4], y=y[m])
    elif case == "truncated":
        f.write_bytes((d / "members.npz").read_bytes()[:500])
    else:
        np.savez(f, x=x[m], y=y[m][:, None])
    assert audit(user, tmp_path, members={"source": "npz", "path": str(f)}) == 2
    assert expected in error_line(capsys)


def test_tables_are_encoded_once_for_the_audit_and_never_rescaled(user, tmp_path):
    """Before: members and non-members tables were each standardised with their own mean and std, so
    the model saw other inputs than it was trained on (a real leak, LOSS AUC 0.80, read as 0.485).
    Now the audit's tables keep their raw values: LOSS through CSV tables equals LOSS through the npz."""
    d, x, y, m, n = user
    for name, idx in (("m", m), ("n", n)):
        df = pd.DataFrame(x[idx].reshape(len(idx), -1), columns=[f"p{i}" for i in range(64)])
        df["label"] = y[idx]
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert audit(user, tmp_path / "a") == 0
    members, nonmembers = ({"source": "table", "path": str(tmp_path / f"{k}.csv")} for k in "mn")
    # a flat table feeds an MLP whose first layer flattens (1, 8, 8): the same 64 numbers in the same order
    assert audit(user, tmp_path / "b", members=members, nonmembers=nonmembers) == 0
    a, b = findings(tmp_path / "a")["loss"], findings(tmp_path / "b")["loss"]
    assert b["metrics"]["auc"]["value"] == pytest.approx(a["metrics"]["auc"]["value"], abs=1e-6)


def test_joint_table_encoding_aligns_categories_and_keeps_label_indices(tmp_path):
    """A category only one file has still gets the same column in every file; integer labels are class
    indices even when one file lacks a class (factorising per file renumbered them)."""
    from mlaudit.data.formats import read_frame, read_table, table_encoding

    pd.DataFrame({"age": [1.5, 2.0], "city": ["a", "a"], "label": [2, 2]}).to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame({"age": [3.0, 4.0], "city": ["a", "b"], "label": [0, 1]}).to_csv(tmp_path / "n.csv", index=False)
    cols, classes = table_encoding([read_frame(tmp_path / "m.csv"), read_frame(tmp_path / "n.csv")], label="label")
    assert cols == ["age", "city_a", "city_b"] and classes == ["0", "1", "2"]
    m = read_table(tmp_path / "m.csv", label="label", columns=cols, classes=classes)
    assert m.x.tolist() == [[1.5, 1.0, 0.0], [2.0, 1.0, 0.0]] and m.y.tolist() == [2, 2]


def test_text_from_a_csv_column_and_an_npz_string_array(tmp_path):
    from mlaudit.data import read_jsonl, read_npz, read_table
    from mlaudit.errors import InputError

    docs = [f"document number {i} about {w}" for i, w in enumerate(["cats", "dogs"] * 40)]
    pd.DataFrame({"body": docs, "label": [0, 1] * 40}).to_csv(tmp_path / "t.csv", index=False)
    d = read_table(tmp_path / "t.csv", label="label", text="body")
    assert d.kind == "text" and d.x[3] == docs[3] and d.y[:4].tolist() == [0, 1, 0, 1]
    with pytest.raises(InputError, match="looks like free text .* set text_field: body"):
        read_table(tmp_path / "t.csv", label="label")  # before: one one-hot column per document
    (tmp_path / "bin.jsonl").write_bytes(b'{"text": "\x81"}')  # found by the fuzz test: a traceback, exit 4
    with pytest.raises(InputError, match="is not UTF-8 text"):
        read_jsonl(tmp_path / "bin.jsonl")
    np.savez(tmp_path / "t.npz", x=np.array(docs), y=np.array([0, 1] * 40))
    t = read_npz(tmp_path / "t.npz")
    assert t.kind == "text" and t.x[5] == docs[5]


def test_image_folders_bad_paths_bad_files_and_grayscale(tmp_path):
    from PIL import Image

    from mlaudit.data import read_image_folder
    from mlaudit.errors import InputError

    for cls in ("a", "b"):
        (tmp_path / "g" / cls).mkdir(parents=True)
        Image.fromarray(np.full((6, 5), 200 if cls == "a" else 10, np.uint8), "L").save(tmp_path / "g" / cls / "0.png")
    d = read_image_folder(tmp_path / "g")  # auto: grayscale files give one channel (before: always RGB)
    assert d.x.shape == (2, 1, 6, 5) and d.x[0, 0, 0, 0] == pytest.approx(200 / 255)
    assert read_image_folder(tmp_path / "g", color_mode="rgb").x.shape == (2, 3, 6, 5)
    with pytest.raises(InputError, match="is a file"):  # before: NotADirectoryError traceback
        read_image_folder(tmp_path / "g" / "a" / "0.png")
    (tmp_path / "g" / "a" / "1.png").write_text("not an image")
    with pytest.raises(InputError, match="1.png' is not a readable image"):  # before: traceback
        read_image_folder(tmp_path / "g")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "is empty"),  # before: ran the built-in Fashion-MNIST audit for minutes
        ("seed: 0\n", "names no target"),  # the same, with any other key
        ("target: {kind: default}\nseed: -1\n", "seed must be an integer in [0, 2^32), got -1"),  # before: traceback
        ("target: {kind: torch, path: m.safetensors, input_shape: [1, -8, 8]}\n", "input_shape must list positive"),
    ],
)
def test_bad_configs_fail_at_once(tmp_path, capsys, text, expected):
    (tmp_path / "c.yaml").write_text(text)
    assert main(["audit", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert expected in error_line(capsys)


def test_non_utf8_config_and_manifest(tmp_path, capsys):
    (tmp_path / "c.yaml").write_bytes("seed: 0 # caf\xe9\n".encode("latin-1"))
    assert main(["audit", "--config", str(tmp_path / "c.yaml")]) == 2  # before: UnicodeDecodeError, exit 1
    assert "is not UTF-8 text (byte 0xe9" in error_line(capsys)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mlaudit-manifest.json").write_bytes(b'{"files": "\xe9"}')
    assert main(["manifest", "verify", str(tmp_path / "m")]) == 2
    assert "is not an mlaudit manifest" in error_line(capsys)


def test_manifest_create_never_silently_re_pins(tmp_path, capsys):
    (tmp_path / "w.bin").write_bytes(b"weights")
    assert main(["manifest", "create", str(tmp_path)]) == 0
    (tmp_path / "w.bin").write_bytes(b"tampered")
    assert main(["manifest", "create", str(tmp_path)]) == 2  # before: re-pinned the tampered file, exit 0
    assert "1 changed, 0 missing, 0 new files differ" in error_line(capsys)
    assert main(["manifest", "verify", str(tmp_path)]) == 1  # the old pin still stands
    assert main(["manifest", "create", str(tmp_path), "--update"]) == 0
    assert main(["manifest", "verify", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["manifest", "create", str(tmp_path), "--manifest", str(tmp_path / "no" / "m.json")]) == 2
    assert "does not exist" in error_line(capsys)


def test_scan_unknown_binary_empty_folder_and_missing_output_folder(tmp_path, capsys):
    (tmp_path / "rand.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    assert main(["scan", str(tmp_path / "rand.bin")]) == 2  # before: LOW "not scanned", exit 0
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert main(["scan", str(tmp_path / "empty")]) == 2  # before: no output, exit 0
    assert "no files found" in error_line(capsys)
    out = str(tmp_path / "nope" / "x.json")
    assert main(["scan", str(tmp_path / "rand.bin"), "--format", "json", "--output", out]) == 2  # before: traceback
    assert "--output folder" in error_line(capsys)


def test_scan_explains_a_whole_pickled_model_from_main(tmp_path):
    """torch.save(model) of a class defined in the saving script: the verdict stays CRITICAL, and the
    explanation names __main__ (before: 'reaches a dunder attribute (__builtins__, ...)')."""
    from mlaudit.supplychain.scan.policy import classify

    v = classify("__main__", "MyNet")
    assert v.kind == "main-module-import" and "__main__" in v.why and "__builtins__" not in v.why
    assert classify("builtins", "__import__").kind != "main-module-import"


def test_backdoor_build_flags_fail_before_any_work(tmp_path, capsys):
    assert main(["backdoor", "build", "--traps", "-5", "--out", str(tmp_path / "o")]) == 2  # before: ValueError
    assert "--traps must be at least 1, got -5" in error_line(capsys)
    (tmp_path / "f").write_text("x")
    assert main(["backdoor", "build", "--out", str(tmp_path / "f")]) == 2  # before: FileExistsError, exit 1
    assert "is a file" in error_line(capsys)


def test_a_second_audit_into_the_same_folder_is_refused(tmp_path):
    from mlaudit.errors import InputError
    from mlaudit.runner.audit import exclusive

    with exclusive(tmp_path):
        with pytest.raises(InputError, match=r"another audit \(pid \d+\) is writing to"):
            with exclusive(tmp_path):
                pass
    with exclusive(tmp_path):  # released: the next audit may write
        pass


def test_an_internal_error_is_exit_4_with_one_line(monkeypatch, capsys, tmp_path):
    """A defect (an exception mlaudit did not raise on purpose) is not a finding: exit 4, never 1."""
    import mlaudit.supplychain.scan as scan

    def broken(paths):
        raise RuntimeError("boom")

    monkeypatch.setattr(scan, "scan_paths", broken)
    (tmp_path / "a.npy").write_bytes(b"x")
    assert main(["scan", str(tmp_path / "a.npy")]) == EXIT_INTERNAL == 4
    assert "internal error in scan: RuntimeError: boom" in error_line(capsys)
    assert main(["--debug", "scan", str(tmp_path / "a.npy")]) == 4
    assert "Traceback" in capsys.readouterr().err


def test_backdoor_detect_matches_a_fine_tunes_prefixed_names():
    """A fine-tune's 'bert.' prefix and old LayerNorm names: before, no name matched and '4 base tensors
    are absent' was reported at MEDIUM instead of a diff. Now the tensors are matched and diffed, and a
    model with no tensor in common says that no diff was possible."""
    from mlaudit.supplychain.privacy_backdoor.detect import align, detect

    rng = np.random.default_rng(0)
    base = {f"encoder.layer.{i}.w": rng.normal(size=(40, 8)).astype(np.float32) for i in range(3)}
    base["embeddings.LayerNorm.gamma"] = np.ones(8, np.float32)
    ft = {f"bert.{k}": v + 0.01 for k, v in base.items()}
    ft = {k.replace("gamma", "weight"): v for k, v in ft.items()}
    ft["bert.encoder.layer.0.w"] = base["encoder.layer.0.w"].copy()
    ft["bert.encoder.layer.0.w"][3] += 1.0  # one row of 40 edited, the rest bit-identical: a targeted edit
    ft["classifier.weight"] = np.zeros((2, 8), np.float32)
    assert set(align(ft, base)) >= {"encoder.layer.0.w", "embeddings.LayerNorm.weight"}
    found = detect(ft, base)
    assert [(f.check, f.layer, f.units) for f in found] == [("sparse-diff", "encoder.layer.0.w", (3,))]
    (none,) = detect({"x.y": np.zeros(3)}, base)
    assert none.check == "no-diff" and "no diff against the base was possible" in none.message


def _causal_lm_folder(folder):
    """A one-layer GPT-2 causal LM saved as transformers does, with MiniLM's tokenizer files."""
    import shutil

    from transformers import GPT2Config, GPT2LMHeadModel

    from mlaudit.targets.huggingface import minilm_path

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=30522, n_layer=1, n_head=2, n_embd=16, n_positions=64)).save_pretrained(
        folder, safe_serialization=True
    )
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm_path() / f, folder / f)
    return folder


@pytest.mark.parametrize("model", ["bare encoder", "causal LM"])
def test_a_folder_without_a_classifier_is_not_audited_with_a_random_head(tmp_path, capsys, model):
    """Before: all-MiniLM-L6-v2 (a BertModel, no classifier) or a causal LM folder was audited with a
    fresh random head and exited 0 with every finding INFO; a causal LM with only classifier attacks
    selected would give an empty report."""
    from mlaudit.targets.huggingface import minilm_path

    path = minilm_path() if model == "bare encoder" else _causal_lm_folder(tmp_path / "lm")
    # a causal LM is audited as a language model now: a classifier attack alone cannot run on it
    expected = (
        "(BertModel) has no trained sequence-classification head"
        if model == "bare encoder"
        else "none of the selected attacks ['loss'] can run on this target: loss applies to classifiers; this "
        "target is a language model"
    )

    for f in ("a", "b"):
        (tmp_path / f"{f}.jsonl").write_text(
            "".join(json.dumps({"text": f"{f} {i}", "label": i % 2}) + "\n" for i in range(8))
        )
    cfg = {
        "target": {"kind": "huggingface", "path": str(path), "num_classes": 2},
        "data": {
            k: {"source": "jsonl", "path": str(tmp_path / f"{f}.jsonl")}
            for k, f in (("members", "a"), ("nonmembers", "b"))
        },
        "attacks": ["loss"],
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    logging.getLogger("transformers").setLevel(logging.ERROR)
    assert main(["audit", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert expected in error_line(capsys)


def test_a_clean_pickle_is_not_called_safe(tmp_path, capsys):
    """Before: 'sk.pkl [pickle]: clean' for the scikit-learn pickle that `mlaudit audit` refuses."""
    import pickle

    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    (tmp_path / "sk.pkl").write_bytes(pickle.dumps(model))
    assert main(["scan", str(tmp_path / "sk.pkl")]) == 0
    assert "clean (no payload found; still a pickle: loading it trusts the file" in capsys.readouterr().out


def test_the_evasion_title_names_only_what_ran():
    """Before: 'transferred from the public base' with no base given."""
    from mlaudit.attacks.evasion.finding import _title

    class R:
        hsj_l2 = np.zeros(0)
        transfers: dict = {}

    assert _title(R()) == "Adversarial examples: white-box and score-only"
    R.hsj_l2, R.transfers = np.ones(3), {"surrogate-pgd": None}
    assert _title(R()) == "Adversarial examples: white-box, score-only, label-only and transferred from a surrogate"


def test_an_adapter_folder_loads_from_safetensors_only(tmp_path):
    """An adapter with pickled weights, or pickled files beside its safetensors, is refused before loading."""
    from mlaudit.errors import UnsafeFileError
    from mlaudit.targets.huggingface import check_adapter

    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(UnsafeFileError, match="no adapter_model.safetensors"):
        check_adapter(tmp_path)
    save_file({"w": torch.zeros(2)}, tmp_path / "adapter_model.safetensors")
    with pytest.raises(UnsafeFileError, match=r"pickle-based files \(adapter_model.bin\) beside"):
        check_adapter(tmp_path)
    (tmp_path / "adapter_model.bin").unlink()
    check_adapter(tmp_path)  # safetensors alone: accepted
