// agent-chat-ui's conversation, driven through the JS SDK's own legacy useStream hook
// (@langchain/langgraph-sdk/react), rendered with react-test-renderer under node.
// The hook is given the options agent-chat-ui gives it (src/providers/Stream.tsx) and
// submits as its Thread component does; the page's own two calls (GET /info on load, the
// sidebar's POST /threads/search) are made as the page makes them.
//
// STEPS (env, comma-separated, in order): ask, approve, edit, join. After each step it
// records what the UI would show (messages, the interrupt card, loading, errors), the
// thread's status as the server reports it, and every request the hook sent.
// Prints one JSON document: {calls, steps: [{step, ...snapshot}]}.
import React from "react";
import TestRenderer, { act } from "react-test-renderer";
import { Client } from "@langchain/langgraph-sdk";
import { useStream } from "@langchain/langgraph-sdk/react";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const API_URL = process.env.API_URL;
const ASSISTANT = "agent";
const STEPS = (process.env.STEPS ?? "ask,approve").split(",");

const calls = [];
async function recordingFetch(url, init = {}) {
  const { pathname, search } = new URL(String(url));
  const body = typeof init.body === "string" ? JSON.parse(init.body) : null;
  const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
  calls.push({ method: init.method ?? "GET", path: pathname + search, body, lastEventId: headers["last-event-id"] ?? null });
  return fetch(url, init);
}
const callerOptions = { fetch: recordingFetch, maxRetries: 0 };
const client = new Client({ apiUrl: API_URL, callerOptions });

let stream = null;
let runId = null;
const customEvents = [];

function Chat({ threadId, onThreadId }) {
  stream = useStream({
    apiUrl: API_URL,
    assistantId: ASSISTANT,
    threadId,
    onThreadId,
    fetchStateHistory: true,
    callerOptions,
    onCustomEvent: (event) => customEvents.push(event),
    onCreated: (meta) => {
      runId = meta.run_id;
    },
  });
  // The page reads these while rendering, which is what adds their stream modes.
  void stream.messages;
  void stream.values;
  return null;
}

// The page keeps the thread id (agent-chat-ui keeps it in the URL's query string).
let threadId = null;
function Page() {
  const [current, setCurrent] = React.useState(null);
  const onThreadId = (id) => {
    threadId = id;
    setCurrent(id);
  };
  return React.createElement(Chat, { threadId: current, onThreadId });
}

async function settle() {
  // Let the hook's effects (the history refetch after a run) finish.
  for (let i = 0; i < 50 && (stream.isLoading || stream.isThreadLoading); i++) {
    await act(() => new Promise((resolve) => setTimeout(resolve, 100)));
  }
}

function shown(message) {
  return {
    type: message.type,
    content: message.content,
    tool_calls: (message.tool_calls ?? []).map(({ name, args, id }) => ({ name, args, id })),
  };
}

const steps = [];
async function snapshot(step, threadId, extra = {}) {
  await settle();
  const thread = threadId ? await (await fetch(`${API_URL}/threads/${threadId}`)).json() : null;
  const interrupt = stream.interrupt;
  steps.push({
    step,
    threadId,
    isLoading: stream.isLoading,
    error: stream.error == null ? null : String(stream.error?.message ?? stream.error),
    messages: stream.messages.map(shown),
    memories: stream.values.memories ?? null,
    interrupt: interrupt == null ? null : (Array.isArray(interrupt) ? interrupt : [interrupt]).map((i) => i.value),
    historyLength: stream.history.length,
    status: thread?.status ?? null,
    customEvents: customEvents.splice(0),
    ...extra,
  });
}

// agent-chat-ui's Thread.tsx submit options.
const SUBMIT = { streamMode: ["values"], streamSubgraphs: true, streamResumable: true };
const human = (text) => ({ type: "human", content: text });

let renderer;
await act(async () => {
  renderer = TestRenderer.create(React.createElement(Page));
});
const info = await fetch(`${API_URL}/info`);
calls.push({ method: "GET", path: "/info", body: null, lastEventId: null, status: info.status });
await client.threads.search({ metadata: { graph_id: ASSISTANT }, limit: 100 });

for (const step of STEPS) {
  if (step === "ask") {
    await act(async () => {
      await stream.submit({ messages: [human("Paris")] }, SUBMIT);
    });
  } else if (step === "approve") {
    await act(async () => {
      await stream.submit(undefined, { ...SUBMIT, command: { resume: "yes" } });
    });
  } else if (step === "edit") {
    // Editing the first message: submit from the parent of the first state that held it.
    const first = stream.messages[0];
    const parent = stream.getMessagesMetadata(first, 0)?.firstSeenState?.parent_checkpoint;
    await act(async () => {
      await stream.submit({ messages: [human("Lyon")] }, { ...SUBMIT, checkpoint: parent });
    });
  } else if (step === "join") {
    // A reload while a run streams: the hook rejoins the run from its first event ("-1").
    const run = await client.runs.create(threadId, ASSISTANT, {
      input: { messages: [human("Nice")] },
      streamResumable: true,
      streamMode: ["values"],
    });
    runId = run.run_id;
    await act(async () => {
      await stream.joinStream(run.run_id);
    });
  }
  await snapshot(step, threadId, { runId });
}

act(() => renderer.unmount());
console.log(JSON.stringify({ calls, steps }));
