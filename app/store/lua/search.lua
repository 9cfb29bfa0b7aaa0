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
-- Time in status (min_status_age_seconds): a thread matches when one of the age zsets (the
-- status zsets: the filtered status, or all four) holds it with a score (status_since) at
-- or before the cutoff, now - min age, now being the server's TIME unless given. The walk
-- checks it with ZMSCORE; intersect collects the matches from the cheaper side, the
-- cutoff's score ranges (ZRANGE BYSCORE, each id checked against the sets) or the smallest
-- set (each member checked against the other sets and the age zsets), and pages them by
-- their sort scores in the scratch key. Only ranges and members are read: never every thread.
--
-- KEYS[1]      sort zset (order:created_at, ...; order:thread_id has score 0 everywhere,
--              so rank order is thread_id order)
-- KEYS[2]      scratch zset (deleted before returning; UNLINK frees a large one off the
--              main thread)
-- KEYS[3..]    filters: ARGV[4] status zsets first, then metadata leaf sets; then the
--              ARGV[9] age zsets
-- ARGV[1]      offset (in matches)
-- ARGV[2]      count of ids to return
-- ARGV[3]      "1" for descending order
-- ARGV[4]      number of zset filters (0 or 1: the status)
-- ARGV[5]      walk budget: ids the walk may read before falling back
-- ARGV[6]      plan: "auto", "walk" or "intersect" (forced, for tests and benchmarks), or
--              "count": the number of matches, {"count", n} (only with age zsets)
-- ARGV[7]      minimum time in status, µs ("" or absent: no age filter)
-- ARGV[8]      now, µs since the epoch ("" or absent: the server's TIME)
-- ARGV[9]      number of age zsets, last in KEYS (absent: 0)
-- ARGV[10]     thread hash key prefix ("tw:thread:"), to return each id's hash with it
--              (saves the caller a round trip; the hashes are not in KEYS, which a single
--              Redis server allows), or "" / absent for ids only
-- Index members are thread ids' 16 bytes (codec.thread_member); so are the ids returned.
-- Returns {plan used, id, id, ...}, or with ARGV[10] {plan used, id, hash, id, hash, ...}
-- (hash = HGETALL as a flat list, empty if the thread is gone). Ties in the sort score
-- come in thread_id order (reversed for descending), which makes the order stable.

local sort, scratch = KEYS[1], KEYS[2]
local offset, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local desc = ARGV[3] == '1'
local n_zsets, budget, forced = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local n_age = tonumber(ARGV[9] or '0') or 0
local n_filters = #KEYS - 2 - n_age
local last_filter, first_age = 2 + n_filters, 3 + n_filters
local CHUNK = 500  -- ids per multi-key command (Lua's unpack has a limit)

local function page(key, start, n)
  if n <= 0 then return {} end
  if desc then return redis.call('ZREVRANGE', key, start, start + n - 1) end
  return redis.call('ZRANGE', key, start, start + n - 1)
end

local hash_prefix = ARGV[10] or ''
-- An index member (a thread id's 16 bytes, codec.thread_member) as the id's text.
local ID_FORMAT = '%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x'

local function thread_id(member)
  if #member ~= 16 then return member end  -- the text form, in a store not converted yet
  return string.format(ID_FORMAT, string.byte(member, 1, 16))
end

local function with_plan(plan, ids)
  if hash_prefix == '' then
    table.insert(ids, 1, plan)
    return ids
  end
  local out = {plan}
  for _, member in ipairs(ids) do
    out[#out + 1] = member
    out[#out + 1] = redis.call('HGETALL', hash_prefix .. thread_id(member))
  end
  return out
end

local function slice(list, from, n)
  local out = {}
  for j = from, math.min(#list, from + n - 1) do out[#out + 1] = list[j] end
  return out
end

if n_filters == 0 and n_age == 0 then return with_plan('scan', page(sort, offset, count)) end

local total = redis.call('ZCARD', sort)
local smallest, selectivity = total, 1.0
local smallest_set, smallest_key = math.huge, nil
for i = 3, last_filter do
  local card
  if i - 2 <= n_zsets then card = redis.call('ZCARD', KEYS[i]) else card = redis.call('SCARD', KEYS[i]) end
  if card == 0 then
    if forced == 'count' then return {'count', 0} end
    return {'empty'}
  end
  if card < smallest then smallest = card end
  if card < smallest_set then smallest_set, smallest_key = card, i end
  selectivity = selectivity * card / math.max(total, 1)
end

-- The age filter: the cutoff, and how many ids the age zsets hold at or before it.
local cutoff, cutoff_arg, age_card = nil, nil, 0
if n_age > 0 then
  local now = tonumber(ARGV[8] or '')
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  cutoff = now - tonumber(ARGV[7])
  cutoff_arg = string.format('%.0f', cutoff)
  for i = first_age, #KEYS do
    age_card = age_card + redis.call('ZCOUNT', KEYS[i], '-inf', cutoff_arg)
  end
  if forced == 'count' and n_filters == 0 then return {'count', age_card} end
  if age_card == 0 then
    if forced == 'count' then return {'count', 0} end
    return {'empty'}
  end
  selectivity = selectivity * age_card / math.max(total, 1)
end
if total == 0 then return {'empty'} end

-- Clears ok[j] for the ids that no age zset holds at or before the cutoff.
local function age_flags(ids, ok)
  local found = {}
  for i = first_age, #KEYS do
    local scores = redis.call('ZMSCORE', KEYS[i], unpack(ids))
    for j = 1, #ids do
      if scores[j] and tonumber(scores[j]) <= cutoff then found[j] = true end
    end
  end
  for j = 1, #ids do
    if not found[j] then ok[j] = false end
  end
end

local function member_flags(ids)
  local ok = {}
  for j = 1, #ids do ok[j] = true end
  for i = 3, last_filter do
    local flags
    if i - 2 <= n_zsets then flags = redis.call('ZMSCORE', KEYS[i], unpack(ids))
    else flags = redis.call('SMISMEMBER', KEYS[i], unpack(ids)) end
    for j = 1, #ids do
      if not flags[j] or flags[j] == 0 then ok[j] = false end
    end
  end
  if n_age > 0 then age_flags(ids, ok) end
  return ok
end

-- Every id matching the filters and the age filter (n_age > 0), from the cheaper side.
local function age_matches()
  local out = {}
  local function keep(ids)
    if #ids == 0 then return end
    local ok = member_flags(ids)
    for j = 1, #ids do
      if ok[j] then out[#out + 1] = ids[j] end
    end
  end
  if smallest_key and smallest_set * (n_filters + n_age) < age_card * (n_filters + 1) then
    local members
    if smallest_key - 2 <= n_zsets then members = redis.call('ZRANGE', KEYS[smallest_key], 0, -1)
    else members = redis.call('SMEMBERS', KEYS[smallest_key]) end
    for from = 1, #members, CHUNK do keep(slice(members, from, CHUNK)) end
    return out
  end
  for i = first_age, #KEYS do
    local start = 0
    while true do
      local ids = redis.call('ZRANGE', KEYS[i], '-inf', cutoff_arg, 'BYSCORE', 'LIMIT', start, CHUNK)
      if n_filters == 0 then
        for j = 1, #ids do out[#out + 1] = ids[j] end
      else
        keep(ids)
      end
      if #ids < CHUNK then break end
      start = start + CHUNK
    end
  end
  return out
end

if forced == 'count' then
  if n_age == 0 then return redis.error_reply('count needs age zsets') end
  return {'count', #age_matches()}
end

local function intersect()
  if n_age > 0 then
    -- The matches, scored by the sort index, in the scratch key.
    local ids = age_matches()
    for from = 1, #ids, CHUNK do
      local part = slice(ids, from, CHUNK)
      local scores = redis.call('ZMSCORE', sort, unpack(part))
      local args = {}
      for j = 1, #part do
        if scores[j] then
          args[#args + 1] = scores[j]
          args[#args + 1] = part[j]
        end
      end
      if #args > 0 then redis.call('ZADD', scratch, unpack(args)) end
    end
    local found = page(scratch, offset, count)
    redis.call('UNLINK', scratch)
    return with_plan('intersect', found)
  end
  local args = {scratch, n_filters + 1, sort}
  for i = 3, last_filter do args[#args + 1] = KEYS[i] end
  args[#args + 1] = 'WEIGHTS'
  args[#args + 1] = 1
  for _ = 1, n_filters do args[#args + 1] = 0 end
  redis.call('ZINTERSTORE', unpack(args))
  local ids = page(scratch, offset, count)
  redis.call('UNLINK', scratch)
  return with_plan('intersect', ids)
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
-- match in the scratch set (a sorted insert) costs about four checks. With the age filter,
-- the matches are collected in Lua (about twice a check per id) from the cheaper side.
local wanted = offset + count
local reads = math.min(total, wanted / math.max(selectivity, 1e-9))
local walk_cost = reads * (n_filters + n_age + 1) * 2
local intersect_cost = smallest * (n_filters + 1) + 4 * selectivity * total
if n_age > 0 then
  local by_range = age_card * (n_filters + 1)
  local by_set = smallest_set * (n_filters + n_age)
  intersect_cost = 2 * math.min(by_range, by_set) + 4 * selectivity * total
end
if walk_cost <= intersect_cost then
  local result = walk(true)
  if result then return result end
end
return intersect()
