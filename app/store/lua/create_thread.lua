-- create_thread.lua: insert a thread with every index entry, unless it already exists.
--
-- KEYS[1]      thread hash
-- KEYS[2]      status zset of the new thread's status (idle)
-- KEYS[3..6]   order zsets: created_at, updated_at, state_updated_at, thread_id
-- KEYS[7]      ttl zset (thread member -> expiry, µs)
-- KEYS[8..9]   leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[10..]   the leaves of the new metadata (Keys.metadata_leaf names)
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      metadata JSON
-- ARGV[3]      config JSON
-- ARGV[4]      values JSON, or "" for none (null)
-- ARGV[5]      metadata version token ("0" for {}, a fresh random token otherwise)
-- ARGV[6]      ttl minutes, or "" (or "0") for none
-- ARGV[7]      ttl strategy
-- ARGV[8]      assistant_id the metadata implies, or "" (kept for runs that name none)
-- Returns {1, hash...} when created, {0, hash...} when the thread already existed
-- (hash = HGETALL of the thread, as a flat list).
-- uses: lib/clock.lua, lib/leaf_sets.lua

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGETALL', KEYS[1])}
end

local now = now_us()
local member = ARGV[1]
use_leaf_index(KEYS[8], KEYS[9])
mark_indexed_if_empty(KEYS[3])
local join = {}
for i = 10, #KEYS do join[#join + 1] = KEYS[i] end
local leaves = change_leaves(member, '', 'idle', {}, join)

redis.call('HSET', KEYS[1],
  'created_at', now, 'updated_at', now, 'state_updated_at', now, 'status_since', now,
  'status', 'idle', 'metadata', ARGV[2], 'config', ARGV[3], 'mver', ARGV[5],
  'leaves', leaves)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'values', ARGV[4]) end
if ARGV[6] ~= '' and ARGV[6] ~= '0' then
  redis.call('HSET', KEYS[1], 'ttl_minutes', ARGV[6], 'ttl_strategy', ARGV[7])
  -- Its expiry: updated_at (now) plus the TTL, as app/store/codec.py ttl_expiry_us computes it.
  redis.call('ZADD', KEYS[7], after_us(math.floor(tonumber(ARGV[6]) * 60000000)), member)
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'assistant_id', ARGV[8]) end

redis.call('ZADD', KEYS[2], now, member)
for i = 3, 5 do redis.call('ZADD', KEYS[i], now, member) end
redis.call('ZADD', KEYS[6], 0, member)

return {1, redis.call('HGETALL', KEYS[1])}
