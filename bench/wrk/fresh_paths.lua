-- PUT to a fresh path on every request (object stores: each request writes a new object).
-- BENCH_PATH is the prefix, BENCH_BODY the payload.
local path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY") or "{}"
local prefix = os.getenv("BENCH_KEY_PREFIX") or "bench"
local counter = 0
tid = 0  -- global: thread:set() assigns it in each thread's Lua state
local threads = 0

-- wrk.format uses only the headers it is given, so the -H headers (auth) are copied in.
local function headers(extra)
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  for k, v in pairs(extra) do h[k] = v end
  return h
end

setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

request = function()
  counter = counter + 1
  return wrk.format("PUT", path .. prefix .. "-" .. tostring(tid) .. "-" .. tostring(counter),
                    headers({ ["Content-Type"] = "application/json" }), body)
end
