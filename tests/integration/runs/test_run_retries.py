"""With THREADWATCH_RUN_RETRIES, the run of a killed worker is executed again elsewhere."""

from __future__ import annotations

import pytest
from langgraph_sdk.client import SyncLangGraphClient

from tests.integration.run_stack import RunStack, wait_for
from threadwatch.store.keys import Keys


@pytest.fixture(scope="module")
def run_stack_env() -> dict[str, str]:
    return {"THREADWATCH_RUN_RETRIES": "1"}


def test_a_lost_run_goes_back_to_the_queue_and_ends_on_another_worker(
    sdk: SyncLangGraphClient, run_stack: RunStack
) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "agent", input={"sleep": 3, "ask": False})
    run_id = run["run_id"]
    wait_for(lambda: sdk.runs.get(thread_id, run_id)["status"] == "running")
    lost_on = run_stack.executed_by(run_id)
    killed = run_stack.worker(lost_on)
    run_stack.kill(killed)  # a crash mid-run
    assert sdk.runs.join(thread_id, run_id)["count"] == 1  # the step ran to its end, once
    assert sdk.runs.get(thread_id, run_id)["status"] == "success"
    assert run_stack.executed_by(run_id) != lost_on
    assert sdk.threads.get(thread_id)["status"] == "idle"
    metrics = run_stack.redis.hgetall(Keys().metrics())
    assert metrics[b"reclaimed|requeued"] == b"1"
    assert b"reclaimed|failed" not in metrics
    run_stack.replace(killed)
