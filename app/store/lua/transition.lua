-- transition.lua: apply one run event to its run and its thread, atomically.
--
-- The thread's status is derived, never set: `busy` while any of its runs is in flight
-- (pending or running), otherwise the outcome of the terminal event with the greatest
-- (at, run_id). A run's terminal state is final and its events only move forward
-- (pending < started < terminal), so duplicates and late events change nothing and every
-- delivery order of the same events leaves the same thread.
--
-- KEYS[1]      thread hash
-- KEYS[2]      run hash
-- KEYS[3]      thread runs zset
-- KEYS[4..7]   status zsets: idle, busy, interrupted, error
-- KEYS[8..11]  order zsets: created_at, updated_at, state_updated_at, thread_id
-- KEYS[12..]   ARGV[10] metadata leaf sets to leave, then the leaf sets to join
-- ARGV[1]      thread_id
-- ARGV[2]      run_id
-- ARGV[3]      event type (run.pending, run.started, run.succeeded, ...)
-- ARGV[4]      event rank: 1 pending, 2 started, 3 terminal
-- ARGV[5]      run status the event gives the run (pending, running, success, ...)
-- ARGV[6]      thread outcome of a terminal event (idle, interrupted, error), else ""
-- ARGV[7]      event time in µs since the epoch, or "" for now (the server's clock)
-- ARGV[8]      values JSON, or "" when the event carries none
-- ARGV[9]      metadata version token the caller merged from, or "" when metadata is unchanged
-- ARGV[10]     number of leaf sets to leave
-- ARGV[11]     new thread metadata JSON (ignored when ARGV[9] is "")
-- ARGV[12]     interrupts JSON of a terminal event ("{}" when none)
-- ARGV[13]     error JSON of a terminal event ("null" when none)
-- ARGV[14]     assistant_id for a new run record ("" for none)
-- ARGV[15]     run metadata JSON for a new run record
-- ARGV[16]     run kwargs JSON for a new run record
-- ARGV[17]     multitask_strategy for a new run record ("" for none)
-- ARGV[18]     fresh version token for the new metadata
-- Returns {code, old thread status, new thread status}; code 1 applied, 2 duplicate,
-- 3 stale, -1 metadata changed since the caller read it (retry), -2 the run belongs to
-- another thread (nothing written).

local thread, run, runs = KEYS[1], KEYS[2], KEYS[3]
local status_key = {idle = KEYS[4], busy = KEYS[5], interrupted = KEYS[6], ['error'] = KEYS[7]}
local thread_id, run_id, event_type = ARGV[1], ARGV[2], ARGV[3]
local rank = tonumber(ARGV[4])

local t = redis.call('TIME')
local now = string.format('%d%06d', t[1], t[2])
local at = ARGV[7] ~= '' and ARGV[7] or now
-- Fixed-width decimal time + run id: a string order equal to (at, run_id) order.
local version = string.rep('0', 16 - #at) .. at .. '|' .. run_id

-- Read and check everything before the first write.
local exists = redis.call('EXISTS', thread) == 1
local th = {}
if exists then
  local fields = {'status', 'mver', 'inflight', 'outcome', 'outcome_version', 'values_version',
                  'status_since', 'created_at'}
  local got = redis.call('HMGET', thread, unpack(fields))
  for i, f in ipairs(fields) do th[f] = got[i] end
end
if ARGV[9] ~= '' and (th.mver or '0') ~= ARGV[9] then return {-1, '', ''} end

local r = redis.call('HMGET', run, 'thread_id', 'event', 'rank')
if r[1] and r[1] ~= thread_id then return {-2, '', ''} end
local run_rank = tonumber(r[3] or '0')

local code = 1
if r[2] == event_type then
  code = 2
elseif run_rank == 3 or rank < run_rank then
  code = 3
end

-- A thread's first event creates it.
local old_status = th.status or 'idle'
if not exists then
  redis.call('HSET', thread, 'created_at', now, 'updated_at', now, 'state_updated_at', now,
    'status', 'idle', 'status_since', now, 'metadata', '{}', 'config', '{}', 'mver', '0')
  redis.call('ZADD', KEYS[4], now, thread_id)
  for i = 8, 10 do redis.call('ZADD', KEYS[i], now, thread_id) end
  redis.call('ZADD', KEYS[11], 0, thread_id)
  th.created_at = now
end

local changed = not exists
if ARGV[9] ~= '' then
  redis.call('HSET', thread, 'metadata', ARGV[11], 'mver', ARGV[18])
  local leave = tonumber(ARGV[10])
  for i = 12, 11 + leave do redis.call('SREM', KEYS[i], thread_id) end
  for i = 12 + leave, #KEYS do redis.call('SADD', KEYS[i], thread_id) end
  changed = true
end

local new_status = old_status
if code == 1 then
  changed = true
  -- The run record.
  if run_rank == 0 then
    redis.call('HSET', run, 'thread_id', thread_id, 'created_at', at,
      'metadata', ARGV[15], 'kwargs', ARGV[16])
    if ARGV[14] ~= '' then redis.call('HSET', run, 'assistant_id', ARGV[14]) end
    if ARGV[17] ~= '' then redis.call('HSET', run, 'multitask_strategy', ARGV[17]) end
    redis.call('ZADD', runs, at, run_id)
  end
  redis.call('HSET', run, 'status', ARGV[5], 'event', event_type, 'rank', ARGV[4],
    'updated_at', now)

  -- In-flight count: +1 when a run enters pending/running, -1 when it leaves.
  local was_inflight = (run_rank == 1 or run_rank == 2) and 1 or 0
  local is_inflight = (rank == 1 or rank == 2) and 1 or 0
  local inflight = tonumber(th.inflight or '0') + is_inflight - was_inflight
  if inflight < 0 then inflight = 0 end
  redis.call('HSET', thread, 'inflight', string.format('%d', inflight))

  local outcome, outcome_version = th.outcome, th.outcome_version
  if rank == 3 and (not outcome_version or version > outcome_version) then
    outcome, outcome_version = ARGV[6], version
    redis.call('HSET', thread, 'outcome', outcome, 'outcome_version', version,
      'interrupts', ARGV[12], 'error', ARGV[13], 'state_updated_at', now)
    redis.call('ZADD', KEYS[10], now, thread_id)
  end
  if ARGV[8] ~= '' and (not th.values_version or version > th.values_version) then
    redis.call('HSET', thread, 'values', ARGV[8], 'values_version', version)
  end

  -- Derive the status and since when it holds: busy from the event that made it busy,
  -- otherwise from the time of the outcome's terminal event.
  local since
  if inflight > 0 then
    new_status = 'busy'
    since = old_status == 'busy' and th.status_since or at
  else
    new_status = outcome or 'idle'
    since = outcome_version and string.match(outcome_version, '^0*(%d+)|') or th.created_at
  end
  if new_status ~= old_status then
    redis.call('ZREM', status_key[old_status], thread_id)
  end
  if new_status ~= old_status or since ~= th.status_since then
    redis.call('ZADD', status_key[new_status], since, thread_id)
    redis.call('HSET', thread, 'status', new_status, 'status_since', since)
  end
end

if changed then
  redis.call('HSET', thread, 'updated_at', now)
  redis.call('ZADD', KEYS[9], now, thread_id)
end
return {code, old_status, new_status}
