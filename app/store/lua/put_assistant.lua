-- put_assistant.lua: create an assistant at version 1, with its first version record and
-- its entry in its graph's index, unless it already exists.
--
-- KEYS[1]      assistant hash
-- KEYS[2]      assistant versions hash
-- KEYS[3]      the graph's assistants zset
-- ARGV[1]      graph_id
-- ARGV[2]      config JSON
-- ARGV[3]      context JSON
-- ARGV[4]      metadata JSON
-- ARGV[5]      name
-- ARGV[6]      description JSON (a string, or null)
-- ARGV[7]      version 1's record: JSON of {graph_id, config, context, metadata, name,
--              description}
-- ARGV[8]      a time (µs) created_at must come after, or "": the system assistants of one
--              start are created in langgraph.json order and keep it
-- ARGV[9]      assistant_id
-- Returns {1, hash...} when created, {0, hash...} when it already existed (hash = HGETALL
-- of the assistant, as a flat list).
-- uses: lib/clock.lua

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGETALL', KEYS[1])}
end

local now = now_us()
if ARGV[8] ~= '' and tonumber(now) <= tonumber(ARGV[8]) then
  now = string.format('%d', tonumber(ARGV[8]) + 1)
end
redis.call('HSET', KEYS[1],
  'assistant_id', ARGV[9], 'graph_id', ARGV[1], 'config', ARGV[2], 'context', ARGV[3],
  'metadata', ARGV[4], 'name', ARGV[5], 'description', ARGV[6],
  'created_at', now, 'updated_at', now, 'version', 1, 'max_version', 1)
redis.call('HSET', KEYS[2], '1', ARGV[7], '1:at', now)
redis.call('ZADD', KEYS[3], now, ARGV[9])
return {1, redis.call('HGETALL', KEYS[1])}
