"""Memorisation on a user's language model: a tiny character Llama fine-tuned on 80 verses with Faker
SSNs inserted 1-20 times after "my social security number is ". Canary exposure, prefix probes and
training-data extraction, through the registry, on the members and the declared format; never-inserted
draws of the format are the chance level. Also the PII rules (checksums) on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.memorization.exposure import SSN_PREFIX, faker_ssns, insert_canaries
from mlaudit.attacks.memorization.pii import find_pii, luhn
from mlaudit.attacks.memorization.secrets import SecretFormat
from mlaudit.data import Dataset
from mlaudit.errors import ConfigError
from mlaudit.registry import get_attack
from mlaudit.targets.language_model import LanguageModelTarget
from mlaudit.threat import Access, Knowledge, ThreatModel
from tests.fixtures.own_lm import train_lm as tiny

COUNTS = (1, 4, 10, 20)


def test_pii_is_reported_only_where_its_checks_pass() -> None:
    found = find_pii(
        "ssn 123-45-6789, 000-12-3456, 666-12-1234, 901-11-1111; card 4111 1111 1111 1111, 4111 1111 1111 1112; "
        "a@b.co; call (212) 555-0182, 123-456-7890, +1 415.555.2671"
    )
    assert [(p.kind, p.text) for p in found] == [
        ("ssn", "123-45-6789"), ("card", "4111 1111 1111 1111"), ("email", "a@b.co"),
        ("phone", "(212) 555-0182"), ("phone", "+1 415.555.2671"),
    ]  # fmt: skip
    assert luhn("79927398713") and not luhn("79927398710")  # the checksum's textbook example


def test_secret_formats_parse_count_and_refuse_a_template_without_placeholders() -> None:
    f = SecretFormat("id ", "AA-dd\\d")
    assert f.bits == pytest.approx(2 * np.log2(26) + 2 * np.log2(10))
    assert f.draw(np.random.default_rng(0))[-1] == "d"  # the escaped placeholder is a literal
    assert f.found(["id QZ-12d and id QZ-12d", "id qz-12d", "id QZ-123d"]) == {"QZ-12d": 2}
    with pytest.raises(ConfigError, match="no placeholder"):
        SecretFormat("id ", "---")


@pytest.fixture(scope="module")
def memorised() -> dict[str, object]:
    members = tiny.lines()[0]
    secrets = dict(zip(faker_ssns(len(COUNTS), seed=3), COUNTS, strict=True))
    docs = insert_canaries(members, secrets, rng=np.random.default_rng(0))
    base, model, tok = tiny.base_and_tuned(docs, epochs=20)
    members_ds = Dataset(docs, np.zeros(len(docs), np.int64), ("document",), "members", "text")
    fmt = SecretFormat(SSN_PREFIX, "ddd-dd-dddd")
    inputs = AttackInputs(members_ds, members_ds, secrets=(fmt,), probes=("and the lord said",),
                          base=LanguageModelTarget(base, tok, name="base"))  # fmt: skip
    tm = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset({Knowledge.BASE_MODEL}))
    return {"view": LanguageModelTarget(model, tok, name="tuned").restricted(tm), "inputs": inputs, "secrets": secrets}


def test_canary_exposure_is_high_for_secrets_inserted_ten_times_and_at_chance_for_never_inserted(memorised) -> None:
    f = get_attack("canary-exposure").run(memorised["view"], memorised["inputs"], seed=0)
    (table,) = [a for a in f.artifacts if a.title == "Canaries"]
    exposure = {row[1]: (row[0], float(row[3])) for row in table.data["rows"]}
    print(sorted(exposure.values()))
    assert {k for k, _ in exposure.values()} == {0, *COUNTS}  # the members' secrets were found with their counts
    # a never-inserted secret's exposure is -log2 of a uniform rank: exponential, mean 1/ln 2 = 1.44 bits; the
    # mean of 4 reaches 4 bits with probability P(Gamma(4, 1.44) >= 16) = 0.5%
    assert f.metrics["mean_exposure_0_insertions"].value < 4
    # of 29.9 bits: the model ranks a secret seen 10+ times above 2^15 = 33,000 of the 10^9 candidates (measured:
    # 23.6 and 24.9 bits for 10 and 20 insertions, 15.3 for one; never-inserted 0.3-3.5)
    assert min(e for k, e in exposure.values() if k >= 10) >= 15
    assert memorised["view"].queries > 1000  # the candidates were scored through the target


def test_prefix_probes_and_sampled_extraction_recover_an_inserted_secret(memorised) -> None:
    probe = get_attack("prefix-probe").run(memorised["view"], memorised["inputs"], seed=0)
    print(probe.summary)
    assert probe.metrics["secrets_extracted"].value >= 1 and probe.severity.name == "HIGH"
    extraction = get_attack("training-data-extraction").run(memorised["view"], memorised["inputs"], seed=0)
    print(extraction.summary)
    assert extraction.config["metric"] == "reference" and extraction.metrics["secrets_recovered"].value >= 1


def test_the_html_report_marks_personal_data_in_generated_text_and_escapes_the_rest() -> None:
    from mlaudit.report.html import _table

    html = _table({"columns": ["rank", "generation"], "rows": [[1, "<i>my ssn is 123-45-6789, not 000-12-3456"]],
                   "pii_columns": ["generation"]})  # fmt: skip
    assert "<mark title='ssn'>123-45-6789</mark>" in html and "&lt;i&gt;" in html
    assert "<mark title='ssn'>000-12-3456" not in html  # area 000 is never issued: not marked
