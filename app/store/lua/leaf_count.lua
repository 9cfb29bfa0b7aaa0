-- leaf_count.lua: threads holding every leaf of a metadata filter, in one status or in any,
-- from the per-status leaf sets (lib/leaf_sets.lua): SCARD for one leaf, SINTERCARD for
-- several, summed over the statuses.
--
-- KEYS[1..2]   leaf ids hash and the prefix of the per-status leaf sets
-- ARGV[1]      status, or "" for every status
-- ARGV[2..]    the filter's leaves (Keys.metadata_leaf names), at least one
-- Returns the count.
-- uses: lib/leaf_sets.lua

use_leaf_index(KEYS[1], KEYS[2])
local names = {}
for i = 2, #ARGV do names[#names + 1] = ARGV[i] end
local ids = known_leaf_ids(names)
if not ids then return 0 end  -- a leaf no thread holds
local statuses = ARGV[1] ~= '' and {ARGV[1]} or STATUSES
local total = 0
for _, status in ipairs(statuses) do
  if #ids == 1 then
    total = total + redis.call('SCARD', leaf_set(status, ids[1]))
  else
    local args = {'SINTERCARD', #ids}
    for _, id in ipairs(ids) do args[#args + 1] = leaf_set(status, id) end
    total = total + redis.call(unpack(args))
  end
end
return total
