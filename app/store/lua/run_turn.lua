-- run_turn.lua: a thread's runs created here execute one at a time, in the order they
-- start (their admission, or later when created with `after_seconds`).
--
-- The thread's *turn* (thread hash fields `turn`, `turn_at`) is held by the run whose job
-- is queued or executing; the runs admitted while it is held wait in the thread's waiting
-- zset, scored by when they may start (µs). When the holder ends (or is deleted), whoever
-- saw it end passes the turn on here and queues the job of the run that takes it: the
-- hand-off is one atomic step, whatever ends at the same moment elsewhere.
--
-- KEYS[1] thread hash, KEYS[2] the thread's waiting zset, KEYS[3] the run hash
-- ARGV[1] "take" (an admitted run: take the turn if free, else wait) or "pass" (the run
--         ended or is gone: if it holds the turn, the next waiting run takes it)
-- ARGV[2] the thread id, ARGV[3] the run id
-- ARGV[4] take: µs from now before the run may start ("0": at once)
-- Returns {1, run id, µs before it may start} when that run now holds the turn (its job
-- is the caller's to queue), {0} when nothing is to be queued (the run waits, or no run
-- was waiting), {-1} take refused: the run is not a pending run of this thread (nothing
-- written).
-- uses: lib/clock.lua

local thread, waiting, run = KEYS[1], KEYS[2], KEYS[3]
local op, thread_id, run_id = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(now_us())

local function held(holder, at)
  return {1, holder, string.format('%d', math.max(0, at - now))}
end

local function hold(holder, at)
  redis.call('HSET', thread, 'turn', holder, 'turn_at', string.format('%d', at))
  return held(holder, at)
end

local turn, turn_at = unpack(redis.call('HMGET', thread, 'turn', 'turn_at'))

if op == 'take' then
  local owner, status = unpack(redis.call('HMGET', run, 'thread_id', 'status'))
  if status ~= 'pending' or owner ~= thread_id then return {-1} end
  if turn == run_id then return held(run_id, tonumber(turn_at or now)) end
  local at = now + tonumber(ARGV[4])
  if not turn then
    redis.call('ZREM', waiting, run_id)
    return hold(run_id, at)
  end
  -- Already waiting: it keeps its place (a sweep checking on it).
  redis.call('ZADD', waiting, 'NX', at, run_id)
  return {0}
end

redis.call('ZREM', waiting, run_id)
if turn ~= run_id then return {0} end
local next_run = redis.call('ZPOPMIN', waiting)
if #next_run == 0 then
  redis.call('HDEL', thread, 'turn', 'turn_at')
  return {0}
end
return hold(next_run[1], math.max(now, tonumber(next_run[2])))
