-- lib/status_change.lua: shared by the scripts that change a thread's status; scripts.py
-- prepends it. Metric field names and histogram buckets mirror app/metrics.py.

local RUN_DURATION_BUCKETS = {'0.1', '0.5', '1', '2.5', '5', '10', '30', '60', '120', '300',
                              '600', '1800', '3600'}
local EVENT_DELAY_BUCKETS = {'0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1',
                             '0.25', '0.5', '1', '2.5', '5', '10'}

-- Note a status change in the thread's capped history (newest first) and in the
-- transitions counter; `from` is false for a thread's first status (not counted).
local function record_status_change(history, metrics, limit, from, to, at, run_id)
  local entry = {at = at, from = from or cjson.null, to = to, run_id = run_id or cjson.null}
  redis.call('LPUSH', history, cjson.encode(entry))
  redis.call('LTRIM', history, 0, limit - 1)
  if from then redis.call('HINCRBY', metrics, 'transitions|' .. from .. '|' .. to, 1) end
end

-- One observation of a histogram kept as per-bucket counts (not cumulative), sum and count.
local function observe(metrics, name, buckets, value)
  local bucket = '+Inf'
  for _, bound in ipairs(buckets) do
    if value <= tonumber(bound) then
      bucket = bound
      break
    end
  end
  redis.call('HINCRBY', metrics, name .. '|le|' .. bucket, 1)
  redis.call('HINCRBYFLOAT', metrics, name .. '|sum', value)
  redis.call('HINCRBY', metrics, name .. '|count', 1)
end

