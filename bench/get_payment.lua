dofile("bench/report.lua")
-- GET /v1/payments/{id} with a secret key.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
