-- expire_runs.lua: delete ended runs whose TTL ran out (the sweep, for the runs transition.lua
-- put in the runs:expiring zset when they ended). A run is deleted whole (its hash, output,
-- stream and cancel flag) and leaves its thread's runs zset; nothing else of the thread
-- changes: its status derives from its own fields, not its run records. A run not yet due
-- (re-scored since the caller read it) stays; one in flight, or gone, is only unindexed.
--
-- KEYS[1]      runs:expiring zset
-- then, per run: its hash, its thread's runs zset, its output, stream, cancel flag
-- ARGV         the run ids, in the order of their keys
-- Returns how many runs were deleted.
-- uses: lib/clock.lua

local EXPIRING = KEYS[1]
local now = tonumber(now_us())
local deleted = 0
for i, run_id in ipairs(ARGV) do
  local base = 2 + (i - 1) * 5
  local due = redis.call('ZSCORE', EXPIRING, run_id)
  if due and tonumber(due) <= now then
    redis.call('ZREM', EXPIRING, run_id)
    local status = redis.call('HGET', KEYS[base], 'status')
    if status and status ~= 'pending' and status ~= 'running' then
      redis.call('DEL', KEYS[base], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4])
      redis.call('ZREM', KEYS[base + 1], run_id)
      deleted = deleted + 1
    end
  end
end
return deleted
