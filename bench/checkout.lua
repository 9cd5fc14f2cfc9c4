dofile("bench/report.lua")
-- Checkout confirmation: POST the card form of a signed link, each request with its own
-- server-signed attempt token (precomputed from the link key by bench.sh), card 4242…
-- BENCH_TOKENS holds "path token" lines: many links, or one link that every payer shares.
local entries = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  local path, token = line:match("^(%S+) (%S+)$")
  entries[#entries + 1] = { path, token }
end
local counter = 0
local thread_id = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  thread_id = id
  -- A fresh stretch of tokens on every run: a reused token only finds its first payment.
  math.randomseed(os.time() * 7 + thread_id)
  counter = math.random(0, #entries)
end

request = function()
  counter = counter + 1
  local entry = entries[((thread_id * 150001) + counter) % #entries + 1]
  local path = entry[1]
  local body = "attempt_token=" .. entry[2] ..
    "&card_number=4242424242424242&exp_month=12&exp_year=30&cvc=123&cardholder_name=Bench+Payer&email=bench%40example.com"
  return wrk.format("POST", path, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

-- BENCH_DELAY_MS paces each connection (a steady load below the maximum, for its latency).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  function delay() return pause end
end
