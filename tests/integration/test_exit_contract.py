"""The exit-code contract, driven by generated bad input (hypothesis): whatever the config, file or flag,
the CLI exits 0 or 1 only for a completed audit, 2 with exactly one line on stderr for a usage or input
error, and never 4 (an internal error: a defect) or a traceback.

Configs are drawn from fragments that are each plausible (the fixture's real model and data) or wrong
in one way (a type, a range, a path, a file's bytes), so hypothesis explores combinations rather than
mostly-unparseable noise; runs are derandomised (the same cases every run) so CI cannot flake."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlaudit.cli import main

from .test_input_validation import user  # noqa: F401  (the module fixture: a digits MLP and its data)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOISE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def maybe(valid, noise=NOISE):
    """A fragment that is right (5 times in 6), or wrong in one way: most configs then get past their
    first keys, so the checks deep in the audit (files, data, model) are reached too."""
    right = valid if isinstance(valid, st.SearchStrategy) else st.just(valid)
    return st.tuples(st.integers(0, 99), right, noise).map(lambda t: t[1] if t[0] < 85 else t[2])


def files(d):
    """Paths the configs may name: the real ones, and bad files of every data kind."""
    return st.sampled_from(
        [
            str(d / "members.npz"),
            str(d / "nonmembers.npz"),
            str(d / "nonmembers.npz"),
            str(d / "nonmembers.npz"),
            str(d / "mlp.safetensors"),
            str(d / "garbage.npz"),
            str(d / "garbage.csv"),
            str(d / "garbage.jsonl"),
            str(d / "garbage.png"),
            str(d / "missing.npz"),
            str(d),
            "",
        ]
    )


def source(d):
    return st.fixed_dictionaries(
        {
            "source": maybe(st.sampled_from(["npz", "npz", "table", "jsonl", "image-folder", "idx"])),
            "path": maybe(files(d)),
        },
        optional={
            "label_column": maybe("label"),
            "limit": maybe(st.integers(-5, 400)),
            "color_mode": maybe(st.sampled_from(["auto", "rgb", "cmyk"])),
            "x_key": maybe("x"),
        },
    )


def configs(d):
    target = st.fixed_dictionaries(
        {
            "kind": maybe(st.sampled_from(["torch", "torch", "torch", "onnx", "sklearn", "huggingface", "nope"])),
            "path": maybe(
                st.sampled_from([str(d / "mlp.safetensors")] * 4).flatmap(lambda p: st.one_of(st.just(p), files(d)))
            ),
            "architecture": maybe(st.sampled_from(["mlp", "mlp", "cnn", "resnet"])),
            "architecture_args": maybe({"hidden": [32]}),
            "input_shape": maybe(st.sampled_from([[1, 8, 8], [1, 8, 8], [64], [1, -8, 8], [3, 8, 8]])),
            "num_classes": maybe(st.sampled_from([10, 10, 10, 2, 1, 12])),
        },
    )
    data = st.fixed_dictionaries({"members": maybe(source(d)), "nonmembers": maybe(source(d))})
    attacks = st.lists(st.sampled_from(["loss", "lira", "nope", "gradient-norm"]), min_size=1, max_size=3)
    return st.fixed_dictionaries(
        {"target": maybe(target), "data": maybe(data), "attacks": maybe(attacks)},
        optional={
            "seed": maybe(st.integers(-3, 2**33)),
            "profile": maybe(st.sampled_from(["quick", "full", "huge"])),
            "threat_model": maybe(
                st.fixed_dictionaries(
                    {"access": maybe(st.sampled_from(["labels", "probabilities", "weights", "root"]))},
                    optional={"query_budget": maybe(st.integers(-10, 10**6))},
                )
            ),
            "recipe": maybe(st.fixed_dictionaries({"epochs": maybe(st.integers(-1, 2))})),
        },
    )


@pytest.fixture(scope="module")
def garbage(user):  # noqa: F811
    d = user[0]
    rng = np.random.default_rng(0)
    for suffix in ("npz", "csv", "jsonl", "png"):
        (d / f"garbage.{suffix}").write_bytes(rng.bytes(300))
    return d


def check(rc: int, err: str, out: str = "") -> None:
    assert "Traceback" not in err, err
    assert rc in (0, 1, 2), (rc, err)
    if rc == 2 and "NOT SCANNED" not in out:  # scan's exit 2 for a file it could not scan is its report
        assert len(err.strip().splitlines()) == 1 and err.startswith("mlaudit: error: "), err


def test_generated_configs_keep_the_contract(garbage, tmp_path_factory, capsys):
    @SETTINGS
    @given(configs(garbage))
    def one(cfg):
        work = tmp_path_factory.mktemp("fuzz")
        (work / "c.yaml").write_text(yaml.safe_dump(cfg))
        rc = main(["audit", "--config", str(work / "c.yaml"), "--out", str(work / "r")])
        err = capsys.readouterr().err
        if os.environ.get("MLAUDIT_FUZZ_LOG"):  # to see what the cases reach: MLAUDIT_FUZZ_LOG=file
            with open(os.environ["MLAUDIT_FUZZ_LOG"], "a") as f:
                f.write(f"rc={rc} {err.strip()[:160]!r}\n")
        check(rc, err)

    one()


def test_generated_bytes_as_config_scan_and_manifest_keep_the_contract(tmp_path_factory, capsys):
    @SETTINGS
    @given(st.binary(max_size=400), st.sampled_from([".yaml", ".pt", ".pkl", ".safetensors", ".npz", ".zip"]))
    def one(raw, suffix):
        work = tmp_path_factory.mktemp("bytes")
        f = work / f"file{suffix}"
        f.write_bytes(raw)
        if suffix == ".yaml":
            check(main(["audit", "--config", str(f), "--out", str(work / "r")]), capsys.readouterr().err)
        rc = main(["scan", str(f)])
        captured = capsys.readouterr()
        check(rc, captured.err, captured.out)
        (work / "m").mkdir()
        (work / "m" / "mlaudit-manifest.json").write_bytes(raw)
        check(main(["manifest", "verify", str(work / "m")]), capsys.readouterr().err)

    one()


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "--profile", "huge"],
        ["audit", "--fail-on", "severe", "--config", "builtin:nope"],
        ["scan"],
        ["scan", "--fail-on", "worst", "x"],
        ["backdoor", "build"],
        ["backdoor", "detect", "/nonexistent"],
        ["backdoor", "reconstruct", "/nonexistent"],
        ["manifest", "create", "/nonexistent"],
        ["init", "/nonexistent"],
        ["frobnicate"],
    ],
)
def test_bad_flags_are_exit_2_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:  # argparse's own errors exit through SystemExit
        rc = main(argv)
        raise SystemExit(rc)
    check(int(e.value.code), capsys.readouterr().err)
    assert e.value.code == 2
