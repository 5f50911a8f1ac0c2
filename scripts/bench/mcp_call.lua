-- wrk script for the LOOM bench (scripts/bench/main.ts).
--
-- Environment:
--   BENCH_BODY     JSON-RPC request body with the literal text @ID@ where the
--                  id goes; unset for a plain GET (the direct-fetch floor)
--   BENCH_SESSION  Mcp-Session-Id obtained by an initialize beforehand
--   BENCH_PROTOCOL MCP-Protocol-Version header (optional)
--   BENCH_HEADERS  extra request headers, one "Name: value" per line
--                  (optional; a stateless call's Mcp-Method and Mcp-Name)
--
-- Every request carries a fresh JSON-RPC id (thread number, then a counter):
-- the SDK's transport routes JSON responses by request id within a session,
-- so concurrent requests sharing one id would be misrouted there. At the end
-- one line "RESULT {json}" sums the run for the bench to parse.

local template = os.getenv("BENCH_BODY")
local session = os.getenv("BENCH_SESSION")
local protocol = os.getenv("BENCH_PROTOCOL")
local extra = os.getenv("BENCH_HEADERS")
local threads = {}
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  if template ~= nil then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Accept"] = "application/json, text/event-stream"
    if session ~= nil and session ~= "" then wrk.headers["Mcp-Session-Id"] = session end
    if protocol ~= nil and protocol ~= "" then wrk.headers["MCP-Protocol-Version"] = protocol end
    if extra ~= nil then
      for line in extra:gmatch("[^\n]+") do
        local name, value = line:match("^([%w-]+):%s*(.-)%s*$")
        if name == nil then error("BENCH_HEADERS: expected 'Name: value', got " .. line) end
        wrk.headers[name] = value
      end
    end
  end
  prefix = tostring(tid) .. "-"
end

if template ~= nil then
  local head, tail = template:match("^(.*)@ID@(.*)$")
  request = function()
    counter = counter + 1
    return wrk.format(nil, nil, nil, head .. '"' .. prefix .. counter .. '"' .. tail)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
