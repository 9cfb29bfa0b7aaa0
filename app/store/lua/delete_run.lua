-- delete_run.lua: remove a run record (DELETE of a run, or a rolled-back run) and derive
-- the thread's status again from what is left, atomically.
--
-- A run that was in flight stops counting as such; the thread keeps its values and the
-- outcome of its latest finished run (LangGraph keeps values and interrupts on rollback).
--
-- KEYS[1]      thread hash
-- KEYS[2]      run hash
-- KEYS[3]      thread runs zset
-- KEYS[4..7]   status zsets: idle, busy, interrupted, error
-- KEYS[8]      order zset updated_at
-- KEYS[9]      thread transitions list
-- KEYS[10..13] leases, runs:pending and runs:running zsets, metrics hash
-- KEYS[14..15] leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- ARGV[1]      thread_id
-- ARGV[2]      run_id
-- ARGV[3]      status changes kept per thread
-- ARGV[4]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- Returns {1, old thread status, new thread status} when deleted, {0} when the run does
-- not exist on that thread.
-- uses: lib/clock.lua, lib/leaf_sets.lua, lib/status_change.lua, lib/thread_status.lua

local thread, run, runs = KEYS[1], KEYS[2], KEYS[3]
local thread_id, run_id, member = ARGV[1], ARGV[2], ARGV[4]

local r = redis.call('HMGET', run, 'thread_id', 'rank')
if r[1] ~= thread_id then return {0} end
redis.call('DEL', run)
redis.call('ZREM', runs, run_id)
for k = 10, 12 do redis.call('ZREM', KEYS[k], run_id) end

local th = redis.call('HMGET', thread, 'status', 'inflight', 'outcome', 'outcome_version',
  'status_since', 'created_at', 'leaves')
if not th[1] then return {1, '', ''} end
local inflight = tonumber(th[2] or '0')
local rank = tonumber(r[2] or '0')
if (rank == 1 or rank == 2) and inflight > 0 then inflight = inflight - 1 end

local old_status, old_since = th[1], th[5]
local new_status, since = derive_status(inflight, th[3], th[4], th[6], old_status, old_since,
  old_since)
use_thread_status(KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[3])
use_leaf_index(KEYS[14], KEYS[15])
move_thread(member, th[7], old_status, old_since, new_status, since, KEYS[9], run_id)
flush_leaf_moves()
local now = now_us()
redis.call('HSET', thread, 'inflight', string.format('%d', inflight), 'status', new_status,
  'status_since', since, 'updated_at', now)
redis.call('ZADD', KEYS[8], now, member)
flush_counts(KEYS[13])
return {1, old_status, new_status}
