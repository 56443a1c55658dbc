-- POST with a fresh Idempotency-Key on every request (a new durable write each time).
-- BENCH_PATH, BENCH_BODY, BENCH_CONTENT_TYPE and BENCH_KEY_PREFIX come from the environment; a key
-- counter per wrk thread keeps keys unique across threads and runs.
local path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY") or "{}"
local ctype = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local prefix = (os.getenv("BENCH_KEY_PREFIX") or "bench") .. "-"
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
  local key = prefix .. tostring(tid) .. "-" .. tostring(counter)
  return wrk.format("POST", path, headers({ ["Idempotency-Key"] = key, ["Content-Type"] = ctype }), body)
end
