-- recount_thread_leaves.lua (threadwatch doctor): make one thread counted with exactly the
-- leaves of its metadata (lib/leaf_counts.lua): its `leaves` field becomes the ids of those
-- leaf sets (ids handed out where missing). The counts are not touched: the doctor recounts
-- the leaves whose counts then differ from their sets.
--
-- KEYS[1]      thread hash
-- KEYS[2..3]   leaf ids and leaf counts hashes
-- KEYS[4..]    the leaf sets of the thread's metadata, as the caller computed them
-- ARGV[1]      thread id
-- ARGV[2]      metadata version token the caller read the metadata with
-- Returns 1 when changed, 0 when it already was so, -1 when the thread is missing or its
-- metadata changed since the caller read it (nothing written).

local th = redis.call('HMGET', KEYS[1], 'mver', 'status', 'leaves')
if not th[2] or (th[1] or '0') ~= ARGV[2] then return -1 end
use_leaf_index(KEYS[2], KEYS[3])
local held = {}
for i = 4, #KEYS do held[leaf_id(KEYS[i])] = true end
local leaves = leaves_field(held)
if leaves == th[3] then return 0 end
redis.call('HSET', KEYS[1], 'leaves', leaves)
return 1
