-- repair/fix_run_index.lua (threadwatch doctor): put one run in the run indexes its hash
-- says: runs:pending while pending (scored by created_at), runs:running while running (by
-- started_at), neither and without a lease once finished; a missing run leaves all three.
--
-- KEYS[1]      run hash
-- KEYS[2..4]   runs:pending, runs:running and leases zsets
-- ARGV[1]      run id
-- Returns the number of entries changed, -1 for a run without a rank (nothing written).

local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.call('ZREM', KEYS[2], id) + redis.call('ZREM', KEYS[3], id)
    + redis.call('ZREM', KEYS[4], id)
end
local r = redis.call('HMGET', KEYS[1], 'rank', 'created_at', 'started_at', 'updated_at')
if not r[1] then return -1 end
if r[1] == '1' then
  return redis.call('ZADD', KEYS[2], 'NX', r[2], id) + redis.call('ZREM', KEYS[3], id)
elseif r[1] == '2' then
  return redis.call('ZADD', KEYS[3], 'NX', r[3] or r[4], id) + redis.call('ZREM', KEYS[2], id)
end
return redis.call('ZREM', KEYS[2], id) + redis.call('ZREM', KEYS[3], id)
  + redis.call('ZREM', KEYS[4], id)
