-- net.box figures, measured the way bench/run.js measures kharon. Prints "name<TAB>value".
-- Usage: tarantool netbox.lua HOST:PORT REPEATS
local nb, clock = require('net.box'), require('clock')
local c = nb.connect(arg[1])
local repeats = tonumber(arg[2]) or 3
local function report(name, value) print(string.format('%s\t%.3f', name, value)) io.stdout:flush() end

-- `window` requests in flight: a new one is issued as soon as the oldest completes.
local function pipelined(total, window)
    local t = clock.monotonic()
    local ring = {}
    for i = 1, total do
        local slot = (i - 1) % window + 1
        if ring[slot] ~= nil then ring[slot]:wait_result() end
        ring[slot] = c:call('echo', {1}, {is_async = true})
    end
    for _, f in pairs(ring) do f:wait_result() end
    return total / (clock.monotonic() - t)
end

for _ = 1, repeats do
    local t = clock.monotonic()
    for _ = 1, 20000 do c:call('echo', {1}) end
    report('sequential_call', 20000 / (clock.monotonic() - t))
    for _, w in ipairs({1, 100, 1000, 10000}) do report('pipelined_' .. w, pipelined(w == 1 and 20000 or 200000, w)) end
    report("burst_100000", pipelined(100000, 100000))
    for _, stream in ipairs({{'short', 1000, 50}, {'long', 1000000, 1}}) do
        local name, pushes, streams = unpack(stream)
        local best_on_push, best_pairs = 0, 0
        for _ = 1, streams do
            local n = 0
            t = clock.monotonic()
            c:call('pushes', {pushes}, {on_push = function() n = n + 1 end})
            best_on_push = math.max(best_on_push, n / (clock.monotonic() - t))
            n = 0
            t = clock.monotonic()
            for _, _ in c:call('pushes', {pushes}, {is_async = true}):pairs() do n = n + 1 end
            -- pairs() yields the final response too
            best_pairs = math.max(best_pairs, (n - 1) / (clock.monotonic() - t))
        end
        report('pushes_on_push_' .. name, best_on_push)
        report('pushes_pairs_' .. name, best_pairs)
    end
    t = clock.monotonic()
    local rows = 0
    for _ = 1, 10 do rows = rows + #c.space.bench:select({}, {limit = 10000}) end
    report('select_10k_ms', (clock.monotonic() - t) * 1000 / 10)
end
os.exit(0)
