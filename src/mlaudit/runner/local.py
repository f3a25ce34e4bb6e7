"""Sequential executor with per-job checkpoints: an interrupted audit resumes without redoing jobs."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from mlaudit.findings import Finding, finding_from_dict
from mlaudit.runner.plan import Job, NullProgress, Progress, check_unique

log = logging.getLogger(__name__)


class SequentialExecutor:
    """Runs jobs one after another in this process.

    Args:
        checkpoint_dir: where each finished job's Finding is written (JSON, atomically). Jobs whose
            checkpoint exists are loaded instead of run. None disables checkpoints.
    """

    def __init__(self, checkpoint_dir: str | Path | None = None) -> None:
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    def run(self, jobs: list[Job], progress: Progress | None = None) -> list[Finding]:
        check_unique(jobs)
        progress = progress or NullProgress()
        progress.start("jobs", "attacks", len(jobs))
        out = []
        for i, job in enumerate(jobs):
            finding = self._load(job) or self._save(job, job())
            out.append(finding)
            progress.update("jobs", i + 1)
        progress.finish("jobs")
        return out

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
