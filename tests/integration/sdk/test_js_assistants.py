"""The JS SDK's assistants surface (@langchain/langgraph-sdk), as Studio and
open-agent-platform call it: create, get, update, getVersions, setLatest, search, count,
delete; and a run on the created assistant, whose config reaches the graph."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.integration.run_stack import RunStack

RunNode = Callable[..., str]

ASSISTANTS = """
import { Client } from "@langchain/langgraph-sdk";

const client = new Client({ apiUrl: process.env.API_URL });
const made = await client.assistants.create({
  graphId: "factory",
  config: { configurable: { suffix: "~" } },
  metadata: { owner: "js" },
  name: "js tilde",
});
const id = made.assistant_id;
const got = await client.assistants.get(id);
const updated = await client.assistants.update(id, { metadata: { k: 1 }, name: "js 2" });
const versions = await client.assistants.getVersions(id);
const latest = await client.assistants.setLatest(id, 1);
const found = await client.assistants.search({ metadata: { owner: "js" } });
const count = await client.assistants.count({ graphId: "factory" });
const output = await client.runs.wait(null, id, { input: { text: "hi" } });
let conflict = null;
try {
  await client.assistants.create({ graphId: "factory", assistantId: id });
} catch (error) {
  conflict = error.status;
}
await client.assistants.delete(id);
let missing = null;
try {
  await client.assistants.get(id);
} catch (error) {
  missing = error.status;
}
console.log(JSON.stringify({
  same: JSON.stringify(made) === JSON.stringify(got),
  context: made.context,
  updated: [updated.version, updated.metadata],
  versions: versions.map((v) => v.version),
  latest: [latest.version, latest.name],
  found: found.map((a) => a.assistant_id === id),
  count,
  output,
  conflict,
  missing,
}));
"""


def test_the_js_sdk_writes_assistants(run_node: RunNode, run_stack: RunStack) -> None:
    out = json.loads(run_node(ASSISTANTS, env={"API_URL": run_stack.url}))
    assert out == {
        "same": True,
        "context": {"suffix": "~"},
        "updated": [2, {"owner": "js", "k": 1}],
        "versions": [2, 1],
        "latest": [1, "js tilde"],
        "found": [True],
        "count": 2,
        "output": {"text": "hi~", "suffix": "~"},
        "conflict": 409,
        "missing": 404,
    }
