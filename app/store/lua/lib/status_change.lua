-- lib/status_change.lua: shared by the scripts that change a thread's status; scripts.py
-- prepends it. Metric field names and histogram buckets mirror app/metrics.py.
--
-- Counters are added up in `counts` while a script runs and written by flush_counts() at
-- its end: one HINCRBY per distinct field per call, however many events the call applies.

local RUN_DURATION_BUCKETS = {'0.1', '0.5', '1', '2.5', '5', '10', '30', '60', '120', '300',
                              '600', '1800', '3600'}
local EVENT_DELAY_BUCKETS = {'0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1',
                             '0.25', '0.5', '1', '2.5', '5', '10'}

local counts, sums = {}, {}

local function count(field, n)
  counts[field] = (counts[field] or 0) + (n or 1)
end

-- Write the counters added up so far to the metrics hash.
local function flush_counts(metrics)
  for field, n in pairs(counts) do redis.call('HINCRBY', metrics, field, n) end
  for field, x in pairs(sums) do redis.call('HINCRBYFLOAT', metrics, field, x) end
  counts, sums = {}, {}
end

-- Note a status change in the thread's capped history (newest first) and in the
-- transitions counter; `from` is false for a thread's first status (not counted). An entry
-- is "at|from|to|run_id" (µs; from and run_id may be empty): none of its parts holds "|".
local function record_status_change(history, limit, from, to, at, run_id)
  local entry = at .. '|' .. (from or '') .. '|' .. to .. '|' .. (run_id or '')
  if redis.call('LPUSH', history, entry) > limit then
    redis.call('LTRIM', history, 0, limit - 1)
  end
  if from then count('transitions|' .. from .. '|' .. to) end
end

-- One observation of a histogram kept as per-bucket counts (not cumulative), sum and count.
local function observe(name, buckets, value)
  local bucket = '+Inf'
  for _, bound in ipairs(buckets) do
    if value <= tonumber(bound) then
      bucket = bound
      break
    end
  end
  count(name .. '|le|' .. bucket)
  count(name .. '|count')
  sums[name .. '|sum'] = (sums[name .. '|sum'] or 0) + value
end

