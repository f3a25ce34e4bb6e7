"""An audit plan is a list of independent jobs; executors run them (sequentially today)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlaudit.findings import Finding


class Progress(Protocol):
    """What long-running steps report; the CLI draws it, the library never prints."""

    def start(self, key: str, description: str, total: int) -> None: ...
    def update(self, key: str, completed: int) -> None: ...
    def finish(self, key: str) -> None: ...


class NullProgress:
    def start(self, key: str, description: str, total: int) -> None:
        pass

    def update(self, key: str, completed: int) -> None:
        pass

    def finish(self, key: str) -> None:
        pass


@dataclass(frozen=True)
class Job:
    """One unit of work that yields one Finding. `fn` is a top-level function and `kwargs` plain
    picklable values, so that a process-pool or Ray executor can ship the job unchanged."""

    id: str
    description: str
    fn: Callable[..., Finding]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Finding:
        return self.fn(**self.kwargs)


def check_unique(jobs: list[Job]) -> None:
    seen: set[str] = set()
    for j in jobs:
        if j.id in seen:
            raise ValueError(f"duplicate job id {j.id!r} in the audit plan")
        seen.add(j.id)
