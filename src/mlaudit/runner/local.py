"""Sequential executor with per-job checkpoints: an interrupted audit resumes without redoing jobs, and a
job that raises is recorded as an error (never checkpointed, so a resumed audit tries it again) while
the others run."""

from __future__ import annotations

import json
import logging
import os
import traceback
from pathlib import Path

from mlaudit.errors import MLAuditError
from mlaudit.findings import Finding, JobError, finding_from_dict
from mlaudit.progress import NullProgress, Progress
from mlaudit.runner.plan import Job, check_unique

log = logging.getLogger(__name__)


class SequentialExecutor:
    """Runs jobs one after another in this process.

    Args:
        checkpoint_dir: where each finished job's Finding is written (JSON, atomically). Jobs whose
            checkpoint exists are loaded instead of run. None disables checkpoints.
    """

    def __init__(self, checkpoint_dir: str | Path | None = None) -> None:
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    def run(self, jobs: list[Job], progress: Progress | None = None) -> tuple[list[Finding], list[JobError]]:
        """(findings of the jobs that finished, errors of those that raised), each in plan order."""
        check_unique(jobs)
        progress = progress or NullProgress()
        progress.start("jobs", "attacks", len(jobs))
        out, errors = [], []
        for i, job in enumerate(jobs):
            try:
                out.append(self._load(job) or self._save(job, job()))
            except Exception as e:  # any job's failure is recorded; the audit goes on
                errors.append(job_error(job, e))
                log.error("job %s failed: %s: %s", job.id, type(e).__name__, e)
            progress.update("jobs", i + 1)
        progress.finish("jobs")
        return out, errors

    def _path(self, job: Job) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / f"{job.id}.json"

    def _load(self, job: Job) -> Finding | None:
        p = self._path(job)
        if p is None or not p.exists():
            return None
        log.info("resuming: %s loaded from %s", job.id, p)
        return finding_from_dict(json.loads(p.read_text()))

    def _save(self, job: Job, finding: Finding) -> Finding:
        p = self._path(job)
        if p is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".tmp")
            tmp.write_text(json.dumps(finding.to_dict()))
            os.replace(tmp, p)  # atomic: a crash never leaves a half-written checkpoint
        return finding


def job_error(job: Job, e: BaseException) -> JobError:
    """The record of a failed job: mlaudit's own errors carry their fix in the message; others are defects
    or missing dependencies, reported with where to look."""
    fix = "see the message" if isinstance(e, MLAuditError) else "rerun with --debug for the traceback and report it"
    if isinstance(e, ImportError):
        fix = f"install the missing module ({e.name or 'see the message'}), e.g. make setup"
    return JobError(job.id, type(e).__name__, str(e), fix, "".join(traceback.format_exception(e)))
