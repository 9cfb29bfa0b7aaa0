-- trim_runs.lua: delete a thread's oldest ended runs beyond what it keeps (the sweep, for
-- threads transition.lua put in the runs:trim set). A run still in flight is kept; nothing
-- else of the thread changes: its status derives from its own fields, not its run records.
--
-- KEYS[1]      the thread's runs zset
-- then, per run: its hash, output, stream, cancel flag
-- ARGV         the run ids, in the order of their keys
-- Returns how many runs were deleted.

local deleted = 0
for i, run_id in ipairs(ARGV) do
  local base = 2 + (i - 1) * 4
  local status = redis.call('HGET', KEYS[base], 'status')
  if status ~= 'pending' and status ~= 'running' then
    redis.call('DEL', KEYS[base], KEYS[base + 1], KEYS[base + 2], KEYS[base + 3])
    redis.call('ZREM', KEYS[1], run_id)
    deleted = deleted + 1
  end
end
return deleted
