-- strangler's edge rules for Envoy, where Envoy's own settings differ from the facade's
-- (facade/headers.py); the export fills in TRUSTED_HOPS and UPSTREAM_ORIGINS. What Envoy's
-- own config can say, it says (strangler/export/envoy.py): refusals are direct answers that
-- skip the buffer filter and this one, the response's hop-by-hop headers are removed by the
-- route config, and at the edge (no trusted hop) X-Forwarded-For is the peer, written there.
-- Each answer's and request's work here starts with a check that is cheap when nothing is
-- to be done.
--
-- X-Forwarded-For behind trusted hops: Envoy writes the listener's own address, not the
-- peer's, for a loopback client, and keeps a client's whole chain behind trusted hops. The
-- facade keeps exactly the TRUSTED_HOPS right-most entries the client sent and appends the
-- direct peer (SECURITY.md H3); Envoy appends nothing here (skip_xff_append).
--
-- Location, Content-Location: an upstream's redirect to its own origin is rewritten to the origin the client
-- asked for (SECURITY.md P10), as facade.headers.rewrite_location does.
--
-- A Content-Length over the route's max_body (its metadata) is answered 413 at once, as the
-- facade does, before any body byte is invited or read (SECURITY.md, bodies).
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

function envoy_on_request(handle)
  local headers = handle:headers()
  local length = headers:get("content-length")
  if length ~= nil then
    local limit = handle:metadata():get("max_body")
    length = tonumber(length)
    if length ~= nil and limit ~= nil and length > limit then
      handle:respond({[":status"] = "413"}, "")
      return
    end
  end
  if TRUSTED_HOPS > 0 then
    headers:replace("x-forwarded-for", forwarded_for(handle, headers))
  end
  local host = headers:get(":authority")
  if host then
    handle:streamInfo():dynamicMetadata():set("strangler.edge", "origin", "http://" .. host)
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
  local location = headers:get("location")
  local content_location = headers:get("content-location")
  if location == nil and content_location == nil then
    return
  end
  local edge = handle:streamInfo():dynamicMetadata():get("strangler.edge")
  if edge == nil or edge["origin"] == nil then
    return
  end
  for name, value in pairs({["location"] = location, ["content-location"] = content_location}) do
    for _, origin in ipairs(UPSTREAM_ORIGINS) do
      if value == origin or value:sub(1, #origin + 1) == origin .. "/" then
        headers:replace(name, edge["origin"] .. value:sub(#origin + 1))
        break
      end
    end
  end
end
