-- lib/thread_status.lua: a thread's status, derived from its runs, and its moves between
-- statuses (transition.lua, delete_run.lua, set_state.lua, repair/inflight.lua).
-- uses: lib/leaf_sets.lua, lib/status_change.lua, lib/clock.lua
--
-- The status is derived, never set: `busy` while any run of the thread is in flight
-- (pending or running), otherwise its outcome (that of the terminal event with the greatest
-- (at, run_id), or of a state update), `idle` before any. A thread is in the status zset of
-- its status, scored by its status_since, and in the leaf sets of its status
-- (lib/leaf_sets.lua); a status change is recorded in its history (lib/status_change.lua).

local status_index = {zsets = false, history_limit = false}

-- Binds the status zsets of idle, busy, interrupted and error, and the status changes kept
-- per thread (text or number; nil when the script records none); call before move_thread.
local function use_thread_status(idle, busy, interrupted, error_key, history_limit)
  status_index.zsets = {idle = idle, busy = busy, interrupted = interrupted,
                       ['error'] = error_key}
  status_index.history_limit = tonumber(history_limit)
end

-- The status a thread derives, and since when (µs text): busy while `inflight` (a number) is
-- above 0, since `busy_since` unless it already was busy (`old_status`, since `old_since`);
-- otherwise its `outcome`, or idle, since the event that decided it (its `outcome_version`,
-- "<16-digit at>|<run_id>"), or with none since the thread's `created_at`.
local function derive_status(inflight, outcome, outcome_version, created_at, old_status,
                             old_since, busy_since)
  if inflight > 0 then
    return 'busy', (old_status == 'busy' and old_since) or busy_since
  end
  return outcome or 'idle',
    outcome_version and string.match(outcome_version, '^0*(%d+)|') or created_at
end

-- Puts the thread (its index `member`; `leaves`, its leaves field) in status `to` since
-- `since` (nil: now), from status `from` since `old_since`: its status zset entry, its leaf
-- sets (at flush_leaf_moves()) and, when the status changes and `history` (its transitions
-- list; false for none) is given, a history entry naming `run_id` (false for none). `from` is
-- false for a thread new in this call: in no status zset yet, its leaves in the idle sets.
-- Returns the status_since the thread got, or nil when nothing changed (`to` and `since` are
-- `from` and `old_since`); the caller writes `status` and `status_since` to the hash.
local function move_thread(member, leaves, from, old_since, to, since, history, run_id)
  if from == to and since == old_since then return nil end
  since = since or now_us()
  if from and from ~= to then redis.call('ZREM', status_index.zsets[from], member) end
  leaves_moved(member, leaves, from or 'idle', to)
  redis.call('ZADD', status_index.zsets[to], since, member)
  if from ~= to and history then
    record_status_change(history, status_index.history_limit, from, to, since, run_id)
  end
  return since
end
