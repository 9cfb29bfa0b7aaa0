// @langchain/react 1.x's useStream (the thread-centric protocol), rendered with
// react-test-renderer under node: submit a message, the interrupt the hook shows, respond,
// the end. TRANSPORT (env) is "sse" or "websocket" (node 20 has a WebSocket with
// --experimental-websocket). Records every request the hook's client sent.
// Prints one JSON document: {calls, paused, done}.
import React from "react";
import TestRenderer, { act } from "react-test-renderer";
import { useStream } from "@langchain/react";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const API_URL = process.env.API_URL;

const calls = [];
async function recordingFetch(url, init = {}) {
  const { pathname } = new URL(String(url));
  const body = typeof init.body === "string" ? JSON.parse(init.body) : null;
  calls.push({ method: init.method ?? "GET", path: pathname, command: body?.method ?? null });
  return fetch(url, init);
}

// Options kept across renders: a new callerOptions object would make the hook build a new
// client, and with it a new stream.
const callerOptions = { fetch: recordingFetch, maxRetries: 0 };
let stream = null;
function Chat() {
  stream = useStream({
    apiUrl: API_URL,
    assistantId: "agent",
    transport: process.env.TRANSPORT,
    fetch: recordingFetch,
    callerOptions,
  });
  return null;
}

async function until(test, what) {
  for (let i = 0; i < 300; i++) {
    if (test(stream)) return;
    await act(() => new Promise((resolve) => setTimeout(resolve, 100)));
  }
  throw new Error(`no ${what}: ${JSON.stringify({ view: view(), calls })}`);
}

function view() {
  return {
    threadId: stream.threadId,
    isLoading: stream.isLoading,
    error: stream.error == null ? null : String(stream.error?.message ?? stream.error),
    messages: stream.messages.map((m) => [m.type, m.text]),
    interrupts: stream.interrupts.map((i) => ({ value: i.value, namespace: i.namespace })),
    approved: stream.values?.approved ?? null,
  };
}

let renderer;
await act(async () => {
  renderer = TestRenderer.create(React.createElement(Chat));
});
await act(async () => {
  await stream.submit({ messages: [{ type: "human", content: "hi" }], review: true });
});
await until((s) => s.interrupts.length > 0 && !s.isLoading, "interrupt");
const paused = view();
await act(async () => {
  await stream.respond(true);
});
await until((s) => s.values?.approved === true && !s.isLoading, "end");
const done = view();
act(() => renderer.unmount());
console.log(JSON.stringify({ calls, paused, done }));
process.exit(0);
