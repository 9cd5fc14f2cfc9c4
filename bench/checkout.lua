dofile("bench/report.lua")
-- Checkout confirmation: POST the card form of a signed link, each request with its own
-- server-signed attempt token (precomputed from the link key by bench.sh), card 4242…
-- BENCH_TOKENS holds "path token" lines of one width: many links, or one link that every payer
-- shares. Each request reads its own line (a seek and a read: parsing the whole file in each of
-- wrk's Lua states cost more CPU than the requests), starting at BENCH_TOKEN_OFFSET, which
-- make bench moves on after every run, so no token is ever submitted twice (that would be a replay,
-- not a checkout). Requests are written out by hand: wrk.format walks a headers table per call.
local file = io.open(os.getenv("BENCH_TOKENS"), "r")
local width = #file:read("*l") + 1
local lines = math.floor(file:seek("end") / width)
local offset = tonumber(os.getenv("BENCH_TOKEN_OFFSET") or "0")
local counter = 0
local thread_id = 0
local threads = 0
local host = ""

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  thread_id = id
  host = wrk.headers["Host"] or "127.0.0.1"
  file = io.open(os.getenv("BENCH_TOKENS"), "r")
end

local card = "&card_number=4242424242424242&exp_month=12&exp_year=30&cvc=123&cardholder_name=Bench+Payer&email=bench%40example.com"

request = function()
  -- Thread 0 takes lines offset, offset+2, …; thread 1 offset+1, offset+3, …
  local line = (offset + thread_id + 2 * counter) % lines
  counter = counter + 1
  file:seek("set", line * width)
  local path, token = file:read("*l"):match("^(%S+) (%S+)$")
  local body = "attempt_token=" .. token .. card
  return "POST " .. path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
    .. #body .. "\r\n\r\n" .. body
end

-- BENCH_DELAY_MS paces each connection (a steady load below the maximum, for its latency).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  function delay() return pause end
end
