-- store_delete.lua: delete items of one namespace of the long-term memory store
-- (app/store/items.py) from every structure that holds them, their vector documents
-- included; a namespace left empty leaves the namespace index, and one with no item left
-- to expire leaves the expiring index.
--
-- KEYS[1..8]  as store_put.lua: items, updated, expiry, ttl, vectors (of N), namespaces,
--             expiring, indexed (of N)
-- KEYS[9..]   the vector documents of the items, in their order: ARGV[2 + 2i] of them for
--             the i-th item, J = 0, 1, ...
-- ARGV[1]  N, the namespace (labels joined by ".")
-- ARGV[2]  "keys": delete the items named; "due": delete those of them whose expiry has
--          passed (the sweep), and score N in the expiring index by its next expiry
-- ARGV[3..]  pairs: an item's key, how many document keys are given for it
-- Returns how many items were deleted, or -1 and nothing deleted when an item has more
-- vector documents than keys were given for it (read store:indexed:N and call again).
-- uses: lib/clock.lua, lib/vector_docs.lua

local items, updated, expiry, ttl, vectors, namespaces, expiring, indexed =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ns, mode = ARGV[1], ARGV[2]

for i = 3, #ARGV, 2 do
  if documents_of(indexed, ARGV[i]) > tonumber(ARGV[i + 1]) then return -1 end
end

local now = tonumber(now_us())
local deleted, first_document = 0, 9
for i = 3, #ARGV, 2 do
  local key, given = ARGV[i], tonumber(ARGV[i + 1])
  local expires = redis.call('ZSCORE', expiry, key)
  if mode ~= 'due' or (expires and tonumber(expires) <= now) then
    deleted = deleted + redis.call('HDEL', items, key)
    redis.call('ZREM', updated, key)
    redis.call('ZREM', expiry, key)
    redis.call('HDEL', ttl, key)
    redis.call('HDEL', vectors, key)
    drop_documents(indexed, key, first_document, first_document + given - 1)
  end
  first_document = first_document + given
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
