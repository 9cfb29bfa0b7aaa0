"""/runs/crons and /threads/{id}/runs/crons: LangGraph's Cron shape and defaults, search,
count, patch and delete, and the error texts and codes the official server answers (each
checked against `langgraph dev` 0.16.7)."""

from __future__ import annotations

from typing import Any

import pytest
from fakeredis import FakeRedis
from fastapi.testclient import TestClient

from tests.support import FIXTURES, load_project_graphs
from tests.unit.helpers import make_client
from threadwatch.graphs import GraphRegistry
from threadwatch.runs.crons import CronService

AGENT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
UNKNOWN = "00000000-0000-0000-0000-000000000000"
CRON_KEYS = [
    "cron_id",
    "assistant_id",
    "thread_id",
    "user_id",
    "end_time",
    "schedule",
    "timezone",
    "payload",
    "next_run_date",
    "metadata",
    "on_run_completed",
    "enabled",
    "created_at",
    "updated_at",
]


@pytest.fixture(scope="module")
def registry() -> GraphRegistry:
    return load_project_graphs(FIXTURES / "graphs" / "project", TW_FIXTURE_GREETING="")


@pytest.fixture
def client(fake_redis: FakeRedis, registry: GraphRegistry) -> TestClient:
    client = make_client(fake_redis, graphs=registry)
    stores = client.app.state.stores  # type: ignore[attr-defined]
    service = CronService(stores, registry)
    client.app.state.cron_service = service  # type: ignore[attr-defined]
    return client


def create(client: TestClient, thread_id: str | None = None, **body: Any) -> dict[str, Any]:
    path = f"/threads/{thread_id}/runs/crons" if thread_id else "/runs/crons"
    response = client.post(path, json={"assistant_id": "agent", "schedule": "* * * * *", **body})
    assert response.status_code == 200, response.text
    return response.json()


def new_thread(client: TestClient) -> str:
    return str(client.post("/threads", json={}).json()["thread_id"])


def detail(response: Any) -> str:
    return str(response.json()["detail"])


# -- create -------------------------------------------------------------------------------


def test_a_stateless_cron_has_langgraphs_shape_and_defaults(client: TestClient) -> None:
    cron = create(client, schedule="*/5 * * * *", input={"topic": "x"})
    assert list(cron) == CRON_KEYS
    assert cron["assistant_id"] == AGENT_ID
    assert cron["thread_id"] is None and cron["end_time"] is None and cron["timezone"] is None
    assert cron["on_run_completed"] == "delete"
    assert cron["enabled"] is True
    assert cron["metadata"] == {}
    assert cron["payload"] == {
        "input": {"topic": "x"},
        "assistant_id": AGENT_ID,
        "schedule": "*/5 * * * *",
        "config": {"configurable": {"cron_id": cron["cron_id"]}},
    }
    assert cron["next_run_date"].endswith(":00.000000+00:00")
    assert cron["created_at"] == cron["updated_at"]


def test_a_thread_cron_keeps_what_it_was_given(client: TestClient) -> None:
    thread_id = new_thread(client)
    cron = create(
        client,
        thread_id,
        schedule="0 9 * * 1",
        timezone="Europe/Paris",
        metadata={"team": "a"},
        multitask_strategy="reject",
        enabled=False,
        end_time="2030-01-01T00:00:00Z",
        on_run_completed="keep",
    )
    assert cron["thread_id"] == thread_id
    assert cron["on_run_completed"] is None  # a thread's runs keep their thread
    assert cron["enabled"] is False
    assert cron["end_time"] == "2030-01-01T00:00:00.000000+00:00"
    assert cron["metadata"] == {"team": "a"}
    assert cron["payload"]["multitask_strategy"] == "reject"
    assert cron["payload"]["end_time"] == "2030-01-01T00:00:00Z"
    assert client.get(f"/runs/crons/{cron['cron_id']}").json() == cron


def test_an_assistant_by_id(client: TestClient) -> None:
    assert create(client, assistant_id=AGENT_ID.upper())["assistant_id"] == AGENT_ID


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (
            {"schedule": "bad"},
            422,
            "Invalid cron schedule: 'bad'. Reason: Invalid cron schedule. Ensure the schedule "
            "uses the standard cron format (minute hour day_of_month month day_of_week). "
            "Example: '*/5 * * * *' for every 5 minutes.",
        ),
        (
            {"timezone": "Mars/X"},
            422,
            "Invalid timezone: 'Mars/X'. Use IANA timezone format (e.g. 'America/New_York').",
        ),
        ({"assistant_id": "nope"}, 404, "Assistant 'nope' not found"),
        ({"assistant_id": UNKNOWN}, 404, f"Assistant '{UNKNOWN}' not found"),
        ({"assistant_id": None}, 422, "assistant_id: Input should be a valid string"),
        ({"on_run_completed": "x"}, 422, "on_run_completed: Input should be 'delete' or 'keep'"),
    ],
)
def test_create_errors(client: TestClient, body: dict[str, Any], status: int, text: str) -> None:
    response = client.post(
        "/runs/crons", json={"assistant_id": "agent", "schedule": "* * * * *", **body}
    )
    assert response.status_code == status
    assert detail(response).startswith(text)
    assert client.post("/runs/crons/count", json={}).json() == 0


def test_a_cron_needs_its_fields(client: TestClient) -> None:
    """LangGraph's dev server answers 500 here (KeyError); a 422 names the field."""
    response = client.post("/runs/crons", json={"schedule": "* * * * *"})
    assert (response.status_code, detail(response)) == (422, "assistant_id: Field required")
    response = client.post("/runs/crons", json={"assistant_id": "agent", "end_time": "nope"})
    assert response.status_code == 422


def test_a_thread_cron_needs_its_thread(client: TestClient) -> None:
    response = client.post(
        f"/threads/{UNKNOWN}/runs/crons", json={"assistant_id": "agent", "schedule": "* * * * *"}
    )
    assert response.status_code == 404
    assert detail(response) == (
        f"Thread with ID '{UNKNOWN}' not found. Please verify the ID is correct and the "
        "thread hasn't been deleted or expired."
    )
    response = client.post(
        "/threads/nope/runs/crons", json={"assistant_id": "agent", "schedule": "* * * * *"}
    )
    assert (response.status_code, detail(response)) == (422, "Invalid thread ID: must be a UUID")


def test_a_webhook_is_checked(client: TestClient) -> None:
    response = client.post(
        "/runs/crons",
        json={"assistant_id": "agent", "schedule": "* * * * *", "webhook": "http://127.0.0.1/h"},
    )
    assert response.status_code == 422
    assert client.post("/runs/crons/count", json={}).json() == 0


# -- get, patch, delete -------------------------------------------------------------------


def test_get_errors(client: TestClient) -> None:
    response = client.get("/runs/crons/nope")
    assert (response.status_code, detail(response)) == (422, "Invalid cron ID: must be a UUID")
    response = client.get(f"/runs/crons/{UNKNOWN}")
    assert (response.status_code, detail(response)) == (404, "Not Found")


def test_patch_merges_as_langgraph_does(client: TestClient) -> None:
    thread_id = new_thread(client)
    cron = create(
        client,
        thread_id,
        metadata={"team": "a"},
        input={"topic": "y"},
        end_time="2030-01-01T00:00:00Z",
    )
    response = client.patch(
        f"/runs/crons/{cron['cron_id']}",
        json={
            "metadata": {"b": 1},
            "input": {"topic": "z"},
            "end_time": None,
            "schedule": "0 * * * *",
        },
    )
    assert response.status_code == 200
    patched = response.json()
    assert patched["metadata"] == {"team": "a", "b": 1}
    assert patched["end_time"] is None
    assert patched["schedule"] == "0 * * * *"
    assert patched["next_run_date"].endswith(":00:00.000000+00:00")
    assert patched["payload"]["input"] == {"topic": "z"}
    assert patched["payload"]["metadata"] == {"b": 1}
    assert patched["payload"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    assert patched["updated_at"] >= cron["updated_at"]
    assert patched["created_at"] == cron["created_at"]


def test_patch_keeps_end_time_when_absent(client: TestClient) -> None:
    cron = create(client, end_time="2030-01-01T00:00:00Z")
    patched = client.patch(f"/runs/crons/{cron['cron_id']}", json={"enabled": False}).json()
    assert patched["end_time"] == cron["end_time"]
    assert patched["enabled"] is False


def test_patch_errors(client: TestClient) -> None:
    cron_id = create(client)["cron_id"]
    response = client.patch(f"/runs/crons/{cron_id}", json={})
    assert (response.status_code, detail(response)) == (400, "Request body cannot be empty")
    response = client.patch(f"/runs/crons/{UNKNOWN}", json={"enabled": True})
    assert (response.status_code, detail(response)) == (404, f"Cron '{UNKNOWN}' not found")
    response = client.patch(f"/runs/crons/{cron_id}", json={"schedule": "x"})
    assert response.status_code == 422 and detail(response).startswith("Invalid cron schedule")
    response = client.patch(f"/runs/crons/{cron_id}", json={"timezone": "x"})
    assert response.status_code == 422 and detail(response).startswith("Invalid timezone")
    assert client.get(f"/runs/crons/{cron_id}").json()["schedule"] == "* * * * *"


def test_delete(client: TestClient) -> None:
    cron_id = create(client)["cron_id"]
    assert client.delete(f"/runs/crons/{cron_id}").status_code == 204
    response = client.delete(f"/runs/crons/{cron_id}")
    assert (response.status_code, detail(response)) == (404, "Not Found")
    assert client.get(f"/runs/crons/{cron_id}").status_code == 404
    assert client.post("/runs/crons/count", json={}).json() == 0


def test_deleting_a_thread_deletes_its_crons(client: TestClient) -> None:
    thread_id = new_thread(client)
    cron_id = create(client, thread_id)["cron_id"]
    other = create(client)["cron_id"]
    assert client.delete(f"/threads/{thread_id}").status_code == 204
    assert client.get(f"/runs/crons/{cron_id}").status_code == 404
    assert client.get(f"/runs/crons/{other}").status_code == 200


# -- search and count ---------------------------------------------------------------------


def test_search_filters_sorts_and_pages(client: TestClient) -> None:
    thread_id = new_thread(client)
    first = create(client, thread_id, metadata={"team": "a", "tags": ["x", "y"]})
    second = create(client, metadata={"team": "b"}, enabled=False)
    third = create(client, metadata={"team": "a"})

    def ids(body: dict[str, Any]) -> list[str]:
        response = client.post("/runs/crons/search", json=body)
        assert response.status_code == 200, response.text
        return [c["cron_id"] for c in response.json()]

    newest_first = [third["cron_id"], second["cron_id"], first["cron_id"]]
    assert ids({}) == newest_first
    assert ids({"sort_order": "asc"}) == newest_first[::-1]
    assert ids({"thread_id": thread_id}) == [first["cron_id"]]
    assert ids({"assistant_id": AGENT_ID}) == newest_first
    assert ids({"assistant_id": UNKNOWN}) == []
    assert ids({"enabled": False}) == [second["cron_id"]]
    assert ids({"metadata": {"team": "a"}}) == [third["cron_id"], first["cron_id"]]
    assert ids({"metadata": {"tags": ["y"]}}) == [first["cron_id"]]
    # Crons without a thread sort as Postgres sorts NULLs: last ascending, first descending.
    assert ids({"sort_by": "thread_id", "sort_order": "asc"})[0] == first["cron_id"]
    assert ids({"sort_by": "thread_id", "sort_order": "desc"})[-1] == first["cron_id"]
    assert ids({"limit": 2, "offset": 1}) == newest_first[1:]


def test_search_pagination_headers_are_langgraphs(client: TestClient) -> None:
    for _ in range(3):
        create(client)
    response = client.post("/runs/crons/search", json={"limit": 1})
    assert response.headers["x-pagination-total"] == "2"
    assert response.headers["x-pagination-next"] == "1"
    response = client.post("/runs/crons/search", json={"limit": 5, "offset": 1})
    assert response.headers["x-pagination-total"] == "3"
    assert "x-pagination-next" not in response.headers


def test_search_select(client: TestClient) -> None:
    cron = create(client)
    response = client.post("/runs/crons/search", json={"select": ["cron_id", "enabled"]})
    assert response.json() == [{"cron_id": cron["cron_id"], "enabled": True}]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"assistant_id": "agent"}, "Invalid assistant ID: must be a UUID"),
        ({"thread_id": "x"}, "Invalid thread ID: must be a UUID"),
        ({"sort_by": "nope"}, "sort_by: Input should be"),
        ({"select": ["nope"]}, "select[0]: Input should be"),
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
    ],
)
def test_search_errors(client: TestClient, body: dict[str, Any], text: str) -> None:
    response = client.post("/runs/crons/search", json=body)
    assert response.status_code == 422
    assert detail(response).startswith(text)


def test_count(client: TestClient) -> None:
    thread_id = new_thread(client)
    create(client, thread_id, metadata={"team": "a"})
    create(client, metadata={"team": "b"})

    def count(body: dict[str, Any]) -> int:
        response = client.post("/runs/crons/count", json=body)
        assert response.status_code == 200, response.text
        return int(response.json())

    assert count({}) == 2
    assert count({"thread_id": thread_id}) == 1
    assert count({"assistant_id": AGENT_ID, "thread_id": thread_id}) == 1
    assert count({"assistant_id": AGENT_ID}) == 2
    assert count({"metadata": {"team": "b"}}) == 1
    assert client.post("/runs/crons/count", json={"thread_id": "x"}).status_code == 422


def test_pruning_threads_deletes_their_crons(client: TestClient) -> None:
    threads = [new_thread(client) for _ in range(3)]
    crons = [create(client, thread_id)["cron_id"] for thread_id in threads]
    response = client.post("/threads/prune", json={"thread_ids": threads[:2]})
    assert response.json() == {"pruned_count": 2}
    assert [client.get(f"/runs/crons/{c}").status_code for c in crons] == [404, 404, 200]
    assert client.post("/runs/crons/count", json={"thread_id": threads[0]}).json() == 0


def test_keeping_the_latest_checkpoint_keeps_the_crons(client: TestClient) -> None:
    thread_id = new_thread(client)
    cron_id = create(client, thread_id)["cron_id"]
    client.post("/threads/prune", json={"thread_ids": [thread_id], "strategy": "keep_latest"})
    assert client.get(f"/runs/crons/{cron_id}").status_code == 200


def test_deleting_an_assistants_crons(client: TestClient) -> None:
    """For the assistants' DELETE: the crons of an assistant go with it, as on LangGraph."""
    create(client)
    create(client, new_thread(client))
    stores = client.app.state.stores  # type: ignore[attr-defined]
    assert stores.crons.delete_for_assistant(AGENT_ID) == 2
    assert client.post("/runs/crons/count", json={}).json() == 0
    assert client.post("/runs/crons/search", json={}).json() == []


def test_a_schedule_that_never_fires_is_a_422(client: TestClient) -> None:
    response = client.post("/runs/crons", json={"assistant_id": "agent", "schedule": "0 0 31 2 *"})
    assert response.status_code == 422
    assert detail(response).startswith("Invalid cron schedule: '0 0 31 2 *'. Reason: no date")
    cron_id = create(client)["cron_id"]
    response = client.patch(f"/runs/crons/{cron_id}", json={"schedule": "0 0 30 2 *"})
    assert response.status_code == 422
    assert client.get(f"/runs/crons/{cron_id}").json()["schedule"] == "* * * * *"
    assert client.post("/runs/crons/count", json={}).json() == 1


def test_info_says_crons_are_served(client: TestClient) -> None:
    """Clients (Studio) read GET /info's flags to show or hide their crons pages."""
    assert client.get("/info").json()["flags"]["crons"] is True


def test_a_cron_on_a_created_assistant_goes_with_it(client: TestClient) -> None:
    made = client.post("/assistants", json={"graph_id": "agent", "name": "nightly"}).json()
    cron = create(client, assistant_id=made["assistant_id"])
    assert cron["assistant_id"] == made["assistant_id"]
    other = create(client)  # the system assistant's stays
    assert client.delete(f"/assistants/{made['assistant_id']}").status_code == 204
    assert client.get(f"/runs/crons/{cron['cron_id']}").status_code == 404
    assert client.get(f"/runs/crons/{other['cron_id']}").status_code == 200


def test_a_cron_on_an_unknown_assistant_uuid_is_a_404(client: TestClient) -> None:
    unknown = "00000000-0000-4000-8000-00000000abcd"
    path, body = "/runs/crons", {"assistant_id": unknown, "schedule": "* * * * *"}
    response = client.post(path, json=body)
    assert response.status_code == 404
    assert detail(response) == f"Assistant '{unknown}' not found"
