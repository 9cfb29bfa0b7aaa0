-- patch_thread.lua: replace a thread's metadata (already merged by the caller) and/or TTL,
-- moving its metadata index entries, and bump updated_at. Status and state are untouched.
--
-- KEYS[1]      thread hash
-- KEYS[2]      order zset updated_at
-- KEYS[3]      ttl zset (thread member -> expiry, µs): holds the thread iff it has a TTL after
--              the patch, scored by its expiry (the new updated_at plus the TTL)
-- KEYS[4..5]   leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[6..]    ARGV[4] leaves to leave, then those to join (Keys.metadata_leaf names)
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      metadata version token the caller merged from, or "" when metadata is unchanged
-- ARGV[3]      new metadata JSON (ignored when ARGV[2] is "")
-- ARGV[4]      number of leaves to leave
-- ARGV[5]      ttl minutes: "" keeps the TTL, "0" removes it
-- ARGV[6]      ttl strategy
-- ARGV[7]      fresh version token for the new metadata
-- ARGV[8]      assistant_id the new metadata implies, or "" (kept for runs that name none)
-- Returns {1, hash...} when patched, {0} when the thread does not exist,
-- {-1} when the metadata changed since the caller read it (read again and retry).
-- uses: lib/clock.lua, lib/leaf_sets.lua

if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end

local member = ARGV[1]
if ARGV[2] ~= '' then
  local th = redis.call('HMGET', KEYS[1], 'mver', 'status', 'leaves')
  if (th[1] or '0') ~= ARGV[2] then return {-1} end
  redis.call('HSET', KEYS[1], 'metadata', ARGV[3], 'mver', ARGV[7])
  if ARGV[8] ~= '' then
    redis.call('HSET', KEYS[1], 'assistant_id', ARGV[8])
  else
    redis.call('HDEL', KEYS[1], 'assistant_id')
  end
  use_leaf_index(KEYS[4], KEYS[5])
  local leave, join = {}, {}
  for i = 6, #KEYS do
    if i < 6 + tonumber(ARGV[4]) then leave[#leave + 1] = KEYS[i] else join[#join + 1] = KEYS[i] end
  end
  local leaves = change_leaves(member, th[3], th[2], leave, join)
  if leaves then redis.call('HSET', KEYS[1], 'leaves', leaves) end
end

if ARGV[5] == '0' then
  redis.call('HDEL', KEYS[1], 'ttl_minutes', 'ttl_strategy', 'ttl_pruned_at')
elseif ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'ttl_minutes', ARGV[5], 'ttl_strategy', ARGV[6])
end

local now = now_us()
redis.call('HSET', KEYS[1], 'updated_at', now)
redis.call('ZADD', KEYS[2], now, member)
-- The TTL counts from updated_at (app/store/codec.py ttl_expiry_us), which just moved.
local minutes = redis.call('HGET', KEYS[1], 'ttl_minutes')
if minutes then
  redis.call('ZADD', KEYS[3], after_us(math.floor(tonumber(minutes) * 60000000)), member)
else
  redis.call('ZREM', KEYS[3], member)
end
return {1, redis.call('HGETALL', KEYS[1])}
