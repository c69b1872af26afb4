-- strangler's edge rules for Envoy, where Envoy's own settings differ from the facade's
-- (facade/headers.py); the export fills in TRUSTED_HOPS and UPSTREAM_ORIGINS. What Envoy's
-- own config can say, it says (strangler/export/envoy.py): refusals are direct answers that
-- skip the buffer filter and this one, a Content-Length over a route's max_body is a direct
-- 413 (a route), the response's hop-by-hop headers are removed by the route config, and at
-- the edge (no trusted hop) X-Forwarded-For is the peer, written there.
-- Each answer's and request's work here starts with a check that is cheap when nothing is
-- to be done.
--
-- X-Forwarded-For behind trusted hops: Envoy writes the listener's own address, not the
-- peer's, for a loopback client, and keeps a client's whole chain behind trusted hops. The
-- facade keeps exactly the TRUSTED_HOPS right-most entries the client sent and appends the
-- direct peer (SECURITY.md H3); Envoy appends nothing here (skip_xff_append).
--
-- Location, Content-Location: an upstream's redirect to its own origin is rewritten to the origin the client
-- asked for (SECURITY.md P10), as facade.headers.rewrite_location does; the router puts that
-- origin in x-strangler-origin (a route's response_headers_to_add), removed here.
--
-- A status outside 100-599 from an upstream (Envoy relays a 600) is a 502 problem+json, as the
-- facade answers it (SECURITY.md U2).
--
-- The headers an answer's Connection header names are removed (facade.headers.HOP_BY_HOP).

TRUSTED_HOPS = 0
UPSTREAM_ORIGINS = {}

local function peer_address(handle)
  local address = handle:streamInfo():downstreamDirectRemoteAddress()
  local bracketed = address:match("^%[(.*)%]:%d+$")
  if bracketed then
    return bracketed
  end
  return (address:gsub(":%d+$", ""))
end

local function forwarded_for(handle, headers)
  local kept = {}
  if TRUSTED_HOPS > 0 then
    local hops = {}
    for index = 0, headers:getNumValues("x-forwarded-for") - 1 do
      local value = headers:getAtIndex("x-forwarded-for", index)
      for hop in value:gmatch("[^,]+") do
        hop = hop:match("^%s*(.-)%s*$")
        if hop ~= "" then
          hops[#hops + 1] = hop
        end
      end
    end
    for index = math.max(1, #hops - TRUSTED_HOPS + 1), #hops do
      kept[#kept + 1] = hops[index]
    end
  end
  kept[#kept + 1] = peer_address(handle)
  return table.concat(kept, ", ")
end

if TRUSTED_HOPS > 0 then
  -- defined behind trusted hops only: at the edge no request needs this filter (Envoy runs
  -- no coroutine for a function a script leaves undefined)
  function envoy_on_request(handle)
    local headers = handle:headers()
    headers:replace("x-forwarded-for", forwarded_for(handle, headers))
  end
end

local function bad_status(handle, headers)
  local status = tonumber(headers:get(":status"))
  if status ~= nil and status >= 100 and status <= 599 then
    return false
  end
  local body = '{"type": "about:blank", "title": "Bad Gateway", "status": 502, '
    .. '"detail": "the upstream answered an invalid status ' .. tostring(headers:get(":status"))
    .. '"}'
  headers:replace(":status", "502")
  headers:replace("content-type", "application/problem+json")
  headers:replace("cache-control", "no-store")
  headers:remove("content-length")
  handle:body():setBytes(body)
  return true
end

function envoy_on_response(handle)
  local headers = handle:headers()
  local origin = headers:get("x-strangler-origin")
  if origin ~= nil then
    headers:remove("x-strangler-origin")
  end
  if bad_status(handle, headers) then
    return
  end
  local connection = headers:get("connection")
  if connection ~= nil then
    for token in connection:gmatch("[^,%s]+") do
      headers:remove(token:lower())
    end
    headers:remove("connection")
  end
  if origin == nil then
    return
  end
  local location = headers:get("location")
  local content_location = headers:get("content-location")
  for name, value in pairs({["location"] = location, ["content-location"] = content_location}) do
    for _, upstream in ipairs(UPSTREAM_ORIGINS) do
      if value == upstream or value:sub(1, #upstream + 1) == upstream .. "/" then
        headers:replace(name, origin .. value:sub(#upstream + 1))
        break
      end
    end
  end
end
