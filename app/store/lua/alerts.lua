-- alerts.lua: decide, atomically, which stuck-thread alerts of one rule to send, and record
-- them in the rule's state hash (thread id -> "since|last_notified_us|notifications", since
-- being the status_since of the status entry the alert is about). Two sweepers running at
-- once each decide on the state the other left: an alert is claimed once.
--
-- Each alert claimed is also put in the rule's outbox (hash: alert key -> JSON {claimed_at,
-- decision}) in the same call; the sweeper removes it once the alert's webhook is queued.
-- An entry left there (its sweeper died in between) is leased to a later sweep, which
-- queues it: delivery is at least once.
--
-- ARGV[1]      mode: "claim", "undo" or "lease"
--
-- claim: for each thread given, does it match the rule now? It matches when the rule's
-- status zset holds it with a score (its status_since) at or before the cutoff, it is in
-- the leaf set of the rule's status of every leaf of the filter, and, for filters the sets only narrow, the caller
-- found its metadata contained (the verdict) at the metadata version the hash still holds
-- (otherwise the metadata changed since: the thread is left for the next sweep). Then:
--   not tracked, matches                 -> firing (tracked from now on)
--   tracked, same status entry, matches  -> renotify when the interval has passed
--   tracked, not matching or a new entry -> resolved (untracked; a new entry then fires)
-- KEYS[1]      the rule's state hash
-- KEYS[2]      the status zset of the rule's status
-- KEYS[3]      the rule's outbox
-- KEYS[4..]    ARGV[5] leaf sets (of the rule's status), then each thread's hash, in ARGV order
-- ARGV[2]      now, µs
-- ARGV[3]      cutoff, µs: now - older_than
-- ARGV[4]      re-notify interval, µs ("0": notify once)
-- ARGV[5]      number of leaf sets
-- then, per thread, 4 values: thread id, its index member (the id's 16 bytes:
-- codec.thread_member), the metadata version (mver) the caller checked ("" when the leaf
-- sets decide alone), the caller's verdict ("1" contained, "0" not)
-- Returns {matching, then per decision 11 values: thread id, type (firing / renotify /
-- resolved), the entry's status_since µs, notifications sent for the entry, state before,
-- state after ("" when untracked), the thread's metadata JSON, interrupts JSON, status and
-- status_since ("" for each when the thread is gone), its key in the outbox}.
--
-- undo: give back claims whose webhook could not be queued, so that the next sweep tries
-- again; only where the state is still what the claim left. Their outbox entries go.
-- KEYS[1]      the rule's state hash
-- KEYS[2]      the rule's outbox
-- ARGV[2..]    per claim, 4 values: thread id, state before, state after ("" = untracked),
--              outbox key
--
-- lease: take outbox entries over, each only if it is still as the caller read it (two
-- sweeps recovering the same entry: one gets it).
-- KEYS[1]      the rule's outbox
-- ARGV[2..]    per entry, 3 values: its key, its value as read, its new value
-- Returns the keys leased.

local STATE = KEYS[1]

local function split(state)
  local since, last, n = string.match(state, '^([^|]*)|([^|]*)|([^|]*)$')
  return since or '', tonumber(last) or 0, tonumber(n) or 0
end

local function state_of(since, last, n)
  return since .. '|' .. string.format('%.0f', last) .. '|' .. string.format('%d', n)
end

if ARGV[1] == 'undo' then
  local restored = 0
  for a = 2, #ARGV, 4 do
    local id, before, after = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    local current = redis.call('HGET', STATE, id)
    if (after == '' and not current) or (after ~= '' and current == after) then
      if before == '' then redis.call('HDEL', STATE, id) else redis.call('HSET', STATE, id, before) end
      restored = restored + 1
    end
    redis.call('HDEL', KEYS[2], ARGV[a + 3])
  end
  return restored
end

if ARGV[1] == 'lease' then
  local leased = {}
  for a = 2, #ARGV, 3 do
    if redis.call('HGET', STATE, ARGV[a]) == ARGV[a + 1] then
      redis.call('HSET', STATE, ARGV[a], ARGV[a + 2])
      leased[#leased + 1] = ARGV[a]
    end
  end
  return leased
end

local STATUS, OUTBOX = KEYS[2], KEYS[3]
local now, cutoff, renotify = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n_leaves = tonumber(ARGV[5])
local out, matching = {0}, 0

for t = 0, (#ARGV - 5) / 4 - 1 do
  local a = 6 + 4 * t
  local id, member, mver, verdict = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local thread_key = KEYS[4 + n_leaves + t]
  local fields = redis.call('HMGET', thread_key, 'metadata', 'interrupts', 'status',
    'status_since', 'mver')
  local score = redis.call('ZSCORE', STATUS, member)
  local since, matches = nil, false
  if score then
    since = string.format('%.0f', tonumber(score))
    matches = tonumber(score) <= cutoff
  end
  for i = 4, 3 + n_leaves do
    if matches and redis.call('SISMEMBER', KEYS[i], member) == 0 then matches = false end
  end
  local decided = true
  if mver ~= '' then
    if (fields[5] or '0') ~= mver then decided = false
    elseif verdict ~= '1' then matches = false end
  end
  if decided then
    if matches then matching = matching + 1 end
    local function emit(kind, entry_since, n, before, after)
      local decision = {id, kind, entry_since, string.format('%d', n), before, after}
      for f = 1, 4 do decision[#decision + 1] = fields[f] or '' end
      local key = id .. '|' .. kind .. '|' .. entry_since .. '|' .. decision[4]
      redis.call('HSET', OUTBOX, key, cjson.encode({claimed_at = ARGV[2], decision = decision}))
      for _, value in ipairs(decision) do out[#out + 1] = value end
      out[#out + 1] = key
    end
    local state = redis.call('HGET', STATE, id)
    if state then
      local old_since, last, n = split(state)
      if not matches or old_since ~= since then
        redis.call('HDEL', STATE, id)
        emit('resolved', old_since, n, state, '')
        state = nil
      elseif renotify > 0 and now - last >= renotify then
        local after = state_of(since, now, n + 1)
        redis.call('HSET', STATE, id, after)
        emit('renotify', since, n + 1, state, after)
      end
    end
    if matches and not state then
      local after = state_of(since, now, 1)
      redis.call('HSET', STATE, id, after)
      emit('firing', since, 1, '', after)
    end
  end
end
out[1] = matching
return out
