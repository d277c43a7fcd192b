-- wrk script for `make bench-api`: POSTs one GraphQL document (the file in BODY) with the cookie in
-- COOKIE, counts answers that are not 200 or carry "errors", and prints one RESULT line.
local body_file = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = body_file:read("*a")
body_file:close()
wrk.headers["Content-Type"] = "application/json"
local cookie = os.getenv("COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  errors = 0
  answers = 0
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errors, answers = 0, 0
  for _, thread in ipairs(threads) do
    errors = errors + thread:get("errors")
    answers = answers + thread:get("answers")
  end
  errors = errors + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT requests=%d req_s=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d answers=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, answers))
end
