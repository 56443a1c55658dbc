-- The same request every time: BENCH_METHOD (default GET), BENCH_BODY and BENCH_CONTENT_TYPE from the
-- environment; headers (auth, a fixed Idempotency-Key) come from wrk's -H flags.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
end
