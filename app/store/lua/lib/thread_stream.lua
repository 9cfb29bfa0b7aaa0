-- lib/thread_stream.lua: a thread's event stream (GET /threads/{id}/stream). Events are
-- appended only while a client watches the thread: its hash's `watch` field holds when the
-- watch expires (µs, the server's clock), set by watch_thread.lua and renewed by the
-- watching client, so that an unwatched thread costs one field read, and no stream.
--
-- An entry is (event, data): the SSE event name and its JSON, as app/store/run_streams.py
-- writes them. A run's start and end (from transition.lua) also carry the transition itself
-- in fields that GET /threads/{id}/stream does not send: `run_status` (the run's status
-- after it), `event_type` and `interrupts` (JSON, of an end). The thread-centric protocol
-- (app/api/protocol/) derives its `lifecycle` and `input` events from them. The stream is
-- capped (approximately) and expires after its last entry.

local thread_stream = {maxlen = false, ttl = false}

-- Binds the cap and the expiry (seconds); call before publish_thread_event.
local function use_thread_stream(maxlen, ttl)
  thread_stream.maxlen, thread_stream.ttl = maxlen, ttl
end

-- Whether a `watch` field read at `now` (µs, both as text) is a live watch.
local function thread_watched(watch, now)
  return watch and tonumber(watch) > tonumber(now)
end

-- Appends (event, data), then the extra field/value pairs given, if any.
local function publish_thread_event(stream, event, data, ...)
  redis.call('XADD', stream, 'MAXLEN', '~', thread_stream.maxlen, '*',
    'event', event, 'data', data, ...)
  redis.call('EXPIRE', stream, thread_stream.ttl)
end
