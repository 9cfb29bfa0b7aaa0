-- lib/leases.lua: a run in flight holds a lease, its member in the leases zset scored by when
-- the lease runs out (µs). The sweeper (app/runs/liveness.py) ends or requeues the runs whose
-- lease ran out, each through a script that checks it again, atomically, with this.
-- uses: lib/clock.lua

-- Whether the lease of `run_id` in the zset `leases` has run out: false while it is live,
-- and when the run holds none.
local function lease_ran_out(leases, run_id)
  local expiry = redis.call('ZSCORE', leases, run_id)
  return expiry ~= false and tonumber(expiry) <= tonumber(now_us())
end
