-- wrk script for api_load.py. Each connection is one client. With
-- WRK_THINK_MAX_MS > 0 a client waits a uniformly drawn think time
-- (WRK_THINK_MIN_MS..WRK_THINK_MAX_MS) after each answer before its next
-- request, as a person at a browser or a polling page does; without it the
-- clients send back to back (a saturation run). At the end: one JSON line with
-- the latency percentiles (ms) and every kind of error (socket errors and
-- non-2xx/3xx answers).
local think_min = tonumber(os.getenv("WRK_THINK_MIN_MS") or "0")
local think_max = tonumber(os.getenv("WRK_THINK_MAX_MS") or "0")
local threads = 0

setup = function(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

init = function(args)
  -- Each wrk thread has its own Lua state: seed them apart.
  math.randomseed(os.time() * 1000 + (seed or 0))
end

if think_max > 0 then
  delay = function()
    return math.random(think_min, think_max)
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50": %.2f, "p95": %.2f, "p99": %.2f, "max": %.2f, '
    .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, e.connect, e.read, e.write, e.timeout, e.status))
end
