-- watch_thread.lua: a client watches a thread's event stream (GET /threads/{id}/stream)
-- for the next ARGV[1] µs: events are appended to the stream until then (the client renews
-- the watch while it stays). A watch never shortens a longer one of another client.
--
-- KEYS[1]  thread hash
-- KEYS[2]  thread stream
-- ARGV[1]  how long the watch lasts, µs
-- Returns false when the thread does not exist (nothing written), else the id of the
-- stream's last entry ("0-0" for none): a new client's events start after it.
-- uses: lib/clock.lua

local got = redis.call('HMGET', KEYS[1], 'status', 'watch')
if not got[1] then return false end
local expiry = after_us(tonumber(ARGV[1]))
if not got[2] or tonumber(got[2]) < tonumber(expiry) then
  redis.call('HSET', KEYS[1], 'watch', expiry)
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last == 0 then return '0-0' end
return last[1][1]
