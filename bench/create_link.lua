dofile("bench/report.lua")
-- POST /v1/payment_links with a secret key.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"amount":1999,"currency":"EUR","description":"Bench beans"}'
