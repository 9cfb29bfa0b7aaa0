-- claim_cron.lua: claim one due firing of a cron, so that it happens exactly once however
-- many schedulers look at it: the firing is taken only while the cron's score in the due
-- zset and its hash's next_run_date are both still the time the caller read, and the same
-- call moves both to the next firing. A second caller with the same reading finds them
-- moved and gets 0.
--
-- KEYS[1]      crons:due zset (enabled crons by next firing, µs)
-- KEYS[2]      the cron's hash
-- ARGV[1]      cron_id
-- ARGV[2]      the firing to claim: next_run_date as read (µs)
-- ARGV[3]      the firing after it (µs), computed by the caller from the schedule; "" when
--              the schedule has none (the cron leaves the due zset, next_run_date "")
-- ARGV[4]      now (µs): the caller's clock, for end_time
-- Returns 1: claimed (fire it); 0: not this caller's (claimed already, rescheduled,
-- disabled or deleted); -1: the cron's end_time has passed (it leaves the due zset, and
-- stays stored, as on LangGraph).

local due, cron = KEYS[1], KEYS[2]
local cron_id, firing, following, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local score = redis.call('ZSCORE', due, cron_id)
if not score or tonumber(score) ~= tonumber(firing) then return 0 end
local fields = redis.call('HMGET', cron, 'next_run_date', 'enabled', 'end_time')
local next_run, enabled, end_time = fields[1], fields[2], fields[3]
if not next_run or next_run == '' or enabled ~= '1' then
  redis.call('ZREM', due, cron_id)  -- deleted or disabled: it has no firing to wait for
  return 0
end
if tonumber(next_run) ~= tonumber(firing) then
  -- A PATCH moved the firing after the due entry was written from an older reading: the
  -- hash is the truth; the entry follows it, and the next check fires it when due.
  redis.call('ZADD', due, next_run, cron_id)
  return 0
end
if end_time and end_time ~= '' and tonumber(end_time) < now then
  redis.call('ZREM', due, cron_id)
  return -1
end
if following == '' then
  redis.call('ZREM', due, cron_id)
else
  redis.call('ZADD', due, following, cron_id)
end
redis.call('HSET', cron, 'next_run_date', following)
return 1
