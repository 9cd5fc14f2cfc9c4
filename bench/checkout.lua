dofile("bench/report.lua")
-- Checkout confirmation: POST the card form of one multi-use link, each request with its own
-- server-signed attempt token (precomputed from the link key by bench.sh), card 4242…
local tokens = {}
local path = os.getenv("BENCH_LINK_PATH")
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local counter = 0
local thread_id = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  thread_id = id
end

request = function()
  counter = counter + 1
  local index = ((thread_id * 1000003) + counter) % #tokens + 1
  local body = "attempt_token=" .. tokens[index] ..
    "&card_number=4242424242424242&exp_month=12&exp_year=30&cvc=123&cardholder_name=Bench+Payer&email=bench%40example.com"
  return wrk.format("POST", path, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
