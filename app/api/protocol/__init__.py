"""The thread-centric protocol of LangGraph's new clients (`useStream` of
`@langchain/react` 1.x, `client.threads.stream(...)`, `RemoteGraph.stream_events` v3):
commands at POST /threads/{id}/commands and filtered event streams at
/threads/{id}/stream/events (SSE, or a WebSocket that takes commands too)."""
