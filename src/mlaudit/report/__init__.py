"""Report writers: records -> JSON (schema-validated) and self-contained HTML. No computation."""

from mlaudit.report.html import render_html, write_html
from mlaudit.report.json import schema, to_json, validate, write_json

__all__ = ["render_html", "schema", "to_json", "validate", "write_html", "write_json"]
