-- repair/drop_leaf_id.lua (threadwatch doctor): drop a leaf id none of whose per-status sets
-- has members (lib/leaf_sets.lua), if the leaf still has that id.
--
-- KEYS[1]      leaf ids hash
-- KEYS[2..5]   the leaf's sets, one per status
-- ARGV[1]      the leaf's name (Keys.metadata_leaf)
-- ARGV[2]      its id
-- Returns 1 when dropped, else 0.

if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
for i = 2, 5 do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
return redis.call('HDEL', KEYS[1], ARGV[1])
