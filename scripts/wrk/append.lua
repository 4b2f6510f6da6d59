-- One event per request, each connection to its own stream, no
-- expectation: what `scripts/wrk-append.sh` drives against the server.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  requests = 0
  errors = 0
end

function request()
  requests = requests + 1
  local path = "/v1/streams/wrk-" .. id .. "-" .. (requests % 64)
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" },
    '{"events":[{"type":"Benched","data":{"n":' .. requests .. ',"pad":"0123456789012345678901234567890123456789012345678901234567890123456789"}}]}')
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
  end
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%.3f,"events_per_sec":%.0f,"non_200":%d,"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
