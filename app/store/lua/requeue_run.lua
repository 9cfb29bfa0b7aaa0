-- requeue_run.lua: a lost run (its lease ran out) goes back to `pending` to be executed
-- again, atomically with the check that its lease has really run out. The thread stays
-- busy: the run is still in flight.
--
-- KEYS[1]      run hash
-- KEYS[2..4]   leases, runs:pending and runs:running zsets
-- ARGV[1]      run_id
-- Returns the run's attempt count after this one, or -4 when its lease is live or gone
-- (nothing written).
-- uses: lib/clock.lua, lib/leases.lua

local run, leases, pending, running = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local run_id = ARGV[1]
if not lease_ran_out(leases, run_id) then return -4 end
if tonumber(redis.call('HGET', run, 'rank') or '0') ~= 2 then return -4 end

local now = now_us()
redis.call('ZREM', leases, run_id)
redis.call('ZREM', running, run_id)
redis.call('ZADD', pending, now, run_id)
redis.call('HSET', run, 'status', 'pending', 'event', 'run.pending', 'rank', 1, 'updated_at', now)
redis.call('HDEL', run, 'started_at')
return redis.call('HINCRBY', run, 'attempts', 1)
