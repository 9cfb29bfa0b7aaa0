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
-- Metadata filters read the per-status leaf sets (lib/leaf_sets.lua): those of the filtered
-- status, or with no status filter those of each status, as disjoint branches whose matches
-- are united (the walk checks an id against each branch; intersect stores each branch's
-- intersection, then their union).
--
-- KEYS[1]      sort zset (order:created_at, ...; order:thread_id has score 0 everywhere,
--              so rank order is thread_id order)
-- KEYS[2]      scratch zset (deleted before returning; UNLINK frees a large one off the
--              main thread); with several branches, `<scratch>:<n>` hold their parts
-- KEYS[3..4]   leaf ids hash and the prefix of the per-status leaf sets
-- KEYS[5..]    ARGV[4] status zsets (a status filter without metadata), then the ARGV[9]
--              age zsets
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
--              Redis server allows), or "" for ids only
-- ARGV[11]     status of the leaf sets to read, or "" for every status
-- ARGV[12..]   the metadata filter's leaves (Keys.metadata_leaf names), none for no filter
-- Index members are thread ids' 16 bytes (codec.thread_member); so are the ids returned.
-- Returns {plan used, id, id, ...}, or with ARGV[10] {plan used, id, hash, id, hash, ...}
-- (hash = HGETALL as a flat list, empty if the thread is gone). Ties in the sort score
-- come in thread_id order (reversed for descending), which makes the order stable.
-- uses: lib/clock.lua, lib/leaf_sets.lua

local sort, scratch = KEYS[1], KEYS[2]
local offset, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local desc = ARGV[3] == '1'
local n_zsets, budget, forced = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local n_age = tonumber(ARGV[9] or '0') or 0
local first_age = 5 + n_zsets
local CHUNK = 500  -- ids per multi-key command (Lua's unpack has a limit)
use_leaf_index(KEYS[3], KEYS[4])

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

local function nothing()
  if forced == 'count' then return {'count', 0} end
  return {'empty'}
end

-- The filters: branches (a match is in every set of one branch), each a list of
-- {key, zset?}.
local names = {}
for i = 12, #ARGV do names[#names + 1] = ARGV[i] end
local candidates = {}
if #names > 0 then
  local ids = known_leaf_ids(names)
  if not ids then return nothing() end  -- a leaf no thread holds
  local statuses = (ARGV[11] or '') ~= '' and {ARGV[11]} or STATUSES
  for _, status in ipairs(statuses) do
    local branch = {}
    for _, id in ipairs(ids) do branch[#branch + 1] = {leaf_set(status, id), false} end
    candidates[#candidates + 1] = branch
  end
elseif n_zsets > 0 then
  candidates[1] = {{KEYS[5], true}}
end

if #candidates == 0 and n_age == 0 then return with_plan('scan', page(sort, offset, count)) end

-- Cardinalities: a branch with an empty set matches nothing and is dropped. Per branch,
-- `smallest` is its smallest set (key index and size).
local total = redis.call('ZCARD', sort)
local branches, selectivity, smallest, width = {}, 0.0, 0, 0
for _, branch in ipairs(candidates) do
  local share, least, least_at = 1.0, math.huge, 1
  for i, filter in ipairs(branch) do
    local card
    if filter[2] then card = redis.call('ZCARD', filter[1]) else card = redis.call('SCARD', filter[1]) end
    if card < least then least, least_at = card, i end
    share = share * card / math.max(total, 1)
  end
  if least > 0 then
    branch.least, branch.least_at = least, least_at
    branches[#branches + 1] = branch
    selectivity = selectivity + share
    smallest = smallest + least
    width = math.max(width, #branch)
  end
end
if #candidates > 0 and #branches == 0 then return nothing() end
if #branches == 0 then selectivity = 1.0 end

-- The age filter: the cutoff, and how many ids the age zsets hold at or before it.
local cutoff, cutoff_arg, age_card = nil, nil, 0
if n_age > 0 then
  local now = tonumber(ARGV[8] or '') or tonumber(now_us())
  cutoff = now - tonumber(ARGV[7])
  cutoff_arg = string.format('%.0f', cutoff)
  for i = first_age, #KEYS do
    age_card = age_card + redis.call('ZCOUNT', KEYS[i], '-inf', cutoff_arg)
  end
  if forced == 'count' and #branches == 0 then return {'count', age_card} end
  if age_card == 0 then return nothing() end
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

-- Whether each id is in every set of one branch (and old enough, with the age filter).
local function member_flags(ids)
  local ok = {}
  for j = 1, #ids do ok[j] = #branches == 0 end
  for _, branch in ipairs(branches) do
    local at, part = {}, {}
    for j = 1, #ids do
      if not ok[j] then
        at[#at + 1] = j
        part[#part + 1] = ids[j]
      end
    end
    if #part == 0 then break end
    local hit = {}
    for j = 1, #part do hit[j] = true end
    for _, filter in ipairs(branch) do
      local flags
      if filter[2] then flags = redis.call('ZMSCORE', filter[1], unpack(part))
      else flags = redis.call('SMISMEMBER', filter[1], unpack(part)) end
      for j = 1, #part do
        if not flags[j] or flags[j] == 0 then hit[j] = false end
      end
    end
    for j = 1, #part do
      if hit[j] then ok[at[j]] = true end
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
  if #branches > 0 and smallest * (width + n_age) < age_card * (width + 1) then
    -- Each branch's smallest set (the branches are disjoint: no id is kept twice).
    for _, branch in ipairs(branches) do
      local filter, members = branch[branch.least_at], nil
      if filter[2] then members = redis.call('ZRANGE', filter[1], 0, -1)
      else members = redis.call('SMEMBERS', filter[1]) end
      for from = 1, #members, CHUNK do keep(slice(members, from, CHUNK)) end
    end
    return out
  end
  for i = first_age, #KEYS do
    local start = 0
    while true do
      local ids = redis.call('ZRANGE', KEYS[i], '-inf', cutoff_arg, 'BYSCORE', 'LIMIT', start, CHUNK)
      if #branches == 0 then
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
  -- Each branch intersected with the sort index (weight 0: the result keeps the sort
  -- score), then, for several branches, their union (MAX: a thread is in one branch).
  local parts = {}
  for b, branch in ipairs(branches) do
    local into = #branches == 1 and scratch or (scratch .. ':' .. b)
    local args = {into, #branch + 1, sort}
    for _, filter in ipairs(branch) do args[#args + 1] = filter[1] end
    args[#args + 1] = 'WEIGHTS'
    args[#args + 1] = 1
    for _ = 1, #branch do args[#args + 1] = 0 end
    redis.call('ZINTERSTORE', unpack(args))
    parts[#parts + 1] = into
  end
  if #parts > 1 then
    local args = {scratch, #parts}
    for _, part in ipairs(parts) do args[#args + 1] = part end
    args[#args + 1] = 'AGGREGATE'
    args[#args + 1] = 'MAX'
    redis.call('ZUNIONSTORE', unpack(args))
  end
  local ids = page(scratch, offset, count)
  redis.call('UNLINK', scratch)
  if #parts > 1 then redis.call('UNLINK', unpack(parts)) end
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
-- Several branches: an id is checked against about half of them; their union stores each
-- match a second time.
local checks = width * (1 + (#branches - 1) / 2)
local stores = #branches > 1 and 8 or 4
local walk_cost = reads * (checks + n_age + 1) * 2
local intersect_cost = smallest * (width + 1) + stores * selectivity * total
if n_age > 0 then
  local by_range = age_card * (checks + 1)
  local by_set = smallest * (width + n_age)
  intersect_cost = 2 * math.min(by_range, by_set) + 4 * selectivity * total
end
if walk_cost <= intersect_cost then
  local result = walk(true)
  if result then return result end
end
return intersect()
