-- Count one failed login (once per event) and make the subject strict at the threshold.
-- KEYS[1] failure counter, KEYS[2] tier override, KEYS[3] marker of this event
-- ARGV: failure window (s), failures before strict, strict duration (s)
-- Returns 1 when the subject has just become strict, else 0 (also for a repeated event).
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local failures = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
if failures < tonumber(ARGV[2]) then
  return 0
end
local current = redis.call('GET', KEYS[2])
if current == 'normal' then
  -- An operator pinned the normal tier; their override wins until it ends.
  return 0
end
redis.call('SET', KEYS[2], 'strict', 'EX', ARGV[3])
if current == 'strict' then
  return 0
end
return 1
