-- repair/reindex_thread.lua (threadwatch doctor): index one thread again from its hash: it is
-- in the status zset of its status only, scored by its status_since, and in every order zset
-- scored by its field; a missing thread leaves them all.
--
-- KEYS[1]      thread hash
-- KEYS[2..5]   status zsets, in the order of ARGV[2..5]
-- KEYS[6..9]   order zsets, in the order of ARGV[6..9]
-- ARGV[1]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- ARGV[2..5]   status names
-- ARGV[6..9]   the thread hash field each order zset is scored by ("" for a constant 0)
-- Returns the number of entries changed, -1 for a malformed hash (nothing written).

local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  local changed = 0
  for k = 2, 9 do changed = changed + redis.call('ZREM', KEYS[k], id) end
  return changed
end
local h = redis.call('HMGET', KEYS[1], 'status', 'status_since')
local known = false
for i = 2, 5 do if ARGV[i] == h[1] then known = true end end
if not known or not h[2] then return -1 end
local wanted = {}
for i = 6, 9 do
  if ARGV[i] == '' then wanted[i] = '0' else
    wanted[i] = redis.call('HGET', KEYS[1], ARGV[i])
    if not wanted[i] then return -1 end
  end
end
local changed = 0
local function put(key, score)
  local old = redis.call('ZSCORE', key, id)
  if not old or tonumber(old) ~= tonumber(score) then
    redis.call('ZADD', key, score, id)
    changed = changed + 1
  end
end
for i = 2, 5 do
  if ARGV[i] == h[1] then put(KEYS[i], h[2]) else
    changed = changed + redis.call('ZREM', KEYS[i], id)
  end
end
for i = 6, 9 do put(KEYS[i], wanted[i]) end
return changed
