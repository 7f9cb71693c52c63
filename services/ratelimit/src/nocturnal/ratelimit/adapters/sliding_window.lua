-- Sliding-window log: decide and count one check atomically, on Redis's clock.
-- KEYS[1] counter (sorted set: one member per unit, score = time in microseconds)
-- KEYS[2] tier override ("strict" or "normal", with its own TTL)
-- ARGV: window_s, normal limit, strict limit, cost, unique token of this call,
--       lease units wanted beyond the cost, lease lifetime in ms
-- Returns {allowed (1|0), tier, limit, remaining, reset_s, retry_after_s, lease units granted}.
-- A lease (DESIGN §1 quota leases) is counted here, with the check, and spent by the caller
-- within its lifetime: its units are scored at now + lifetime, so each stays counted for the
-- window after the last moment it can be spent. It is never more than half of what remains
-- after the check, and none is granted in the last tenth of the limit: a key near its limit
-- is checked one request at a time.
local counter, tier_key = KEYS[1], KEYS[2]
local window_us = tonumber(ARGV[1]) * 1000000
local cost = tonumber(ARGV[4])
local token = ARGV[5]
local lease_wanted = tonumber(ARGV[6])
local lease_us = tonumber(ARGV[7]) * 1000

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local tier, limit = 'normal', tonumber(ARGV[2])
if redis.call('GET', tier_key) == 'strict' then
  tier, limit = 'strict', tonumber(ARGV[3])
end

local wrote = redis.call('ZREMRANGEBYSCORE', counter, '-inf', now - window_us) > 0
local used = redis.call('ZCARD', counter)
local allowed = used + cost <= limit
local lease = 0
if allowed then
  for i = 1, cost do
    redis.call('ZADD', counter, now, token .. ':' .. i)
  end
  used = used + cost
  wrote = true
  if limit - used >= math.ceil(limit / 10) then
    lease = math.min(lease_wanted, math.floor((limit - used) / 2))
  end
  for i = 1, lease do
    redis.call('ZADD', counter, now + lease_us, token .. ':l' .. i)
  end
  used = used + lease
end

local function seconds_until_free(score)
  return math.max(1, math.ceil((tonumber(score) + window_us - now) / 1000000))
end

local reset, retry = 0, 0
if used > 0 then
  local newest = redis.call('ZRANGE', counter, -1, -1, 'WITHSCORES')[2]
  reset = seconds_until_free(newest)
  if wrote then
    -- The key lives exactly as long as its newest unit counts.
    redis.call('PEXPIRE', counter, math.ceil((tonumber(newest) + window_us - now) / 1000))
  end
end
if not allowed then
  local excess = used + cost - limit
  if excess <= used then
    local freeing = redis.call('ZRANGE', counter, excess - 1, excess - 1, 'WITHSCORES')[2]
    retry = seconds_until_free(freeing)
  else
    -- cost exceeds the strict limit: it fits once the override ends and the window is clear.
    retry = math.max(1, reset, math.ceil(redis.call('PTTL', tier_key) / 1000))
  end
end
return {allowed and 1 or 0, tier, limit, math.max(limit - used, 0), reset, retry, lease}
