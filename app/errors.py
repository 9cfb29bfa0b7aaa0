"""One exception tree for the whole service; the API maps it to HTTP in one handler."""

from __future__ import annotations

from collections.abc import Iterable


class ThreadwatchError(Exception):
    """Base error: ``detail`` is safe to show to clients, ``status_code`` is its HTTP code."""

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequestError(ThreadwatchError):
    status_code = 400


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


class ThreadBusy(ConflictError):
    """The thread has a pending or running run, so its state cannot be changed directly
    (the production LangGraph server's text)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__("Thread is busy with a running job. Cannot update state.")
        self.thread_id = thread_id


class RunRejected(ConflictError):
    """multitask_strategy="reject" while the thread has a run in flight (LangGraph's text)."""

    def __init__(self) -> None:
        super().__init__(
            "Thread is already running a task. Wait for it to finish or choose a different "
            "multitask strategy."
        )


class ConcurrentUpdate(ConflictError):
    """The optimistic metadata check kept failing (a very hot thread)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread with ID {thread_id} was modified concurrently; retry")


class InvalidAssistant(InvalidInputError):
    """Neither a UUID nor a registered graph name (LangGraph's exact 422 text)."""

    def __init__(self, assistant_id: str, graph_ids: Iterable[str]) -> None:
        super().__init__(
            f"Invalid assistant: '{assistant_id}'. Must be either:\n"
            "- A valid assistant UUID, or\n"
            f"- One of the registered graphs: {', '.join(graph_ids)}"
        )


class NoSuchAssistant(NotFoundError):
    """The assistant does not exist (LangGraph's text for patch, versions and set latest)."""

    def __init__(self, assistant_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"Assistant {assistant_id} not found")
        self.assistant_id = assistant_id


class AssistantVersionNotFound(NotFoundError):
    def __init__(self, assistant_id: str, version: int | None) -> None:
        super().__init__(f"Version {version} not found for assistant {assistant_id}")


class AssistantExists(ConflictError):
    def __init__(self, assistant_id: str) -> None:
        super().__init__(f"Assistant {assistant_id} already exists")


class WebhookUrlRejected(InvalidInputError):
    """A webhook URL the policy refuses; ``detail`` is LangGraph's text (app/webhooks/policy.py)."""


class StoreUnwritable(ThreadwatchError):
    """Redis refuses writes: full (maxmemory with noeviction: OOM) or read-only (a replica,
    during a failover). Retryable once it takes writes again: a 503 with Retry-After."""

    status_code = 503

    def __init__(self, why: str) -> None:
        super().__init__(f"The store refuses writes ({why}); nothing of this request was written.")


class BatchIncomplete(ThreadwatchError):
    """A batch of run events of which Redis took only some: ``applied`` says which. Each
    event is atomic and idempotent, so sending the whole batch again is safe."""

    status_code = 503

    def __init__(self, applied: list[object], total: int, why: str) -> None:
        super().__init__(
            f"The store refused writes ({why}) part way: {len(applied)} of {total} events "
            "were applied (listed in results), the others were not. Sending the whole batch "
            "again is safe: applied events come back as duplicates."
        )
        self.applied = applied
