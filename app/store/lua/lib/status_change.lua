-- lib/status_change.lua: the metrics and history of the scripts that change a thread's
-- status (through lib/thread_status.lua). Metric field names and histogram buckets mirror
-- app/store/counters.py.
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

-- The counter field of status changes from `from` to `to`, built once per call.
local transition_fields = {}
local function transition_field(from, to)
  local of = transition_fields[from]
  if not of then
    of = {}
    transition_fields[from] = of
  end
  local field = of[to]
  if not field then
    field = 'transitions|' .. from .. '|' .. to
    of[to] = field
  end
  return field
end

-- Note a status change in the thread's capped history (newest first) and in the
-- transitions counter; `from` is false for a thread's first status (not counted). An entry
-- is "at|from|to|run_id" (µs; from and run_id may be empty): none of its parts holds "|".
local function record_status_change(history, limit, from, to, at, run_id)
  local entry = at .. '|' .. (from or '') .. '|' .. to .. '|' .. (run_id or '')
  if redis.call('LPUSH', history, entry) > limit then
    redis.call('LTRIM', history, 0, limit - 1)
  end
  if from then count(transition_field(from, to)) end
end

-- A histogram's numeric bounds and field names, built once per call by histogram().
local histograms = {}
local function histogram(name, buckets)
  local h = histograms[name]
  if not h then
    h = {bounds = {}, fields = {}, inf = name .. '|le|+Inf', count = name .. '|count',
         sum = name .. '|sum'}
    for i, bound in ipairs(buckets) do
      h.bounds[i] = tonumber(bound)
      h.fields[i] = name .. '|le|' .. bound
    end
    histograms[name] = h
  end
  return h
end

-- One observation of a histogram kept as per-bucket counts (not cumulative), sum and count.
local function observe(name, buckets, value)
  local h = histogram(name, buckets)
  local field = h.inf
  for i, bound in ipairs(h.bounds) do
    if value <= bound then
      field = h.fields[i]
      break
    end
  end
  count(field)
  count(h.count)
  sums[h.sum] = (sums[h.sum] or 0) + value
end
