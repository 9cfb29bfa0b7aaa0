-- repair/reindex_thread_leaves.lua (threadwatch doctor): put one thread in exactly the
-- per-status leaf sets of its status and metadata (lib/leaf_sets.lua): its `leaves` field
-- becomes the ids of those leaves (ids handed out where missing), and it leaves the sets of
-- its former leaves and of the other statuses. Leaf ids left without members are dropped by
-- the doctor.
--
-- KEYS[1]      thread hash
-- KEYS[2..3]   leaf ids hash and the prefix of the per-status leaf sets
-- KEYS[4..]    the leaves of the thread's metadata (Keys.metadata_leaf names), as the
--              caller computed them
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      metadata version token the caller read the metadata with
-- Returns 1 when changed, 0 when it already was so, -1 when the thread is missing or its
-- metadata changed since the caller read it (nothing written).
-- uses: lib/leaf_sets.lua

local th = redis.call('HMGET', KEYS[1], 'mver', 'status', 'leaves')
if not th[2] or (th[1] or '0') ~= ARGV[2] then return -1 end
use_leaf_index(KEYS[2], KEYS[3])
local member, status = ARGV[1], th[2]
local wanted, all = {}, {}
for i = 4, #KEYS do
  local id = leaf_id(KEYS[i])
  wanted[id], all[id] = true, true
end
for _, id in ipairs(parse_leaves(th[3] or '')) do all[id] = true end
local changed = 0
for id in pairs(all) do
  for _, other in ipairs(STATUSES) do
    if other ~= status or not wanted[id] then
      changed = changed + redis.call('SREM', leaf_set(other, id), member)
    end
  end
  if wanted[id] then changed = changed + redis.call('SADD', leaf_set(status, id), member) end
end
local leaves = leaves_field(wanted)
if leaves ~= th[3] then
  redis.call('HSET', KEYS[1], 'leaves', leaves)
  changed = changed + 1
end
return changed > 0 and 1 or 0
