"""Model-file scanning: static analysis that never runs what it reads."""

from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError
from mlaudit.supplychain.scan.scanner import scan_file, scan_folder, scan_paths

__all__ = ["FileResult", "Issue", "ScanError", "scan_file", "scan_folder", "scan_paths"]
