-- set_state.lua: a thread's state changed outside any run (POST /threads/{id}/state):
-- its values, interrupts and status follow the new checkpoint, atomically.
--
-- The update counts as the thread's newest outcome (version "now|~state"), so runs that
-- ended earlier no longer decide the status; a later run does.
--
-- KEYS[1]      thread hash
-- KEYS[2..5]   status zsets: idle, busy, interrupted, error
-- KEYS[6]      order zset updated_at
-- KEYS[7]      order zset state_updated_at
-- KEYS[8]      thread transitions list
-- KEYS[9]      metrics hash
-- KEYS[10..11] leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[12]     thread stream
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      values JSON
-- ARGV[3]      interrupts JSON
-- ARGV[4]      the status the new state leaves: "interrupted" (nodes left to run) or "idle"
-- ARGV[5]      status changes kept per thread
-- ARGV[6]      the `state_update` event of a watched thread's stream (JSON)
-- ARGV[7..8]   thread stream cap and expiry, seconds (lib/thread_stream.lua)
-- Returns {1, hash...} when applied, {0} when the thread does not exist, {-1} when a run
-- is pending or running on it (nothing written).
-- uses: lib/clock.lua, lib/leaf_sets.lua, lib/status_change.lua, lib/thread_status.lua
-- uses: lib/thread_stream.lua

local thread = KEYS[1]
local got = redis.call('HMGET', thread, 'status', 'inflight', 'leaves', 'watch')
if not got[1] then return {0} end
if tonumber(got[2] or '0') > 0 then return {-1} end

local now = now_us()
local version = string.rep('0', 16 - #now) .. now .. '|~state'
local member, old_status, new_status = ARGV[1], got[1], ARGV[4]

redis.call('HSET', thread, 'values', ARGV[2], 'values_version', version,
  'interrupts', ARGV[3], 'error', 'null', 'outcome', new_status, 'outcome_version', version,
  'updated_at', now, 'state_updated_at', now)
-- Placed again even in the same status: it is its status since now.
use_thread_status(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[5])
use_leaf_index(KEYS[10], KEYS[11])
move_thread(member, got[3], old_status, false, new_status, now, KEYS[8], false)
flush_leaf_moves()
redis.call('HSET', thread, 'status', new_status, 'status_since', now)
redis.call('ZADD', KEYS[6], now, member)
redis.call('ZADD', KEYS[7], now, member)
flush_counts(KEYS[9])
if thread_watched(got[4], now) then
  use_thread_stream(ARGV[7], ARGV[8])
  publish_thread_event(KEYS[12], 'state_update', ARGV[6])
end
return {1, redis.call('HGETALL', thread)}
