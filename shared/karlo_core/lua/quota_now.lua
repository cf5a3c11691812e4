-- The quota clock: Redis TIME, or the test-only override when it is enabled and set.
-- KEYS[1] override key; ARGV[1] '1' when overrides are enabled
if ARGV[1] == '1' then
  local override = redis.call('GET', KEYS[1])
  if override then return override end
end
local t = redis.call('TIME')
return string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1e6)
