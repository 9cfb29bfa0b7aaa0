-- repair/read_thread.lua (threadwatch doctor): read one thread and every index entry the
-- doctor checks for it at one instant, so that a write in progress elsewhere can never look
-- like a disagreement. Reads only.
-- uses: lib/leaf_sets.lua
--
-- KEYS[1]      thread hash
-- KEYS[2..5]   status zsets (Keys.statuses)
-- KEYS[6..9]   order zsets (Keys.orders)
-- KEYS[10..11] leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[12..]   the leaves of the thread's metadata (Keys.metadata_leaf names), as the
--              caller computed them from the metadata of version ARGV[2]
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2]      the metadata version token (mver) the caller read, "0" for none
-- ARGV[3..]    the thread hash fields to read (`status` and `mver` among them)
-- Returns {1, fields, status scores, order scores, leaf ids, held} where a leaf id is false
-- for a leaf without one and held[i] is 1 when the thread is in the set of its status for
-- leaf i; {0} for a missing thread, {-1} when its metadata is no longer of version ARGV[2].

local FIRST_LEAF = 12
local member = ARGV[1]
local names = {}
for i = 3, #ARGV do names[#names + 1] = ARGV[i] end
local fields = redis.call('HMGET', KEYS[1], unpack(names))
local row = {}
for i, name in ipairs(names) do row[name] = fields[i] end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if (row.mver or '0') ~= ARGV[2] then return {-1} end
local statuses, orders = {}, {}
for k = 2, 5 do statuses[#statuses + 1] = redis.call('ZSCORE', KEYS[k], member) end
for k = 6, 9 do orders[#orders + 1] = redis.call('ZSCORE', KEYS[k], member) end
use_leaf_index(KEYS[10], KEYS[11])
local ids, held = {}, {}
for k = FIRST_LEAF, #KEYS do
  local id = redis.call('HGET', KEYS[10], KEYS[k])
  ids[#ids + 1] = id
  held[#held + 1] = id and row.status and redis.call('SISMEMBER', leaf_set(row.status, id), member) or 0
end
return {1, fields, statuses, orders, ids, held}
