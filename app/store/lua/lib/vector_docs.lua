-- lib/vector_docs.lua: an item's documents in the server's vector index
-- (app/store/vector_index.py). store:indexed:N counts them per item; they are keys of the
-- calling script, which takes them in order J = 0, 1, ... from KEYS[first].

-- How many vector documents the item ``key`` has.
local function documents_of(indexed, key)
  return tonumber(redis.call('HGET', indexed, key) or '0')
end

-- How many documents ``embedded`` (float32 vectors of the index's dims) makes: 0 when the
-- server has no vector index (no marker) or the vectors are of other dims.
local function documents_for(marker, embedded)
  local dims = tonumber(redis.call('GET', marker) or '0')
  if dims == 0 or #embedded == 0 or #embedded % (4 * dims) ~= 0 then return 0, 0 end
  return #embedded / (4 * dims), 4 * dims
end

-- Write the item's documents KEYS[first..first + count - 1], one vector of ``embedded``
-- each, and count them.
local function write_documents(indexed, first, count, size, ns, key, under, embedded)
  for j = 1, count do
    local vector = string.sub(embedded, (j - 1) * size + 1, j * size)
    redis.call('HSET', KEYS[first + j - 1], 'ns', ns, 'key', key, 'under', under, 'vec', vector)
  end
  if count > 0 then redis.call('HSET', indexed, key, count) end
end

-- Delete the documents KEYS[first..last] and the item's count.
local function drop_documents(indexed, key, first, last)
  for i = first, last do redis.call('DEL', KEYS[i]) end
  redis.call('HDEL', indexed, key)
end
