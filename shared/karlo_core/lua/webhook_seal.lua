-- Replace clear webhook secrets by their sealed form, each only if it is still the value that was read (a
-- rotation in between wins).
-- KEYS[1] the tenant's secrets hash
-- ARGV: field, clear value read, sealed value; repeated
-- Returns how many fields were sealed.
local sealed = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    sealed = sealed + 1
  end
end
return sealed
