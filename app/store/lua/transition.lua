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
-- then, per event in order:
--   thread hash, run hash, thread runs zset, thread transitions list, thread stream,
--   the leaves to leave (n_leave), then those to join (n_join) (Keys.metadata_leaf names)
-- ARGV[1]      default lease, µs
-- ARGV[2]      status changes kept per thread
-- ARGV[3..4]   thread stream cap and expiry, seconds (lib/thread_stream.lua)
-- then, per event in order, 22 values:
--   1 thread_id            2 run_id               3 event type (run.pending, ...)
--   4 thread outcome of a terminal event (idle, interrupted, error), else ""
--   5 event time, µs since the epoch, or "" for now (the server's clock)
--   6 values JSON, or "" when the event carries none
--   7 metadata version token the caller merged from, or "" when metadata is unchanged
--   8 n_leave              9 n_join               10 new thread metadata JSON
--   11 interrupts JSON of a terminal event        12 error JSON of a terminal event
--   13 assistant_id of a new run ("" for none)    14 run metadata JSON of a new run
--   15 run kwargs JSON of a new run               16 multitask_strategy ("" for none)
--   17 fresh version token for the new metadata
--   18 assistant_id the new metadata implies ("" for none), kept on the thread for runs
--      whose events name no assistant
--   19 config JSON of the run, which becomes the thread's config ("" for none)
--   20 admission of a run created here: "" (an event reported from elsewhere), "queue"
--      (record it as the thread's last run), "reject" (the same, unless a run is in flight),
--      "reclaim" (the sweeper ends a lost run: only if its lease has run out), or
--      "start" (a worker starts one of our runs: only if the run exists)
--   21 the run's lease, µs, if the event sets one ("" keeps the run's, else the default)
--   22 the thread's index member (its id's 16 bytes: codec.thread_member)
-- A watched thread's stream gets a run's start (`metadata` {run_id, attempt}) and end
-- (the `error` of a failed or timed-out run, then `metadata` {status: run_done, run_id})
-- as they are applied, whoever reports them (our workers, the emitter, the HTTP batch,
-- the sweeper); the chunks between come from the worker (app/runner.py).
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
use_leaf_index(KEYS[13], KEYS[14])
use_thread_status(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2])
local DEFAULT_LEASE = ARGV[1]
use_thread_stream(ARGV[3], ARGV[4])
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

local now = now_us()

-- Appends a field and its value to `fields`, the arguments of an HSET.
local function put(fields, name, value)
  local n = #fields
  fields[n + 1] = name
  fields[n + 2] = value
end

-- Holds the run's lease `lease` µs from now (ZADD `option`: nil or 'XX'); a lease the event
-- sets (`given`, "" for none) is kept on the run.
local function renew_lease(run, run_id, lease, given, option)
  local expiry = after_us(tonumber(lease))
  if option then redis.call('ZADD', LEASES, option, expiry, run_id)
  else redis.call('ZADD', LEASES, expiry, run_id) end
  if given ~= '' then redis.call('HSET', run, 'lease', given) end
end

-- Appends to `fields` the creation fields `offered` (value per RUN_CREATION_FIELDS) that
-- this event, of `precedence`, gives the run: those not set by an event that precedes it
-- (`r[from + i]`: the run's RUN_CREATION_FROM values).
local function creation_fields(fields, offered, r, from, precedence)
  for i, name in ipairs(RUN_CREATION_FIELDS) do
    local value, set_by = offered[i], r[from + i]
    if value and value ~= '' and value ~= '{}' and (not set_by or precedence < set_by) then
      put(fields, name, value)
      put(fields, RUN_CREATION_FROM[i], precedence)
    end
  end
end

local function apply(k, a)
  local thread, run, runs, history = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local thread_id, run_id, event_type = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local member = ARGV[a + 21]
  local rank = RANK[event_type] or 3
  local at = ARGV[a + 4] ~= '' and ARGV[a + 4] or now
  -- Fixed-width decimal time + run id: a string order equal to (at, run_id) order.
  local version = string.rep('0', 16 - #at) .. at .. '|' .. run_id
  local expected = ARGV[a + 6]

  -- Read and check everything before the first write. Missing fields read as false;
  -- every thread has a status, so it tells existence.
  local old_status, mver, inflight, outcome, outcome_version, values_version, old_since,
    created_at, assistant, config, config_version, last_run, leaves, watch =
    unpack(redis.call('HMGET', thread, unpack(THREAD_FIELDS)))
  local exists = old_status ~= false
  old_status = old_status or 'idle'
  if expected ~= '' and (mver or '0') ~= expected then return -1, '', '', '' end

  local r = redis.call('HMGET', run, 'thread_id', 'event', 'rank', 'created_at', 'lease',
    'started_at', unpack(RUN_CREATION_FROM))
  if r[1] and r[1] ~= thread_id then return -2, '', '', '' end
  local run_rank = tonumber(r[3] or '0')
  local admission, previous_run = ARGV[a + 19], ''
  if admission == 'start' then
    -- A rolled-back pending run is gone: its job must not bring it back.
    if not r[1] then return -4, old_status, old_status, '' end
    admission = ''
  end
  local given_lease = ARGV[a + 20]
  local lease = given_lease ~= '' and given_lease or r[5] or DEFAULT_LEASE

  if admission == 'reclaim' and not lease_ran_out(LEASES, run_id) then
    return -4, old_status, old_status, ''
  end
  if event_type == 'run.heartbeat' then
    -- Renews the lease of a run in flight; changes nothing else.
    if not r[1] or run_rank == 3 then
      count('events|stale')
      return 3, old_status, old_status, ''
    end
    renew_lease(run, run_id, lease, given_lease)
    count('events|applied')
    return 1, old_status, old_status, ''
  end

  local code = 1
  if r[2] == event_type then
    code = 2
  elseif run_rank == 3 or rank < run_rank then
    code = 3
  end
  count(COUNTED[code])
  if code == 2 and run_rank < 3 then renew_lease(run, run_id, lease, given_lease, 'XX') end
  local admitted = admission ~= '' and admission ~= 'reclaim' and code == 1 and run_rank == 0
  if admitted then
    if admission == 'reject' and tonumber(inflight or '0') > 0 then
      return -3, old_status, old_status, ''
    end
    previous_run = last_run or ''
  end

  -- Every thread field written goes into one HSET at the end, every run field of a new
  -- run into one HSET too.
  local fields, run_fields = {}, {}

  if not exists then
    -- A thread's first event creates it; its status is placed below like any thread's.
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

  local changed = not exists
  if admitted then put(fields, 'last_run', run_id) end
  if expected ~= '' then
    put(fields, 'metadata', ARGV[a + 9])
    put(fields, 'mver', ARGV[a + 16])
    assistant = ARGV[a + 17]
    if assistant ~= '' then
      put(fields, 'assistant_id', assistant)
    else
      redis.call('HDEL', thread, 'assistant_id')
    end
    local first, n_leave, n_join = k + 5, tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8])
    local leave, join = {}, {}
    for i = first, first + n_leave - 1 do leave[#leave + 1] = KEYS[i] end
    for i = first + n_leave, first + n_leave + n_join - 1 do join[#join + 1] = KEYS[i] end
    leaves = change_leaves(member, leaves, old_status, leave, join)
    if leaves then put(fields, 'leaves', leaves) end
    changed = true
  end

  local new_status, since = old_status, old_since
  if code == 1 then
    changed = true
    if run_rank == 0 then
      put(run_fields, 'thread_id', thread_id)
      put(run_fields, 'created_at', at)
      put(run_fields, 'metadata', '{}')
      put(run_fields, 'kwargs', '{}')
      redis.call('ZADD', runs, at, run_id)
      if config == '{}' and ARGV[a + 18] == '' then put(fields, 'config', '{"configurable":{}}') end
    end
    put(run_fields, 'status', RUN_STATUS[event_type])
    put(run_fields, 'event', event_type)
    put(run_fields, 'rank', rank)
    put(run_fields, 'updated_at', now)
    -- A started run keeps when it started, for the run duration histogram.
    if rank == 2 then put(run_fields, 'started_at', at) end
    -- The run indexes and its lease follow its new status (each removal only where the
    -- run's former status put it).
    if rank == 1 then
      redis.call('ZADD', PENDING, at, run_id)
      if admission == '' then renew_lease(run, run_id, lease, given_lease) end
    elseif rank == 2 then
      if run_rank == 1 then redis.call('ZREM', PENDING, run_id) end
      redis.call('ZADD', RUNNING, at, run_id)
      renew_lease(run, run_id, lease, given_lease)
    else
      if run_rank == 1 then redis.call('ZREM', PENDING, run_id) end
      if run_rank == 2 then redis.call('ZREM', RUNNING, run_id) end
      if run_rank > 0 then redis.call('ZREM', LEASES, run_id) end
      if r[6] then
        observe('run_duration', RUN_DURATION_BUCKETS,
          math.max(0, tonumber(at) - tonumber(r[6])) / 1e6)
      end
    end
    if ARGV[a + 4] ~= '' then
      observe('event_delay', EVENT_DELAY_BUCKETS,
        math.max(0, tonumber(now) - tonumber(at)) / 1e6)
    end

    -- In-flight count: +1 when a run enters pending/running, -1 when it leaves.
    local was_inflight = (run_rank == 1 or run_rank == 2) and 1 or 0
    local is_inflight = rank < 3 and 1 or 0
    inflight = tonumber(inflight or '0') + is_inflight - was_inflight
    if inflight < 0 then inflight = 0 end
    put(fields, 'inflight', string.format('%d', inflight))

    if rank == 3 and (not outcome_version or version > outcome_version) then
      outcome, outcome_version = ARGV[a + 3], version
      put(fields, 'outcome', outcome)
      put(fields, 'outcome_version', version)
      put(fields, 'interrupts', ARGV[a + 10])
      put(fields, 'error', ARGV[a + 11])
      put(fields, 'state_updated_at', now)
      if exists then redis.call('ZADD', STATE_UPDATED, now, member) end
    end

    -- Busy since the event that made it busy; otherwise since the outcome's terminal event.
    new_status, since = derive_status(inflight, outcome, outcome_version, created_at,
      old_status, old_since, at)
  end

  -- Values come from the event with the greatest (at, run_id) that carries them, applied
  -- or not, so that they too do not depend on the delivery order.
  if ARGV[a + 5] ~= '' and (not values_version or version > values_version) then
    put(fields, 'values', ARGV[a + 5])
    put(fields, 'values_version', version)
    changed = true
  end
  -- The thread's config is the one of the event with the greatest (at, run_id).
  if ARGV[a + 18] ~= '' and (not config_version or version > config_version) then
    put(fields, 'config', ARGV[a + 18])
    put(fields, 'config_version', version)
    changed = true
  end
  creation_fields(run_fields,
    {ARGV[a + 12] ~= '' and ARGV[a + 12] or assistant, ARGV[a + 13], ARGV[a + 14],
     ARGV[a + 15]},
    r, 6,
    event_type == 'run.pending' and '0' or ('1' .. version))
  -- A run was created when its earliest event happened, whichever arrived first.
  if run_rank > 0 and r[4] and tonumber(at) < tonumber(r[4]) then
    put(run_fields, 'created_at', at)
    redis.call('ZADD', runs, at, run_id)
  end
  if #run_fields > 0 then redis.call('HSET', run, unpack(run_fields)) end

  -- A new thread's leaves joined the sets of idle (old_status) above.
  local placed = move_thread(member, leaves, exists and old_status, old_since, new_status, since,
    history, run_id)
  if placed then
    put(fields, 'status', new_status)
    put(fields, 'status_since', placed)
  end
  if changed then
    put(fields, 'updated_at', now)
    redis.call('ZADD', UPDATED, now, member)
  end
  if #fields > 0 then redis.call('HSET', thread, unpack(fields)) end
  if code == 1 and rank > 1 and thread_watched(watch, now) then
    local stream = KEYS[k + 4]
    if rank == 2 then
      publish_thread_event(stream, 'metadata', '{"run_id":"' .. run_id .. '","attempt":1}')
    else
      if event_type == 'run.failed' or event_type == 'run.timeout' then
        publish_thread_event(stream, 'error', ARGV[a + 11])
      end
      publish_thread_event(stream, 'metadata',
        '{"status":"run_done","run_id":"' .. run_id .. '"}')
    end
  end
  return code, old_status, new_status, previous_run
end

local results = {}
local k = 15
for a = 5, #ARGV, ARGS_PER_EVENT do
  local code, old_status, new_status, previous_run = apply(k, a)
  results[#results + 1] = code
  results[#results + 1] = old_status
  results[#results + 1] = new_status
  results[#results + 1] = previous_run
  k = k + 5 + tonumber(ARGV[a + 7]) + tonumber(ARGV[a + 8])
end
flush_counts(METRICS)
flush_leaf_moves()
return results
