-- repair/drop_leaf.lua (threadwatch doctor): remove a thread from one per-status leaf set
-- unless, as its hash says now, it is in that status and holds that leaf (lib/leaf_sets.lua).
-- uses: lib/leaf_sets.lua
--
-- KEYS[1]      thread hash
-- KEYS[2]      the leaf set
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      the set's status
-- ARGV[3]      the set's leaf id
-- Returns 1 when removed, 0 when it was not there, -1 when it belongs there (nothing
-- written).

local th = redis.call('HMGET', KEYS[1], 'status', 'leaves')
if th[1] == ARGV[2] and th[2] then
  for _, id in ipairs(parse_leaves(th[2])) do
    if id == ARGV[3] then return -1 end
  end
end
return redis.call('SREM', KEYS[2], ARGV[1])
