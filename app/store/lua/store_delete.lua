-- store_delete.lua: delete items of one namespace of the long-term memory store
-- (app/store/items.py) from every structure that holds them; a namespace left empty leaves
-- the namespace index, and one with no item left to expire leaves the expiring index.
--
-- KEYS[1..7]  as store_put.lua: items, updated, expiry, ttl, vectors (of N), namespaces,
--             expiring
-- ARGV[1]  N, the namespace (labels joined by ".")
-- ARGV[2]  "keys": delete the keys ARGV[3..]; "due": delete at most ARGV[3] items whose
--          expiry has passed (the sweep), and score N in the expiring index by its next
--          expiry
-- Returns how many items were deleted.
-- uses: lib/clock.lua

local items, updated, expiry, ttl, vectors, namespaces, expiring =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local ns, mode = ARGV[1], ARGV[2]

local doomed
if mode == 'due' then
  doomed = redis.call('ZRANGEBYSCORE', expiry, '-inf', now_us(), 'LIMIT', 0, tonumber(ARGV[3]))
else
  doomed = {}
  for i = 3, #ARGV do doomed[#doomed + 1] = ARGV[i] end
end

local deleted = 0
for _, key in ipairs(doomed) do
  deleted = deleted + redis.call('HDEL', items, key)
  redis.call('ZREM', updated, key)
  redis.call('ZREM', expiry, key)
  redis.call('HDEL', ttl, key)
  redis.call('HDEL', vectors, key)
end

if redis.call('HLEN', items) == 0 then
  redis.call('ZREM', namespaces, ns)
end
local first = redis.call('ZRANGE', expiry, 0, 0, 'WITHSCORES')
if #first == 0 then
  redis.call('ZREM', expiring, ns)
elseif mode == 'due' then
  redis.call('ZADD', expiring, first[2], ns)
end
return deleted
