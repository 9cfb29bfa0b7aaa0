-- lib/leaf_counts.lua: how many threads of each status hold each metadata leaf, so that a
-- count by status and one metadata key is one HGET instead of an intersection. Every
-- script that moves a thread between leaf sets or statuses keeps it (scripts.py prepends
-- this file); the totals are exact because they change in the same script as the sets.
--
-- A leaf set key gets a small id in the `ids` hash while the set has members (`#next` is
-- the last id handed out). A thread is *counted* when its hash has `leaves`, the ids of its
-- leaves separated by spaces ("" for none); `counts` holds `{status}|{id}` -> the counted
-- threads of that status holding that leaf, a field only while it is not 0. Threads written
-- before counting existed have no `leaves` and count nowhere until `threadwatch doctor --fix`
-- recounts them and sets `#all` in `ids`; until then counts are read from the sets.
-- Changes are added up while a script runs and written once per field by flush_leaf_counts().

-- delta: status -> leaf id -> change (nested, so that adding up builds no strings);
-- parsed: `leaves` field -> its ids, parsed once per call
local leaf_index = {ids = false, counts = false, delta = {}, parsed = {}}

-- Binds the registry and counts hashes; call before anything below.
local function use_leaf_index(ids_key, counts_key)
  leaf_index.ids, leaf_index.counts = ids_key, counts_key
end

local function leaf_delta(status, id, n)
  local of_status = leaf_index.delta[status]
  if not of_status then
    of_status = {}
    leaf_index.delta[status] = of_status
  end
  of_status[id] = (of_status[id] or 0) + n
end

-- A new thread is about to be indexed in the order zset `created`: an empty store is
-- marked as fully counted (no thread from before counting can be in it).
local function mark_counted_if_empty(created)
  if redis.call('HEXISTS', leaf_index.ids, '#all') == 0
      and redis.call('ZCARD', created) == 0 then
    redis.call('HSET', leaf_index.ids, '#all', '1')
  end
end

-- A thread whose `leaves` field is `field` (false: not counted) went from status `from`
-- to `to`.
local function leaves_moved(field, from, to)
  if not field or field == '' or from == to then return end
  local ids = leaf_index.parsed[field]
  if not ids then
    ids = {}
    for id in string.gmatch(field, '%d+') do ids[#ids + 1] = id end
    leaf_index.parsed[field] = ids
  end
  for _, id in ipairs(ids) do
    leaf_delta(from, id, -1)
    leaf_delta(to, id, 1)
  end
end

-- The id of the leaf set `key`, handed out if it has none.
local function leaf_id(key)
  local id = redis.call('HGET', leaf_index.ids, key)
  if not id then
    id = tostring(redis.call('HINCRBY', leaf_index.ids, '#next', 1))
    redis.call('HSET', leaf_index.ids, key, id)
  end
  return id
end

-- The `leaves` field of a thread holding the ids in the set `held` (id -> true).
local function leaves_field(held)
  local ids = {}
  for id in pairs(held) do ids[#ids + 1] = id end
  table.sort(ids)
  return table.concat(ids, ' ')
end

-- Removes the thread (its index `member`) from the sets `leave` and adds it to the sets
-- `join` (lists of keys) while it is in `status`; returns its new `leaves` field, or false if it is not counted
-- (`field` false).
local function change_leaves(member, field, status, leave, join)
  local held = {}
  if field then
    for id in string.gmatch(field, '%d+') do held[id] = true end
  end
  for _, key in ipairs(leave) do
    local id = redis.call('HGET', leaf_index.ids, key)
    redis.call('SREM', key, member)
    if id then
      if field and held[id] then
        held[id] = nil
        leaf_delta(status, id, -1)
      end
      if redis.call('EXISTS', key) == 0 then redis.call('HDEL', leaf_index.ids, key) end
    end
  end
  for _, key in ipairs(join) do
    redis.call('SADD', key, member)
    if field then
      local id = leaf_id(key)
      if not held[id] then
        held[id] = true
        leaf_delta(status, id, 1)
      end
    end
  end
  if not field then return false end
  return leaves_field(held)
end

-- Writes the changes added up so far.
local function flush_leaf_counts()
  for status, of_status in pairs(leaf_index.delta) do
    for id, n in pairs(of_status) do
      if n ~= 0 then
        local field = status .. '|' .. id
        if redis.call('HINCRBY', leaf_index.counts, field, n) == 0 then
          redis.call('HDEL', leaf_index.counts, field)
        end
      end
    end
  end
  leaf_index.delta = {}
end
