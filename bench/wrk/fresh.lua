-- A fresh durable write on every request. BENCH_FRESH picks where the fresh token goes:
--   key  (default): POST to BENCH_PATH with a new Idempotency-Key each time (miosa-mock, localstripe);
--   path:           PUT to BENCH_PATH .. <token> (object stores: each request writes a new object).
-- BENCH_BODY, BENCH_CONTENT_TYPE and BENCH_KEY_PREFIX come from the environment; a counter per wrk thread
-- keeps tokens unique across threads and runs.
local mode = os.getenv("BENCH_FRESH") or "key"
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
  local token = prefix .. tostring(tid) .. "-" .. tostring(counter)
  if mode == "path" then
    return wrk.format("PUT", path .. token, headers({ ["Content-Type"] = ctype }), body)
  end
  return wrk.format("POST", path, headers({ ["Idempotency-Key"] = token, ["Content-Type"] = ctype }), body)
end
