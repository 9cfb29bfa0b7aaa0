-- delete_thread.lua: remove a thread, its runs and every index entry, or nothing.
--
-- KEYS[1]      thread hash
-- KEYS[2]      thread runs zset
-- KEYS[3..6]   status zsets: idle, busy, interrupted, error
-- KEYS[7..10]  order zsets: created_at, updated_at, state_updated_at, thread_id
-- KEYS[11]     thread transitions list
-- KEYS[12..15] leases, runs:pending and runs:running zsets, ttl zset
-- KEYS[16..17] leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[18]     the thread's waiting runs zset (lua/run_turn.lua)
-- KEYS[19..]   ARGV[3] leaves of the thread (Keys.metadata_leaf names), then its run hashes
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      metadata version token the caller read the leaves from
-- ARGV[3]      number of leaves
-- ARGV[4]      number of runs the caller read
-- ARGV[5..]    their run ids, in the order of their hashes in KEYS
-- Returns 1 when deleted, 0 when the thread does not exist, -1 when metadata or runs
-- changed since the caller read them (read again and retry).
-- uses: lib/leaf_sets.lua

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local th = redis.call('HMGET', KEYS[1], 'mver', 'status', 'leaves')
if (th[1] or '0') ~= ARGV[2] or redis.call('ZCARD', KEYS[2]) ~= tonumber(ARGV[4]) then
  return -1
end

local member = ARGV[1]
for i = 3, 10 do redis.call('ZREM', KEYS[i], member) end
redis.call('ZREM', KEYS[15], member)
local leaves = tonumber(ARGV[3])
local leave = {}
for i = 19, 18 + leaves do leave[#leave + 1] = KEYS[i] end
use_leaf_index(KEYS[16], KEYS[17])
change_leaves(member, th[3], th[2], leave, {})
for i = 19 + leaves, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 5, #ARGV do
  for k = 12, 14 do redis.call('ZREM', KEYS[k], ARGV[i]) end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[11], KEYS[18])
return 1
