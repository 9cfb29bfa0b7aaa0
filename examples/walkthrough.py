"""The README's walkthrough: threads in each status, then the seed document's queries.

.venv/bin/threadwatch dev --config examples     # in one terminal
.venv/bin/python examples/walkthrough.py         # in another
"""

from __future__ import annotations

import asyncio
import os

from langgraph_sdk import get_client

URL = os.environ.get("THREADWATCH_URL", "http://127.0.0.1:8123")
BUSY_SECONDS = float(os.environ.get("WALKTHROUGH_BUSY_SECONDS", "30"))


async def main() -> None:
    client = get_client(url=URL)
    assistant_id = "agent"  # the graph's name in langgraph.json

    # idle: a run that finished
    done = await client.threads.create(metadata={"foo": "bar"})
    await client.runs.wait(done["thread_id"], assistant_id, input={"topic": "Redis"})
    # interrupted: a run waiting for a human at interrupt()
    waiting = await client.threads.create(metadata={"team": "support"})
    await client.runs.wait(
        waiting["thread_id"], assistant_id, input={"topic": "Lua", "review": True}
    )
    # busy: a run still going
    going = await client.threads.create()
    await client.runs.create(
        going["thread_id"], assistant_id, input={"topic": "RQ", "sleep": BUSY_SECONDS}
    )

    # The seed document's calls, unchanged.
    print(await client.threads.search(status="idle", limit=1))
    print(await client.threads.search(status="interrupted", limit=1))
    print(await client.threads.search(status="busy", limit=1))
    print((await client.threads.get(waiting["thread_id"]))["status"])
    print((await client.threads.search(metadata={"foo": "bar"}, limit=1))[0]["status"])

    # Resume the waiting thread: it goes back to idle.
    await client.runs.wait(waiting["thread_id"], assistant_id, command={"resume": True})
    print((await client.threads.get(waiting["thread_id"]))["status"])


if __name__ == "__main__":
    asyncio.run(main())
