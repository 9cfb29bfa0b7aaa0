-- transition.lua: apply run events to their runs and threads; each event atomically (and
-- the whole call too, as every script). Several events per call amortize the call's cost.
--
-- The thread's status is derived, never set: `busy` while any of its runs is in flight
-- (pending or running), otherwise the outcome of the terminal event with the greatest
-- (at, run_id). A run's terminal state is final and its events only move forward
-- (pending < started < terminal), so duplicates and late events change nothing and every
-- delivery order of the same events leaves the same thread.
--
-- Liveness: a run in flight holds a lease (`leases` zset, scored by its expiry) while it
-- runs, and while pending when an external runtime reported it (our own pending runs wait
-- in RQ, which keeps them). Every applied or repeated event of an in-flight run renews it
-- (`run.heartbeat` does only that); a terminal event drops it. The sweeper ends runs whose
-- lease ran out with admission "reclaim", which re-checks the lease here, atomically.
--
-- KEYS[1..4]   status zsets: idle, busy, interrupted, error
-- KEYS[5..8]   order zsets: created_at, updated_at, state_updated_at, thread_id
-- KEYS[9..12]  leases zset, runs:pending zset, runs:running zset, metrics hash
-- KEYS[13..14] leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[15]     runs:trim set: threads holding more runs than ARGV[5] (the sweep trims them)
-- KEYS[16]     runs:expiring zset: ended runs scored by their expiry (the sweep deletes them)
-- then, per event in order:
--   thread hash, run hash, thread runs zset, thread transitions list, thread stream,
--   the leaves to leave (n_leave), then those to join (n_join) (Keys.metadata_leaf names)
-- ARGV[1]      default lease, µs
-- ARGV[2]      status changes kept per thread
-- ARGV[3..4]   thread stream cap and expiry, seconds (lib/thread_stream.lua)
-- ARGV[5]      runs kept per thread (0: all)
-- ARGV[6]      µs an ended run is kept after its end (0: no TTL, it is not indexed)
-- then, per event in order, 22 values (apply() names them so):
--   1 thread_id            2 run_id               3 event_type (run.pending, ...)
--   4 event_outcome: the thread's outcome of a terminal event (idle, interrupted, error),
--     else ""
--   5 event_at: the event's time, µs since the epoch, or "" for now (the server's clock)
--   6 event_values: values JSON, or "" when the event carries none
--   7 merged_from: metadata version token the caller merged from, or "" when metadata is
--     unchanged
--   8 n_leave              9 n_join               10 new_metadata: thread metadata JSON
--   11 interrupts: JSON, of a terminal event      12 error_json: of a terminal event
--   13 run_assistant: assistant_id of a new run ("" for none)
--   14 run_metadata: JSON, of a new run           15 run_kwargs: JSON, of a new run
--   16 multitask_strategy ("" for none)
--   17 new_mver: fresh version token for the new metadata
--   18 metadata_assistant: assistant_id the new metadata implies ("" for none), kept on the
--      thread for runs whose events name no assistant
--   19 event_config: config JSON of the run, which becomes the thread's ("" for none)
--   20 admission of a run created here: "" (an event reported from elsewhere), "queue"
--      (record it as the thread's last run), "reject" (the same, unless a run is in flight),
--      "reclaim" (the sweeper ends a lost run: only if its lease has run out), or
--      "start" (a worker starts one of our runs: only if the run exists)
--   21 given_lease: the run's lease, µs, if the event sets one ("" keeps the run's, else
--      the default)
--   22 member: the thread's index member (its id's 16 bytes: codec.thread_member)
-- A watched thread's stream gets a run's start (`metadata` {run_id, attempt}) and end
-- (the `error` of a failed or timed-out run, then `metadata` {status: run_done, run_id}),
-- each entry with the fields `run_status`, `event_type` and (an end's) `interrupts` too
-- as they are applied, whoever reports them (our workers, the emitter, the HTTP batch,
-- the sweeper); the chunks between come from the worker (app/runs/runner.py).
-- Returns, per event, four values: code, old thread status, new thread status, and the
-- thread's previous last run ("" if none; for admitted runs). Codes: 1 applied,
-- 2 duplicate, 3 stale, -1 metadata changed since the caller read it (nothing written:
-- read again and retry), -2 the run belongs to another thread (nothing written),
-- -3 refused: "reject" admission while a run is in flight (nothing written), -4 not
-- reclaimed: the run's lease is live, or it holds none, or not started: the run does not
-- exist (nothing written).
-- uses: lib/clock.lua, lib/leases.lua, lib/leaf_sets.lua, lib/status_change.lua
-- uses: lib/thread_status.lua, lib/thread_stream.lua

local ARGS_PER_EVENT = 22
-- Events move a run forward through these ranks; the run status each event gives
-- (mirrors app/domain.py RUN_STATUS_OF_EVENT).
local RANK = {['run.pending'] = 1, ['run.started'] = 2}
local RUN_STATUS = {
  ['run.pending'] = 'pending', ['run.started'] = 'running', ['run.succeeded'] = 'success',
  ['run.interrupted'] = 'success', ['run.failed'] = 'error', ['run.cancelled'] = 'interrupted',
  ['run.timeout'] = 'timeout',
}
local CREATED, UPDATED, STATE_UPDATED, BY_ID = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local LEASES, PENDING, RUNNING, METRICS = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
use_thread_status(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2])
use_leaf_index(KEYS[13], KEYS[14])
use_thread_stream(ARGV[3], ARGV[4])
local TRIM, RUNS_KEPT = KEYS[15], tonumber(ARGV[5])
local EXPIRING, ENDED_RUN_TTL = KEYS[16], tonumber(ARGV[6])
local DEFAULT_LEASE = ARGV[1]
local COUNTED = {'events|applied', 'events|duplicate', 'events|stale'}
local THREAD_FIELDS = {'status', 'mver', 'inflight', 'outcome', 'outcome_version',
                       'values_version', 'status_since', 'created_at', 'assistant_id',
                       'config', 'config_version', 'last_run', 'leaves', 'watch'}
-- Fields a run is created with. Each comes from its run.pending event if that carries it,
-- else from the earliest event that does; `<field>_from` keeps who set it (so the record
-- does not depend on the delivery order).
local RUN_CREATION_FIELDS = {'assistant_id', 'metadata', 'kwargs', 'multitask_strategy'}
local RUN_CREATION_FROM = {'assistant_id_from', 'metadata_from', 'kwargs_from',
                           'multitask_strategy_from'}
-- What is read of the run: r[1..6], then its RUN_CREATION_FROM from r[7].
local RUN_FIELDS = {'thread_id', 'event', 'rank', 'created_at', 'lease', 'started_at',
                    unpack(RUN_CREATION_FROM)}
local CREATION_FROM = 6

local now = now_us()

-- The event being applied. apply() sets these for each event in turn and its steps below
-- share them: chunk locals rather than a table per event, as the server's allocations are
-- much of a transition's cost (bench/README.md).
-- Its 22 values, named as in the header:
local thread_id, run_id, event_type, event_outcome, event_at, event_values, merged_from,
  n_leave, n_join, new_metadata, interrupts, error_json, run_assistant, run_metadata,
  run_kwargs, multitask_strategy, new_mver, metadata_assistant, event_config, admission,
  given_lease, member
-- Its keys (thread hash, run hash, thread runs zset, transitions list, stream), its rank
-- (RANK, 3 for terminal), its time (µs; now when it has none) and its version: a fixed-width
-- decimal time + run id, whose string order is the (at, run_id) order.
local thread, run, runs, history, stream, rank, at, version
-- The thread as read (THREAD_FIELDS; missing fields read as false) and whether it exists.
local old_status, mver, inflight, outcome, outcome_version, values_version, old_since,
  created_at, assistant, config, config_version, last_run, leaves, watch, exists
-- The run as read (RUN_FIELDS), its rank (0 for a new run) and the lease it holds.
local r, run_rank, lease
-- The event's code (1 applied, 2 duplicate, 3 stale), whether it admits a new run of ours,
-- the thread's last run before it, the thread hash fields to write (HSET arguments), and
-- whether the thread changed (its updated_at moves).
local code, admitted, previous_run, fields, changed

-- Appends a field and its value to `list`, the arguments of an HSET.
local function put(list, name, value)
  local n = #list
  list[n + 1] = name
  list[n + 2] = value
end

-- Holds the run's lease `lease` µs from now (ZADD `option`: nil or 'XX'); a lease the event
-- gives is kept on the run.
local function renew_lease(option)
  local expiry = after_us(tonumber(lease))
  if option then redis.call('ZADD', LEASES, option, expiry, run_id)
  else redis.call('ZADD', LEASES, expiry, run_id) end
  if given_lease ~= '' then redis.call('HSET', run, 'lease', given_lease) end
end

-- Reads the thread and the run and checks the event against them, before anything is
-- written. Returns nothing for an event to apply (its `code` set), else the reply of an
-- event refused or done here: a heartbeat, or a refusal (the header's negative codes).
local function read_and_check()
  old_status, mver, inflight, outcome, outcome_version, values_version, old_since,
    created_at, assistant, config, config_version, last_run, leaves, watch =
    unpack(redis.call('HMGET', thread, unpack(THREAD_FIELDS)))
  -- Every thread has a status, so it tells existence.
  exists = old_status ~= false
  old_status = old_status or 'idle'
  if merged_from ~= '' and (mver or '0') ~= merged_from then return -1, '', '', '' end

  r = redis.call('HMGET', run, unpack(RUN_FIELDS))
  if r[1] and r[1] ~= thread_id then return -2, '', '', '' end
  run_rank = tonumber(r[3] or '0')
  if admission == 'start' then
    -- A rolled-back pending run is gone: its job must not bring it back.
    if not r[1] then return -4, old_status, old_status, '' end
    admission = ''
  end
  lease = given_lease ~= '' and given_lease or r[5] or DEFAULT_LEASE
  if admission == 'reclaim' and not lease_ran_out(LEASES, run_id) then
    return -4, old_status, old_status, ''
  end
  if event_type == 'run.heartbeat' then
    -- Renews the lease of a run in flight; changes nothing else.
    if not r[1] or run_rank == 3 then
      count('events|stale')
      return 3, old_status, old_status, ''
    end
    renew_lease()
    count('events|applied')
    return 1, old_status, old_status, ''
  end

  code = 1
  if r[2] == event_type then
    code = 2
  elseif run_rank == 3 or rank < run_rank then
    code = 3
  end
  count(COUNTED[code])
  if code == 2 and run_rank < 3 then renew_lease('XX') end
  admitted = admission ~= '' and admission ~= 'reclaim' and code == 1 and run_rank == 0
  previous_run = ''
  if admitted then
    if admission == 'reject' and tonumber(inflight or '0') > 0 then
      return -3, old_status, old_status, ''
    end
    previous_run = last_run or ''
  end
end

-- A thread's first event creates it; its status is placed later like any thread's.
local function create_thread()
  put(fields, 'created_at', now)
  put(fields, 'state_updated_at', now)
  put(fields, 'metadata', '{}')
  put(fields, 'config', '{}')
  put(fields, 'leaves', '')
  mark_indexed_if_empty(CREATED)
  redis.call('ZADD', CREATED, now, member)
  redis.call('ZADD', STATE_UPDATED, now, member)
  redis.call('ZADD', BY_ID, 0, member)
  created_at, config, leaves, old_since = now, '{}', '', nil
end

-- The event's metadata, merged by the caller: the thread's metadata, its version, the
-- assistant it implies and its leaf sets (KEYS[first..]: n_leave to leave, n_join to join).
local function change_metadata(first)
  put(fields, 'metadata', new_metadata)
  put(fields, 'mver', new_mver)
  assistant = metadata_assistant
  if assistant ~= '' then
    put(fields, 'assistant_id', assistant)
  else
    redis.call('HDEL', thread, 'assistant_id')
  end
  local leave, join = {}, {}
  for i = first, first + n_leave - 1 do leave[#leave + 1] = KEYS[i] end
  for i = first + n_leave, first + n_leave + n_join - 1 do join[#join + 1] = KEYS[i] end
  leaves = change_leaves(member, leaves, old_status, leave, join)
  if leaves then put(fields, 'leaves', leaves) end
end

-- An applied event moves the run's indexes and lease with its status (each removal only
-- where the run's former status put it), and feeds the duration and delay histograms.
local function index_run()
  if rank == 1 then
    redis.call('ZADD', PENDING, at, run_id)
    if admission == '' then renew_lease() end
  elseif rank == 2 then
    if run_rank == 1 then redis.call('ZREM', PENDING, run_id) end
    redis.call('ZADD', RUNNING, at, run_id)
    renew_lease()
  else
    if run_rank == 1 then redis.call('ZREM', PENDING, run_id) end
    if run_rank == 2 then redis.call('ZREM', RUNNING, run_id) end
    if run_rank > 0 then redis.call('ZREM', LEASES, run_id) end
    if ENDED_RUN_TTL > 0 then redis.call('ZADD', EXPIRING, after_us(ENDED_RUN_TTL), run_id) end
    -- A started run keeps when it started (r[6]), for the run duration histogram.
    if r[6] then
      observe('run_duration', RUN_DURATION_BUCKETS,
        math.max(0, tonumber(at) - tonumber(r[6])) / 1e6)
    end
  end
  if event_at ~= '' then
    observe('event_delay', EVENT_DELAY_BUCKETS, math.max(0, tonumber(now) - tonumber(at)) / 1e6)
  end
end

-- The run's fields (one HSET): a new run's, its status after an applied event, the fields
-- it is created with (of the event that precedes the others that carry them), and when it
-- was created: at its earliest event, whichever arrived first.
local function run_fields()
  local list = {}
  if code == 1 then
    if run_rank == 0 then
      put(list, 'thread_id', thread_id)
      put(list, 'created_at', at)
      put(list, 'metadata', '{}')
      put(list, 'kwargs', '{}')
      redis.call('ZADD', runs, at, run_id)
      if RUNS_KEPT > 0 and redis.call('ZCARD', runs) > RUNS_KEPT then
        redis.call('SADD', TRIM, thread_id)
      end
    end
    put(list, 'status', RUN_STATUS[event_type])
    put(list, 'event', event_type)
    put(list, 'rank', rank)
    put(list, 'updated_at', now)
    if rank == 2 then put(list, 'started_at', at) end
    index_run()
  end
  local offered = {run_assistant ~= '' and run_assistant or assistant, run_metadata,
                   run_kwargs, multitask_strategy}
  local precedence = event_type == 'run.pending' and '0' or ('1' .. version)
  for i, name in ipairs(RUN_CREATION_FIELDS) do
    local value, set_by = offered[i], r[CREATION_FROM + i]
    if value and value ~= '' and value ~= '{}' and (not set_by or precedence < set_by) then
      put(list, name, value)
      put(list, RUN_CREATION_FROM[i], precedence)
    end
  end
  if run_rank > 0 and r[4] and tonumber(at) < tonumber(r[4]) then
    put(list, 'created_at', at)
    redis.call('ZADD', runs, at, run_id)
  end
  if #list > 0 then redis.call('HSET', run, unpack(list)) end
end

-- The thread's fields after an applied event: its runs in flight, its outcome (of the
-- terminal event with the greatest version) and the status they derive. Returns the new
-- status and since when.
local function derive_thread_status()
  changed = true
  if run_rank == 0 and config == '{}' and event_config == '' then
    put(fields, 'config', '{"configurable":{}}')
  end
  -- In-flight count: +1 when a run enters pending/running, -1 when it leaves.
  local was_inflight = (run_rank == 1 or run_rank == 2) and 1 or 0
  local is_inflight = rank < 3 and 1 or 0
  inflight = tonumber(inflight or '0') + is_inflight - was_inflight
  if inflight < 0 then inflight = 0 end
  put(fields, 'inflight', string.format('%d', inflight))

  if rank == 3 and (not outcome_version or version > outcome_version) then
    outcome, outcome_version = event_outcome, version
    put(fields, 'outcome', outcome)
    put(fields, 'outcome_version', version)
    put(fields, 'interrupts', interrupts)
    put(fields, 'error', error_json)
    put(fields, 'state_updated_at', now)
    if exists then redis.call('ZADD', STATE_UPDATED, now, member) end
  end
  -- Busy since the event that made it busy; otherwise since the outcome's terminal event.
  return derive_status(inflight, outcome, outcome_version, created_at, old_status, old_since,
    at)
end

-- The thread (one HSET): its status and what follows it (status zset, leaf sets, history),
-- its values and config (of the event with the greatest version that carries them, applied
-- or not, so that they too do not depend on the delivery order), its updated_at. Returns
-- its new status.
local function write_thread()
  local new_status, since = old_status, old_since
  if code == 1 then new_status, since = derive_thread_status() end
  if event_values ~= '' and (not values_version or version > values_version) then
    put(fields, 'values', event_values)
    put(fields, 'values_version', version)
    changed = true
  end
  if event_config ~= '' and (not config_version or version > config_version) then
    put(fields, 'config', event_config)
    put(fields, 'config_version', version)
    changed = true
  end
  -- A new thread's leaves joined the sets of idle (old_status) above.
  local placed = move_thread(member, leaves, exists and old_status, old_since, new_status,
    since, history, run_id)
  if placed then
    put(fields, 'status', new_status)
    put(fields, 'status_since', placed)
  end
  if changed then
    put(fields, 'updated_at', now)
    redis.call('ZADD', UPDATED, now, member)
  end
  if #fields > 0 then redis.call('HSET', thread, unpack(fields)) end
  return new_status
end

-- The start (rank 2) or the end of a run, on its watched thread's stream; the entry also
-- carries the run's new status (and an end its interrupts) for the thread-centric protocol.
local function publish()
  if rank == 2 then
    publish_thread_event(stream, 'metadata', '{"run_id":"' .. run_id .. '","attempt":1}',
      'run_status', 'running', 'event_type', event_type)
    return
  end
  if event_type == 'run.failed' or event_type == 'run.timeout' then
    publish_thread_event(stream, 'error', error_json)
  end
  publish_thread_event(stream, 'metadata', '{"status":"run_done","run_id":"' .. run_id .. '"}',
    'run_status', RUN_STATUS[event_type], 'event_type', event_type,
    'interrupts', interrupts ~= '' and interrupts or '{}')
end

-- Applies the event whose keys start at KEYS[k] and values at ARGV[a]; returns its reply.
local function apply(k, a)
  thread_id, run_id, event_type, event_outcome, event_at, event_values, merged_from, n_leave,
    n_join, new_metadata, interrupts, error_json, run_assistant, run_metadata, run_kwargs,
    multitask_strategy, new_mver, metadata_assistant, event_config, admission, given_lease,
    member = unpack(ARGV, a, a + ARGS_PER_EVENT - 1)
  n_leave, n_join = tonumber(n_leave), tonumber(n_join)
  thread, run, runs, history, stream = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
    KEYS[k + 4]
  rank = RANK[event_type] or 3
  at = event_at ~= '' and event_at or now
  version = string.rep('0', 16 - #at) .. at .. '|' .. run_id

  local refused, from, to, previous = read_and_check()
  if refused then return refused, from, to, previous end
  fields, changed = {}, not exists
  if not exists then create_thread() end
  if admitted then put(fields, 'last_run', run_id) end
  if merged_from ~= '' then
    change_metadata(k + 5)
    changed = true
  end
  run_fields()
  local new_status = write_thread()
  if code == 1 and rank > 1 and thread_watched(watch, now) then publish() end
  return code, old_status, new_status, previous_run
end

local results = {}
local k = 17
for a = 7, #ARGV, ARGS_PER_EVENT do
  local reply_code, from, to, previous = apply(k, a)
  results[#results + 1] = reply_code
  results[#results + 1] = from
  results[#results + 1] = to
  results[#results + 1] = previous
  k = k + 5 + n_leave + n_join
end
flush_counts(METRICS)
flush_leaf_moves()
return results
