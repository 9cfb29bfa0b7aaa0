-- repair/inflight.lua (threadwatch doctor): count a thread's runs in flight and derive its
-- status from them (lib/thread_status.lua); with "fix", store the count when it differs, and
-- the status: the thread moves to its zset and leaf sets as a transition moves it, without a
-- history entry.
-- uses: lib/leaf_sets.lua, lib/thread_status.lua
--
-- KEYS[1]      thread hash
-- KEYS[2]      thread runs zset
-- KEYS[3..6]   status zsets: idle, busy, interrupted, error
-- KEYS[7..8]   leaf ids hash, prefix of the per-status leaf sets (lib/leaf_sets.lua)
-- KEYS[9..]    the hashes of the thread's runs, as the caller read them from its runs zset
-- ARGV[1]      thread id
-- ARGV[2]      "check" or "fix"
-- ARGV[3]      the thread's index member (its id's 16 bytes: codec.thread_member)
-- Returns {1, stored inflight, runs in flight, stored status, derived status}, {0} for a
-- missing thread, {-1} when the thread's runs changed since the caller read them (nothing
-- written).

local FIRST_RUN = 9
local thread_id, member = ARGV[1], ARGV[3]
local th = redis.call('HMGET', KEYS[1], 'status', 'inflight', 'outcome', 'outcome_version',
  'status_since', 'created_at', 'leaves')
if not th[1] then return {0} end
if redis.call('ZCARD', KEYS[2]) ~= #KEYS - FIRST_RUN + 1 then return {-1} end
local count, earliest = 0, nil
for k = FIRST_RUN, #KEYS do
  local r = redis.call('HMGET', KEYS[k], 'thread_id', 'rank', 'created_at')
  if r[1] == thread_id and (r[2] == '1' or r[2] == '2') then
    count = count + 1
    if r[3] and (not earliest or tonumber(r[3]) < tonumber(earliest)) then earliest = r[3] end
  end
end
local stored, old_status, old_since = tonumber(th[2] or '0'), th[1], th[5]
-- Busy since its earliest run in flight, unless it already was busy.
local status, since = derive_status(count, th[3], th[4], th[6], old_status, old_since,
  earliest or old_since)
if ARGV[2] == 'fix' then
  if stored ~= count then redis.call('HSET', KEYS[1], 'inflight', string.format('%d', count)) end
  if status ~= old_status then
    use_thread_status(KEYS[3], KEYS[4], KEYS[5], KEYS[6])
    use_leaf_index(KEYS[7], KEYS[8])
    -- A thread whose status has no zset (a malformed hash) moves from none.
    local from = false
    for _, known in ipairs(STATUSES) do
      if known == old_status then from = old_status end
    end
    move_thread(member, th[7], from, old_since, status, since, false, false)
    flush_leaf_moves()
    redis.call('HSET', KEYS[1], 'status', status, 'status_since', since)
  end
end
return {1, stored, count, old_status, status}
