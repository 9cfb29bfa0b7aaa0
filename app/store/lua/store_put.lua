-- store_put.lua: put one item of the long-term memory store (app/store/items.py): its
-- value, its place in the listing order, its TTL, its embeddings and its documents in the
-- server's vector index, and its namespace in the namespace index, together. An item put
-- again keeps its created_at, unless it had expired (then it is a new item). A namespace
-- left with no item to expire leaves the expiring index.
--
-- KEYS[1]  store:items:N      hash  K -> "<created_at µs>:<value JSON>"
-- KEYS[2]  store:updated:N    zset  K scored by updated_at (µs)
-- KEYS[3]  store:expiry:N     zset  K scored by its expiry (µs), items with a TTL only
-- KEYS[4]  store:ttl:N        hash  K -> TTL in minutes
-- KEYS[5]  store:vectors:N    hash  K -> the item's embeddings (bytes)
-- KEYS[6]  store:namespaces   zset  N, score 0
-- KEYS[7]  store:expiring     zset  N scored by a lower bound of its first expiry (µs)
-- KEYS[8]  store:indexed:N    hash  K -> how many vector documents the item has
-- KEYS[9]  store:vindex       string the dims of the server's vector index, if it has one
-- KEYS[10..]  store:vdoc:J:..:K:N, J = 0, 1, ...: the item's vector documents, at least as
--          many as it has (KEYS[8]) and as ARGV[5] holds vectors
-- ARGV[1]  N, the namespace (labels joined by ".")
-- ARGV[2]  K, the item's key
-- ARGV[3]  the value, JSON
-- ARGV[4]  the TTL in minutes (a number > 0), or "" for none
-- ARGV[5]  the embeddings, or "" for none (any kept before are removed)
-- ARGV[6]  the ``under`` tags of N (vector_index.py)
-- Returns {1, created_at, updated_at} (µs, decimal text), or {0, n} and nothing written
-- when fewer document keys were given than the n the item has or will have.
-- uses: lib/clock.lua, lib/vector_docs.lua

local items, updated, expiry, ttl, vectors, namespaces, expiring, indexed, marker =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local ns, key, value, minutes, embedded, under = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6]
local given = #KEYS - 9

local held = documents_of(indexed, key)
local documents, size = documents_for(marker, embedded)
if held > given or documents > given then return {0, math.max(held, documents)} end

local now = now_us()
local created = now
local old = redis.call('HGET', items, key)
if old then
  local expires = redis.call('ZSCORE', expiry, key)
  if not expires or tonumber(expires) > tonumber(now) then
    created = string.match(old, '^(%d+):') or now
  end
end
redis.call('HSET', items, key, created .. ':' .. value)
redis.call('ZADD', updated, now, key)
if minutes ~= '' then
  local expires = after_us(math.floor(tonumber(minutes) * 60000000))
  redis.call('ZADD', expiry, expires, key)
  redis.call('HSET', ttl, key, minutes)
  -- LT keeps the lower bound: an earlier expiry of the namespace stays its score.
  redis.call('ZADD', expiring, 'LT', expires, ns)
else
  redis.call('ZREM', expiry, key)
  redis.call('HDEL', ttl, key)
  if redis.call('ZCARD', expiry) == 0 then redis.call('ZREM', expiring, ns) end
end
if embedded ~= '' then
  redis.call('HSET', vectors, key, embedded)
else
  redis.call('HDEL', vectors, key)
end
drop_documents(indexed, key, 10 + documents, 9 + held)
write_documents(indexed, 10, documents, size, ns, key, under, embedded)
redis.call('ZADD', namespaces, 0, ns)
return {1, created, now}
