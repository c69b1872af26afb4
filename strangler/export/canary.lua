-- strangler's canary split for Envoy: the Python facade's sticky bucket, computed in Lua.
--
-- facade.config.bucket.sticky_bucket: SHA-256 of "capability\0key", its first 8 bytes read
-- big-endian, / 2^64 * 100; a key is on the service's side when that is below the percent.
-- The same key therefore lands on the same side in both engines, at every percent.
--
-- A canary route carries {capability, percent, sticky} in its metadata (under this filter's
-- name); the script sets x-strangler-side and clears the route cache, so the router matches
-- again and takes the service's route (which requires that header) or the monolith's.
-- Clients cannot set x-strangler-side: every x-strangler-* header is removed before routing.

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local byte, char = string.byte, string.char

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
for i = 1, 64 do K[i] = tobit(K[i]) end

-- the first two 32-bit words of SHA-256(message), as unsigned numbers
local function sha256_head(message)
  local length = #message
  local padded = message .. "\128" .. string.rep("\0", (55 - length) % 64)
  local bits = length * 8
  padded = padded .. char(0, 0, 0, 0,
    band(rshift(bits, 24), 255), band(rshift(bits, 16), 255),
    band(rshift(bits, 8), 255), band(bits, 255))
  local h0, h1, h2, h3 = tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a)
  local h4, h5, h6, h7 = tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19)
  local w = {}
  for block = 1, #padded, 64 do
    for i = 0, 15 do
      local a, b, c, d = byte(padded, block + i * 4, block + i * 4 + 3)
      w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 0, 63 do
      local s1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + s1 + ch + K[i + 1] + w[i])
      local s0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(s0 + maj)
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  if h0 < 0 then h0 = h0 + 4294967296 end
  if h1 < 0 then h1 = h1 + 4294967296 end
  return h0, h1
end

-- facade.config.bucket.sticky_bucket, to the last bit: hi * 2^32 + lo is rounded once to a
-- double, as Python's int / int is, and the division by 2^64 is exact
local function bucket(name, key)
  local hi, lo = sha256_head(name .. "\0" .. key)
  return (hi * 4294967296 + lo) / 18446744073709551616 * 100
end

-- the last of repeated name= pairs, as aiohttp's request.cookies (the facade's) takes it
local function cookie(header, name)
  if header == nil then return nil end
  local found = nil
  for pair in string.gmatch(header, "[^;]+") do
    local k, v = string.match(pair, "^%s*([^=%s]+)%s*=%s*(.-)%s*$")
    if k == name then
      found = string.match(v, '^"(.*)"$') or v
    end
  end
  return found
end

-- facade.stages.mode.sticky_key: the header or cookie, else the client's own address
local function sticky_key(handle, sticky)
  local kind, name = string.match(sticky, "^(%a+):(.+)$")
  local value
  if kind == "header" then
    -- the first of repeated headers, as the facade's request.headers.get (get() joins them)
    value = handle:headers():getAtIndex(name, 0)
  elseif kind == "cookie" then
    value = cookie(handle:headers():get("cookie"), name)
  end
  if value ~= nil and value ~= "" then return value end
  local address = handle:streamInfo():downstreamDirectRemoteAddress()
  return string.match(address, "^%[(.*)%]:%d+$") or string.match(address, "^(.*):%d+$") or address
end

function envoy_on_request(handle)
  local canary = handle:metadata():get("canary")
  if canary == nil then return end
  -- a string, the Python float's repr: parsed here to the same double
  local percent = tonumber(canary["percent"])
  local inside
  if percent <= 0 then
    inside = false
  elseif percent >= 100 then
    inside = true
  else
    inside = bucket(canary["capability"], sticky_key(handle, canary["sticky"])) < percent
  end
  handle:headers():replace("x-strangler-side", inside and "service" or "legacy")
  handle:clearRouteCache()
end
