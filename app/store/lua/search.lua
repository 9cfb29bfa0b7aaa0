-- search.lua: one page of thread ids matching every filter set, in sort order.
--
-- The planner reads the filter cardinalities and picks the cheaper of two plans:
--   walk       read the sort index in order, chunk by chunk, and keep the ids that are in
--              every filter (SMISMEMBER / ZMSCORE); cheap when matches are dense. It gives
--              up after ARGV[5] ids and falls back to intersect, so a wrong estimate costs
--              a bounded amount.
--   intersect  ZINTERSTORE the sort index with the filters (weight 0: the result keeps the
--              sort score) into a scratch key, read the page, delete it; cheap when the
--              smallest filter is small. Redis iterates the smallest input.
-- With no filter the sort index is paged directly ("scan" of one page only).
--
-- KEYS[1]      sort zset (order:created_at, ...; order:thread_id has score 0 everywhere,
--              so rank order is thread_id order)
-- KEYS[2]      scratch zset (deleted before returning)
-- KEYS[3..]    filters: ARGV[4] status zsets first, then metadata leaf sets
-- ARGV[1]      offset (in matches)
-- ARGV[2]      count of ids to return
-- ARGV[3]      "1" for descending order
-- ARGV[4]      number of zset filters (0 or 1: the status)
-- ARGV[5]      walk budget: ids the walk may read before falling back
-- ARGV[6]      plan: "auto", "walk" or "intersect" (forced, for tests and benchmarks)
-- Returns {plan used, id, id, ...}. Ties in the sort score come in thread_id order
-- (reversed for descending), which makes the order stable.

local sort, scratch = KEYS[1], KEYS[2]
local offset, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local desc = ARGV[3] == '1'
local n_zsets, budget, forced = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]

local function page(key, start, n)
  if n <= 0 then return {} end
  if desc then return redis.call('ZREVRANGE', key, start, start + n - 1) end
  return redis.call('ZRANGE', key, start, start + n - 1)
end

local function with_plan(plan, ids)
  table.insert(ids, 1, plan)
  return ids
end

local n_filters = #KEYS - 2
if n_filters == 0 then return with_plan('scan', page(sort, offset, count)) end

local total = redis.call('ZCARD', sort)
local smallest, selectivity = total, 1.0
for i = 3, #KEYS do
  local card
  if i - 2 <= n_zsets then card = redis.call('ZCARD', KEYS[i]) else card = redis.call('SCARD', KEYS[i]) end
  if card == 0 then return {'empty'} end
  if card < smallest then smallest = card end
  selectivity = selectivity * card / math.max(total, 1)
end
if total == 0 then return {'empty'} end

local function intersect()
  local args = {scratch, n_filters + 1, sort}
  for i = 3, #KEYS do args[#args + 1] = KEYS[i] end
  args[#args + 1] = 'WEIGHTS'
  args[#args + 1] = 1
  for _ = 1, n_filters do args[#args + 1] = 0 end
  redis.call('ZINTERSTORE', unpack(args))
  local ids = page(scratch, offset, count)
  redis.call('DEL', scratch)
  return with_plan('intersect', ids)
end

local function member_flags(ids)
  local ok = {}
  for j = 1, #ids do ok[j] = true end
  for i = 3, #KEYS do
    local flags
    if i - 2 <= n_zsets then flags = redis.call('ZMSCORE', KEYS[i], unpack(ids))
    else flags = redis.call('SMISMEMBER', KEYS[i], unpack(ids)) end
    for j = 1, #ids do
      if not flags[j] or flags[j] == 0 then ok[j] = false end
    end
  end
  return ok
end

-- Walk: returns the page, or nil when the budget ran out.
local function walk(limit_reads)
  local wanted = offset + count
  local chunk = math.ceil(wanted / math.max(selectivity, 1e-9) * 1.25)
  chunk = math.max(64, math.min(chunk, 1000))
  local pos, matched, out = 0, 0, {}
  while pos < total do
    if limit_reads and pos >= budget then return nil end
    local ids = page(sort, pos, chunk)
    if #ids == 0 then break end
    local ok = member_flags(ids)
    for j = 1, #ids do
      if ok[j] then
        matched = matched + 1
        if matched > offset then
          out[#out + 1] = ids[j]
          if #out >= count then return with_plan('walk', out) end
        end
      end
    end
    pos = pos + #ids
  end
  return with_plan('walk', out)
end

if forced == 'intersect' then return intersect() end
if forced == 'walk' then return walk(false) end

-- Costs in units of one membership check (measured at 1M threads, bench/bench_core.py):
-- a walked id costs a range read plus a check per filter, about twice a bare check; the
-- intersection checks each id of the smallest input against the others, and storing a
-- match in the scratch set (a sorted insert) costs about four checks.
local wanted = offset + count
local reads = math.min(total, wanted / math.max(selectivity, 1e-9))
local walk_cost = reads * (n_filters + 1) * 2
local intersect_cost = smallest * (n_filters + 1) + 4 * selectivity * total
if walk_cost <= intersect_cost then
  local result = walk(true)
  if result then return result end
end
return intersect()
