-- net.box calling the crud functions on a router, measured as bench/crud.js measures kharon.
-- Prints "name<TAB>value". Usage: tarantool netbox-crud.lua URI REPEATS SEQUENTIAL PIPELINED WINDOW
local nb, clock = require('net.box'), require('clock')
local c = nb.connect(arg[1])
local repeats, sequential, pipelined, window = tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
local function report(name, value) print(string.format('%s\t%.3f', name, value)) io.stdout:flush() end
local id = 10000000

local function insert(sync)
    id = id + 1
    return c:call('crud.insert', {'customers', {id, box.NULL, 'bench', 30}}, {is_async = not sync})
end
local function get(sync)
    return c:call('crud.get', {'customers', 1}, {is_async = not sync})
end

local function rate(total, issue_one)
    local t = clock.monotonic()
    local ring = {}
    for i = 1, total do
        local slot = (i - 1) % window + 1
        if ring[slot] ~= nil then ring[slot]:wait_result() end
        ring[slot] = issue_one(false)
    end
    for _, f in pairs(ring) do f:wait_result() end
    return total / (clock.monotonic() - t)
end

c:call('crud.replace', {'customers', {1, box.NULL, 'one', 1}})
for _ = 1, repeats do
    for name, issue_one in pairs({get = get, insert = insert}) do
        local t = clock.monotonic()
        for _ = 1, sequential do issue_one(true) end
        report('crud_' .. name .. '_sequential', sequential / (clock.monotonic() - t))
        report('crud_' .. name .. '_pipelined_' .. window, rate(pipelined, issue_one))
    end
end
os.exit(0)
