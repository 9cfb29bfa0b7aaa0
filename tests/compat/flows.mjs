// The JS SDK's side of the compatibility script: agent-chat-ui's five calls made the way its
// useStream makes them (client.runs.stream, threads.getHistory), and useStream's join from
// the start (Last-Event-ID: -1). Prints one JSON document: {flow: {steps, names}}.
import { Client } from "@langchain/langgraph-sdk";

const API_URL = process.env.API_URL;
const client = new Client({ apiUrl: API_URL });
const ASSISTANT = "agent";
const CHAT_UI_STREAM = {
  streamMode: ["values", "messages-tuple", "custom"],
  streamSubgraphs: true,
  streamResumable: true,
  onDisconnect: "continue",
};

function recorder() {
  const steps = {};
  const names = {};
  return {
    steps,
    names,
    async step(name, call) {
      try {
        const value = await call();
        steps[name] = value === undefined ? null : value;
        return value;
      } catch (error) {
        steps[name] = { failed: failure(error) };
        return null;
      }
    },
    name(name, value) {
      if (value) names[name] = value;
      return value;
    },
  };
}

// The SDK's error as the Python side records it: status and body, or type and message.
function failure(error) {
  if (error?.status) {
    const text = String(error.message).replace(/^HTTP \d+: /, "");
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { http_error: error.status, body };
  }
  return { exception: error?.name ?? "Error", message: String(error?.message ?? error).slice(0, 300) };
}

async function collect(stream) {
  const parts = [];
  for await (const part of stream) parts.push([part.event, part.data]);
  return parts;
}

const human = (text) => ({ messages: [{ type: "human", content: text }] });

function forkPoint(history) {
  const holding = (history ?? []).filter((s) => (s.values?.messages ?? []).length === 1);
  return holding.length ? holding.at(-1).parent_checkpoint : undefined;
}

async function chatUi() {
  const rec = recorder();
  await rec.step("info", async () => (await fetch(`${API_URL}/info`)).json());
  const sidebar = { metadata: { graph_id: ASSISTANT }, limit: 100, offset: 0 };
  await rec.step("search", () => client.threads.search(sidebar));
  const thread = await rec.step("create", () => client.threads.create({ metadata: {} }));
  const tid = rec.name("thread", thread?.thread_id) ?? "00000000-0000-0000-0000-0";
  async function turn(n, body) {
    await rec.step(`stream${n}`, () =>
      collect(client.runs.stream(tid, ASSISTANT, { ...CHAT_UI_STREAM, ...body })),
    );
    const history = await rec.step(`history${n}`, () => client.threads.getHistory(tid, { limit: 10 }));
    await rec.step(`thread${n}`, () => client.threads.get(tid));
    return history;
  }
  await turn(1, { input: human("Paris") });
  const history = await turn(2, { command: { resume: "yes" } });
  const checkpoint = forkPoint(history);
  if (checkpoint) delete checkpoint.thread_id; // as useStream does
  await turn(3, { input: human("Lyon"), checkpoint });
  await rec.step("search_after", () => client.threads.search(sidebar));
  return { steps: rec.steps, names: rec.names };
}

async function join() {
  const rec = recorder();
  const thread = await rec.step("create", () => client.threads.create());
  const tid = rec.name("thread", thread?.thread_id) ?? "";
  const run = await rec.step("run", () =>
    client.runs.create(tid, ASSISTANT, { input: human("Paris"), streamResumable: true, streamMode: ["values"] }),
  );
  const rid = rec.name("run", run?.run_id) ?? "";
  // useStream's joinStream defaults lastEventId to "-1": replay from the first event.
  await rec.step("join_minus_one", () => collect(client.runs.joinStream(tid, rid, { lastEventId: "-1" })));
  // Wait for the run's end, so that the thread's status is its final one on both servers.
  await rec.step("wait", () => client.runs.join(tid, rid));
  await rec.step("thread", () => client.threads.get(tid));
  await rec.step("join_after_end", () =>
    collect(client.runs.joinStream(tid, rid, { lastEventId: "-1", streamMode: ["values"] })),
  );
  return { steps: rec.steps, names: rec.names };
}

const out = {};
out["chat_ui/js"] = await chatUi();
out["join/js"] = await join();
console.log(JSON.stringify(out));
