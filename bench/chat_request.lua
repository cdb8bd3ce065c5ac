-- wrk script for bench_http (issue #3): the plain load generator's side of the comparison.
-- Every request POSTs the JSON body in the file named by HYPERALIGN_WRK_BODY (bench_http writes
-- the same body its OpenAiBackend sends) to the URL given to wrk. Each reply's usage and
-- llama-server's own timings are read, and done() prints one line for bench_http to parse:
--   hyperalign-wrk requests=.. ok=.. tokens=.. short=.. bad=.. server_ms=.. latency_us=..
--                  duration_us=.. socket_errors=..
-- ok: 200 replies; tokens: their completion tokens; short: 200 replies with fewer completion
-- tokens than HYPERALIGN_WRK_MAX_TOKENS; bad: other statuses; server_ms: the summed
-- prompt_ms + predicted_ms of the ok replies; latency_us: wrk's mean latency.

local body_path = os.getenv("HYPERALIGN_WRK_BODY")
local max_tokens = tonumber(os.getenv("HYPERALIGN_WRK_MAX_TOKENS") or "0")
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- Runs in each thread's own Lua state; the counters are globals so done() can read them with
-- thread:get().
function init(args)
    local file = assert(io.open(assert(body_path, "HYPERALIGN_WRK_BODY is not set"), "rb"))
    wrk.method = "POST"
    wrk.body = file:read("*a")
    file:close()
    wrk.headers["Content-Type"] = "application/json"
    ok, tokens, short, bad, server_ms = 0, 0, 0, 0, 0
end

function response(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
        return
    end
    ok = ok + 1
    local n = tonumber(body:match('"completion_tokens":(%d+)')) or 0
    tokens = tokens + n
    if n < max_tokens then
        short = short + 1
    end
    local prompt_ms = tonumber(body:match('"prompt_ms":([-%d%.eE+]+)')) or 0
    local predicted_ms = tonumber(body:match('"predicted_ms":([-%d%.eE+]+)')) or 0
    server_ms = server_ms + prompt_ms + predicted_ms
end

function done(summary, latency, requests)
    local sum = {ok = 0, tokens = 0, short = 0, bad = 0, server_ms = 0}
    for _, thread in ipairs(threads) do
        for key, _ in pairs(sum) do
            sum[key] = sum[key] + thread:get(key)
        end
    end
    local e = summary.errors
    io.write(string.format(
        "hyperalign-wrk requests=%d ok=%d tokens=%d short=%d bad=%d server_ms=%.3f " ..
        "latency_us=%.1f duration_us=%d socket_errors=%d\n",
        summary.requests, sum.ok, sum.tokens, sum.short, sum.bad, sum.server_ms, latency.mean,
        summary.duration, e.connect + e.read + e.write + e.timeout))
end
