-- leaf_count.lua: threads in one status holding one metadata leaf, from the counts that
-- lib/leaf_counts.lua keeps (one HGET instead of intersecting the status and leaf sets).
--
-- KEYS[1]      leaf ids hash
-- KEYS[2]      leaf counts hash
-- KEYS[3]      the leaf set
-- ARGV[1]      status
-- Returns the count, or -1 while some thread is not counted yet (a store written before
-- counts existed, until `threadwatch doctor --fix`): the caller intersects the sets instead.

local got = redis.call('HMGET', KEYS[1], '#all', KEYS[3])
if not got[1] then return -1 end
if not got[2] then return 0 end
return tonumber(redis.call('HGET', KEYS[2], ARGV[1] .. '|' .. got[2]) or '0')
