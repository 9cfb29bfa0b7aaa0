-- update_assistant.lua: make a version the assistant's latest, atomically: a new one
-- (PATCH: version max_version + 1, recorded here) or a recorded one (set latest).
--
-- The caller computed the new fields from the assistant as it read it; nothing is written
-- when the assistant changed since (its version, max_version or graph_id differ).
--
-- KEYS[1]      assistant hash
-- KEYS[2]      assistant versions hash
-- KEYS[3]      the assistants zset of the graph it is in (as read)
-- KEYS[4]      the assistants zset of the graph it goes to (the same when it stays)
-- ARGV[1]      expected "version:max_version" (as read)
-- ARGV[2]      expected graph_id (as read)
-- ARGV[3]      the version that becomes latest
-- ARGV[4]      "new" (record ARGV[11] as that version) or "existing" (it must be recorded)
-- ARGV[5..10]  graph_id, config JSON, context JSON, metadata JSON, name, description JSON
-- ARGV[11]     the new version's record (JSON), for "new"
-- Returns {1, hash...} when done, {0} when the assistant does not exist, {-1} when it
-- changed since it was read, {-2} when the version ("existing") is not recorded.
-- uses: lib/clock.lua

local h = redis.call('HMGET', KEYS[1], 'version', 'max_version', 'graph_id', 'created_at')
if not h[1] then return {0} end
if h[1] .. ':' .. h[2] ~= ARGV[1] or h[3] ~= ARGV[2] then return {-1} end

local now = now_us()
local version, max_version = ARGV[3], h[2]
if ARGV[4] == 'new' then
  redis.call('HSET', KEYS[2], version, ARGV[11], version .. ':at', now)
  max_version = version
elseif redis.call('HEXISTS', KEYS[2], version) == 0 then
  return {-2}
end

redis.call('HSET', KEYS[1],
  'graph_id', ARGV[5], 'config', ARGV[6], 'context', ARGV[7], 'metadata', ARGV[8],
  'name', ARGV[9], 'description', ARGV[10], 'updated_at', now, 'version', version,
  'max_version', max_version)
if KEYS[3] ~= KEYS[4] then
  local id = redis.call('HGET', KEYS[1], 'assistant_id')
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], h[4], id)
end
return {1, redis.call('HGETALL', KEYS[1])}
