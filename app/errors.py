"""One exception tree for the whole service; the API maps it to HTTP in one handler."""

from __future__ import annotations


class ThreadwatchError(Exception):
    """Base error: ``detail`` is safe to show to clients, ``status_code`` is its HTTP code."""

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(ThreadwatchError):
    status_code = 404


class ConflictError(ThreadwatchError):
    status_code = 409


class InvalidInputError(ThreadwatchError):
    status_code = 422


class ThreadNotFound(NotFoundError):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread with ID {thread_id} not found")


class ThreadExists(ConflictError):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread with ID {thread_id} already exists")


class RunNotFound(NotFoundError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run with ID {run_id} not found")


class RunThreadMismatch(ConflictError):
    def __init__(self, run_id: str, thread_id: str) -> None:
        super().__init__(f"Run with ID {run_id} does not belong to thread {thread_id}")


class ConcurrentUpdate(ConflictError):
    """The optimistic metadata check kept failing (a very hot thread)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread with ID {thread_id} was modified concurrently; retry")
