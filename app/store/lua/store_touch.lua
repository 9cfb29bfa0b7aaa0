-- store_touch.lua: refresh the TTL of items read (get or search with refresh_ttl): each
-- item with a TTL that has not expired expires its TTL from now. Expiries only move later,
-- so the namespace's score in the expiring index stays a lower bound.
--
-- KEYS[1]  store:expiry:N     zset  K scored by its expiry (µs)
-- KEYS[2]  store:ttl:N        hash  K -> TTL in minutes
-- ARGV[1..]  the items' keys
-- Returns how many items were refreshed.
-- uses: lib/clock.lua

local expiry, ttl = KEYS[1], KEYS[2]
local now = tonumber(now_us())
local refreshed = 0
for _, key in ipairs(ARGV) do
  local minutes = redis.call('HGET', ttl, key)
  local expires = redis.call('ZSCORE', expiry, key)
  if minutes and expires and tonumber(expires) > now then
    redis.call('ZADD', expiry, after_us(math.floor(tonumber(minutes) * 60000000)), key)
    refreshed = refreshed + 1
  end
end
return refreshed
