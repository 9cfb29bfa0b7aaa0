-- lib/leaf_sets.lua: the metadata index, one set per (status, metadata leaf), so that a
-- search by status and metadata starts from the threads that have both and a count is one
-- SCARD. Every script that moves a thread between statuses or leaves keeps the sets (those
-- that name this file on their `-- uses:` line: scripts.py prepends it).
--
-- A leaf (named by Keys.metadata_leaf) gets a small id in the `ids` hash while one of its
-- sets has members (`#next` is the last id handed out; none is 0, the id of a leaf no
-- thread holds); its sets are `<prefix><status>:<id>`. A thread's hash has `leaves`, the
-- ids of its leaves separated by spaces ("" for none), and the thread is in the set of each
-- of them for its current status. Threads written before these sets have no `leaves` and
-- are in none until `threadwatch doctor --fix` indexes them and sets `#sets` in `ids`.
--
-- A status change is recorded per thread and applied once per call by flush_leaf_moves(),
-- so that a run's start and end in one call (busy, then back) move nothing.

local STATUSES = {'idle', 'busy', 'interrupted', 'error'}

-- moves: member -> {from, to, ids}; moved: members in the order of their first move
local leaf_index = {ids = false, prefix = false, parsed = {}, moves = {}, moved = {}}

-- Binds the registry hash and the prefix of the sets; call before anything below.
local function use_leaf_index(ids_key, set_prefix)
  leaf_index.ids, leaf_index.prefix = ids_key, set_prefix
end

local function leaf_set(status, id)
  return leaf_index.prefix .. status .. ':' .. id
end

-- The ids in a `leaves` field, parsed once per call.
local function parse_leaves(field)
  local ids = leaf_index.parsed[field]
  if not ids then
    ids = {}
    for id in string.gmatch(field, '%d+') do ids[#ids + 1] = id end
    leaf_index.parsed[field] = ids
  end
  return ids
end

-- A new thread is about to be indexed in the order zset `created`: an empty store is
-- marked as fully indexed (no thread from before these sets can be in it).
local function mark_indexed_if_empty(created)
  if redis.call('HEXISTS', leaf_index.ids, '#sets') == 0
      and redis.call('ZCARD', created) == 0 then
    redis.call('HSET', leaf_index.ids, '#sets', '1')
  end
end

-- Moves the thread's entries from the sets of status `from` to those of `to`.
local function move_now(member, ids, from, to)
  for _, id in ipairs(ids) do
    if redis.call('SMOVE', leaf_set(from, id), leaf_set(to, id), member) == 0 then
      redis.call('SADD', leaf_set(to, id), member)  -- heals a missing entry
    end
  end
end

-- The thread (its index `member`) whose `leaves` field is `field` (false: not indexed)
-- went from status `from` to `to`; its sets follow at flush_leaf_moves().
local function leaves_moved(member, field, from, to)
  if not field or field == '' or from == to then return end
  local move = leaf_index.moves[member]
  if move then
    move.to = to
  else
    leaf_index.moves[member] = {from = from, to = to, ids = parse_leaves(field)}
    leaf_index.moved[#leaf_index.moved + 1] = member
  end
end

-- Applies the thread's recorded move now (before its leaves change).
local function settle(member)
  local move = leaf_index.moves[member]
  if not move then return end
  if move.from ~= move.to then move_now(member, move.ids, move.from, move.to) end
  leaf_index.moves[member] = nil
end

-- Applies every recorded move.
local function flush_leaf_moves()
  for _, member in ipairs(leaf_index.moved) do settle(member) end
  leaf_index.moved = {}
end

-- The ids of the leaves named in `names`, or nil when one has none (no thread holds it).
local function known_leaf_ids(names)
  local ids = redis.call('HMGET', leaf_index.ids, unpack(names))
  for _, id in ipairs(ids) do
    if not id then return nil end
  end
  return ids
end

-- The id of the leaf `name`, handed out if it has none.
local function leaf_id(name)
  local id = redis.call('HGET', leaf_index.ids, name)
  if not id then
    id = tostring(redis.call('HINCRBY', leaf_index.ids, '#next', 1))
    redis.call('HSET', leaf_index.ids, name, id)
  end
  return id
end

-- Drops the id of the leaf `name` once none of its sets has members.
local function release_if_unused(name, id)
  for _, status in ipairs(STATUSES) do
    if redis.call('EXISTS', leaf_set(status, id)) == 1 then return end
  end
  redis.call('HDEL', leaf_index.ids, name)
end

-- The `leaves` field of a thread holding the ids in the set `held` (id -> true).
local function leaves_field(held)
  local ids = {}
  for id in pairs(held) do ids[#ids + 1] = id end
  table.sort(ids)
  return table.concat(ids, ' ')
end

-- Removes the thread (its index `member`) from the leaves named in `leave` and adds it to
-- those in `join` (lists of names) while it is in `status`; returns its new `leaves` field,
-- or false if it is not indexed (`field` false: only the sets named change).
local function change_leaves(member, field, status, leave, join)
  settle(member)
  local held = {}
  if field then
    for _, id in ipairs(parse_leaves(field)) do held[id] = true end
  end
  for _, name in ipairs(leave) do
    local id = redis.call('HGET', leaf_index.ids, name)
    if id then
      held[id] = nil
      if redis.call('SREM', leaf_set(status, id), member) == 1
          and redis.call('EXISTS', leaf_set(status, id)) == 0 then
        release_if_unused(name, id)
      end
    end
  end
  for _, name in ipairs(join) do
    local id = leaf_id(name)
    held[id] = true
    redis.call('SADD', leaf_set(status, id), member)
  end
  if not field then return false end
  return leaves_field(held)
end
