"""What long-running steps report; the CLI draws it, the library never prints."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
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
