dofile("bench/report.lua")
-- GET /payments (the history page) as a signed-in merchant.
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
-- BENCH_DELAY_MS paces each connection (a steady load below the maximum, for its latency).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  function delay() return pause end
end
