"""The JSON Schemas of what the API answers, for its OpenAPI document (openapi.py).

The routes build their answers as dicts (stored JSON spliced in unchanged), so these are
written out here rather than derived from response models. They say what a client may rely
on: the fields' types, those always present, and the status values; more fields may come
(as LangGraph's do). ``select`` on a search keeps only the fields asked for, so list items
there require nothing.
"""

from __future__ import annotations

from typing import Any

from threadwatch.domain import EventResult, RunStatus, ThreadStatus

Schema = dict[str, Any]

UUID: Schema = {"type": "string", "format": "uuid"}
TIME: Schema = {"type": "string", "format": "date-time"}
OBJECT: Schema = {"type": "object"}
ANY: Schema = {}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def record(properties: dict[str, Schema], required: list[str], title: str) -> Schema:
    return {"type": "object", "title": title, "properties": properties, "required": required}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(schema: Schema) -> Schema:
    return {"type": "array", "items": schema}


THREAD_FIELDS: dict[str, Schema] = {
    "thread_id": UUID,
    "created_at": TIME,
    "updated_at": TIME,
    "state_updated_at": TIME,
    "status_since": TIME,
    "metadata": OBJECT,
    "status": {"type": "string", "enum": [s.value for s in ThreadStatus]},
    "config": OBJECT,
    "values": ANY,
    "interrupts": OBJECT,
    "error": ANY,
}
RUN_FIELDS: dict[str, Schema] = {
    "run_id": UUID,
    "thread_id": nullable(UUID),
    "assistant_id": nullable({"type": "string"}),  # null: a run reported through events
    "created_at": TIME,
    "updated_at": TIME,
    "status": {"type": "string", "enum": [s.value for s in RunStatus]},
    "metadata": OBJECT,
    "kwargs": OBJECT,
    "multitask_strategy": nullable({"type": "string"}),
}
CRON_FIELDS: dict[str, Schema] = {
    "cron_id": UUID,
    "assistant_id": {"type": "string"},
    "thread_id": nullable(UUID),
    "schedule": {"type": "string"},
    "payload": OBJECT,
    "next_run_date": nullable(TIME),
    "metadata": OBJECT,
    "enabled": {"type": "boolean"},
    "created_at": TIME,
    "updated_at": TIME,
}
ASSISTANT_FIELDS: dict[str, Schema] = {
    "assistant_id": UUID,
    "graph_id": {"type": "string"},
    "config": OBJECT,
    "context": OBJECT,
    "metadata": OBJECT,
    "name": {"type": "string"},
    "description": nullable({"type": "string"}),
    "version": {"type": "integer"},
    "created_at": TIME,
    "updated_at": TIME,
}
ITEM_FIELDS: dict[str, Schema] = {
    "namespace": array({"type": "string"}),
    "key": {"type": "string"},
    "value": OBJECT,
    "created_at": TIME,
    "updated_at": TIME,
}

COMPONENTS: dict[str, Schema] = {
    "Thread": record(THREAD_FIELDS, ["thread_id", "created_at", "metadata", "status"], "Thread"),
    "ThreadFields": record(THREAD_FIELDS, [], "ThreadFields"),
    "Run": record(RUN_FIELDS, ["run_id", "thread_id", "assistant_id", "status"], "Run"),
    "Cron": record(CRON_FIELDS, ["cron_id", "assistant_id", "schedule"], "Cron"),
    "CronFields": record(CRON_FIELDS, [], "CronFields"),
    "Assistant": record(ASSISTANT_FIELDS, ["assistant_id", "graph_id"], "Assistant"),
    "AssistantFields": record(ASSISTANT_FIELDS, [], "AssistantFields"),
    "Item": record(ITEM_FIELDS, ["namespace", "key", "value"], "Item"),
    "EventResults": record(
        {
            "results": array(
                record(
                    {
                        "run_id": UUID,
                        "type": {"type": "string"},
                        "result": {"type": "string", "enum": [r.value for r in EventResult]},
                    },
                    ["run_id", "type", "result"],
                    "EventResult",
                )
            )
        },
        ["results"],
        "EventResults",
    ),
}
STATE_FIELDS: dict[str, Schema] = {
    "values": ANY,
    "next": array({"type": "string"}),
    "tasks": array(OBJECT),
    "metadata": nullable(OBJECT),
    "created_at": nullable(TIME),
    "checkpoint": nullable(OBJECT),
    "parent_checkpoint": nullable(OBJECT),
    "interrupts": array(OBJECT),
}
COMPONENTS["ThreadState"] = record(STATE_FIELDS, ["values", "next", "tasks"], "ThreadState")
COMPONENTS["Transition"] = record(
    {
        "at": TIME,
        "from": nullable({"type": "string"}),
        "to": {"type": "string", "enum": [s.value for s in ThreadStatus]},
        "run_id": nullable(UUID),
    },
    ["at", "to"],
    "Transition",
)
# One server-sent event of a stream: its name (metadata, values, updates, end, ...), its JSON
# data as text, and its id where the stream can be resumed from it.
COMPONENTS["StreamEvent"] = record(
    {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
    ["event", "data"],
    "StreamEvent",
)
COUNT: Schema = {"type": "integer", "minimum": 0}

# (method, path) -> the schema of its 2xx JSON answer.
ANSWERS: dict[tuple[str, str], Schema] = {
    ("post", "/threads"): ref("Thread"),
    ("post", "/threads/search"): array(ref("ThreadFields")),
    ("post", "/threads/count"): COUNT,
    ("post", "/threads/prune"): record({"pruned_count": COUNT}, ["pruned_count"], "Pruned"),
    ("get", "/threads/{thread_id}"): ref("Thread"),
    ("patch", "/threads/{thread_id}"): ref("Thread"),
    ("post", "/threads/{thread_id}/copy"): ref("Thread"),
    ("post", "/threads/{thread_id}/runs"): ref("Run"),
    ("get", "/threads/{thread_id}/runs"): array(ref("Run")),
    ("post", "/runs"): ref("Run"),
    ("get", "/threads/{thread_id}/runs/{run_id}"): ref("Run"),
    ("post", "/runs/crons"): ref("Cron"),
    ("post", "/threads/{thread_id}/runs/crons"): ref("Cron"),
    ("post", "/runs/crons/search"): array(ref("CronFields")),
    ("post", "/runs/crons/count"): COUNT,
    ("get", "/runs/crons/{cron_id}"): ref("Cron"),
    ("patch", "/runs/crons/{cron_id}"): ref("Cron"),
    ("post", "/runs/events"): ref("EventResults"),
    ("post", "/assistants"): ref("Assistant"),
    ("post", "/assistants/search"): array(ref("AssistantFields")),
    ("post", "/assistants/count"): COUNT,
    ("post", "/assistants/{assistant_id}/latest"): ref("Assistant"),
    ("post", "/assistants/{assistant_id}/versions"): array(ref("AssistantFields")),
    ("get", "/assistants/{assistant_id}"): ref("Assistant"),
    ("patch", "/assistants/{assistant_id}"): ref("Assistant"),
    ("get", "/threads/{thread_id}/transitions"): array(ref("Transition")),
    ("get", "/threads/{thread_id}/state"): ref("ThreadState"),
    ("get", "/threads/{thread_id}/state/{checkpoint_id}"): ref("ThreadState"),
    ("post", "/threads/{thread_id}/state/checkpoint"): ref("ThreadState"),
    ("get", "/threads/{thread_id}/history"): array(ref("ThreadState")),
    ("post", "/threads/{thread_id}/history"): array(ref("ThreadState")),
    ("get", "/assistants/{assistant_id}/graph"): record(
        {"nodes": array(OBJECT), "edges": array(OBJECT)}, ["nodes", "edges"], "Graph"
    ),
    ("get", "/assistants/{assistant_id}/schemas"): record(
        {"graph_id": {"type": "string"}}, ["graph_id"], "GraphSchemas"
    ),
    ("get", "/assistants/{assistant_id}/subgraphs"): OBJECT,
    ("get", "/assistants/{assistant_id}/subgraphs/{namespace}"): OBJECT,
    ("get", "/store/items"): nullable(ref("Item")),  # null: no such item
    ("post", "/store/items/search"): record({"items": array(ref("Item"))}, ["items"], "ItemSearch"),
    ("post", "/store/namespaces"): record(
        {"namespaces": array(array({"type": "string"}))}, ["namespaces"], "Namespaces"
    ),
}
# Operations that answer an event stream.
STREAMS = {
    ("get", "/threads/{thread_id}/stream"),
    ("post", "/threads/{thread_id}/runs/stream"),
    ("post", "/runs/stream"),
    ("get", "/threads/{thread_id}/runs/{run_id}/stream"),
    ("post", "/threads/{thread_id}/stream/events"),
}
# Success codes beside the one FastAPI documents.
OTHER_SUCCESS = {("post", "/threads/{thread_id}/runs/{run_id}/cancel"): "202"}
