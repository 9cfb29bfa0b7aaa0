-- recount_leaf.lua (threadwatch doctor): set one leaf's counts (lib/leaf_counts.lua) to the
-- size of its set's intersection with each status set, and drop the id of a set that no
-- longer exists. Exact only once every thread is counted (`doctor --fix` recounts the
-- threads first).
--
-- KEYS[1..2]   leaf ids and leaf counts hashes
-- KEYS[3]      the leaf set
-- KEYS[4..7]   status zsets, in the order of ARGV
-- ARGV[1..4]   status names
-- Returns the number of count fields (or ids) changed.

use_leaf_index(KEYS[1], KEYS[2])
local id = redis.call('HGET', KEYS[1], KEYS[3])
local exists = redis.call('EXISTS', KEYS[3]) == 1
local changed = 0
if not exists then
  if not id then return 0 end
  redis.call('HDEL', KEYS[1], KEYS[3])
  changed = 1
elseif not id then
  id = leaf_id(KEYS[3])
  changed = 1
end
for i = 1, 4 do
  local field = ARGV[i] .. '|' .. id
  local n = exists and redis.call('ZINTERCARD', 2, KEYS[3 + i], KEYS[3]) or 0
  if tonumber(redis.call('HGET', KEYS[2], field) or '0') ~= n then
    changed = changed + 1
    if n == 0 then redis.call('HDEL', KEYS[2], field) else redis.call('HSET', KEYS[2], field, n) end
  end
end
return changed
