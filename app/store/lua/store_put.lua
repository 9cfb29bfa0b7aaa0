-- store_put.lua: put one item of the long-term memory store (app/store/items.py): its
-- value, its place in the listing order, its TTL and its embeddings, and its namespace in
-- the namespace index, together. An item put again keeps its created_at, unless it had
-- expired (then it is a new item). A namespace left with no item to expire leaves the
-- expiring index.
--
-- KEYS[1]  store:items:N      hash  K -> "<created_at µs>:<value JSON>"
-- KEYS[2]  store:updated:N    zset  K scored by updated_at (µs)
-- KEYS[3]  store:expiry:N     zset  K scored by its expiry (µs), items with a TTL only
-- KEYS[4]  store:ttl:N        hash  K -> TTL in minutes
-- KEYS[5]  store:vectors:N    hash  K -> the item's embeddings (bytes)
-- KEYS[6]  store:namespaces   zset  N, score 0
-- KEYS[7]  store:expiring     zset  N scored by a lower bound of its first expiry (µs)
-- ARGV[1]  N, the namespace (labels joined by ".")
-- ARGV[2]  K, the item's key
-- ARGV[3]  the value, JSON
-- ARGV[4]  the TTL in minutes (a number > 0), or "" for none
-- ARGV[5]  the embeddings, or "" for none (any kept before are removed)
-- Returns {created_at, updated_at} (µs, decimal text).
-- uses: lib/clock.lua

local items, updated, expiry, ttl, vectors, namespaces, expiring =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local ns, key, value, minutes, embedded = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
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
redis.call('ZADD', namespaces, 0, ns)
return {created, now}
