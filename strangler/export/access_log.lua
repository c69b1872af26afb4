-- strangler's access log for Envoy (`export envoy --access-log json`): the path as forwarded,
-- with the values of secret query parameters replaced, for the access log to read.
--
-- parallel_run.redact.Redactor.target, to the byte: the query is split on & and ;, and a
-- parameter whose name (+ and %XX decoded, trimmed, lower case) is secret keeps "name=" and
-- loses its value to [REDACTED]; everything else is kept as sent. SECRET_NAMES is filled in by
-- strangler.export.envoy.access_log_lua from the built-in names and store.redact_fields.

local SECRET_NAMES = {}
local MASK = "[REDACTED]"

local function unquote_plus(text)
  text = string.gsub(text, "+", " ")
  return (string.gsub(text, "%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function redact_part(part)
  local eq = string.find(part, "=", 1, true)
  if eq == nil then return part end
  local name = string.sub(part, 1, eq - 1)
  local key = string.lower(string.match(unquote_plus(name), "^%s*(.-)%s*$"))
  if SECRET_NAMES[key] then return name .. "=" .. MASK end
  return part
end

local function redact(path)
  local mark = string.find(path, "?", 1, true)
  if mark == nil then return path end
  local out = { string.sub(path, 1, mark) }
  local query = string.sub(path, mark + 1)
  local start = 1
  while true do
    local sep = string.find(query, "[&;]", start)
    if sep == nil then
      out[#out + 1] = redact_part(string.sub(query, start))
      break
    end
    out[#out + 1] = redact_part(string.sub(query, start, sep - 1))
    out[#out + 1] = string.sub(query, sep, sep)
    start = sep + 1
  end
  return table.concat(out)
end

function envoy_on_request(handle)
  local path = handle:headers():get(":path")
  if path ~= nil then
    handle:streamInfo():dynamicMetadata():set("strangler.access_log", "path", redact(path))
  end
end
