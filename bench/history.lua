dofile("bench/report.lua")
-- GET /payments (the history page) as a signed-in merchant.
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
