"""Every payload technique of the corpus is flagged at medium or above; the case names its advisory."""

import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

from ..corpus.payloads import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_payload_detected(case, tmp_path):
    path = case.build(tmp_path)
    results = scan_paths([path])
    assert not [r.error for r in results if r.error], f"{case.name}: could not be scanned"
    worst = max((i.severity for r in results for i in r.issues), default=Severity.INFO)
    assert worst >= Severity.MEDIUM, f"{case.name} ({case.reference}) not flagged"
    assert case.reference  # every technique cites where it comes from
