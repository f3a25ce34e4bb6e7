"""Report writers: records -> JSON (schema-validated), self-contained HTML, SARIF. No computation.

Import the writer you need (`mlaudit.report.json`, `.html`, `.sarif`): the HTML writer pulls in
matplotlib, which the scanner's command line must not pay for.
"""
