-- lib/clock.lua: the server's clock, read once per script call.
--
-- Times are µs since the epoch, stored as decimal text (hash fields, index scores). now_us()
-- reads TIME at its first use in a call; every later use in the call sees the same instant,
-- so that all the fields and scores one call writes agree.

local clock = {now = false}

-- The server's time at the call, µs since the epoch, as decimal text.
local function now_us()
  if not clock.now then
    local t = redis.call('TIME')
    clock.now = string.format('%d%06d', t[1], t[2])
  end
  return clock.now
end

-- The time `delta` µs (a number) after now_us(), as decimal text.
local function after_us(delta)
  return string.format('%d', tonumber(now_us()) + delta)
end
