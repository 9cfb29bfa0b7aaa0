-- delete_assistant.lua: remove an assistant, its versions and its index entry.
--
-- KEYS[1]      assistant hash
-- KEYS[2]      assistant versions hash
-- KEYS[3]      the assistants zset of its graph (as read)
-- ARGV[1]      assistant_id
-- ARGV[2]      expected graph_id (as read)
-- Returns 1 when deleted, 0 when it does not exist, -1 when its graph changed since it
-- was read (nothing written).

local graph_id = redis.call('HGET', KEYS[1], 'graph_id')
if not graph_id then return 0 end
if graph_id ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
