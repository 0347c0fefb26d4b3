-- Tarantool instance for __test__/iproto-packets.test.js: server.lua's conventions (usage:
-- tarantool iproto-server.lua LISTEN WORKDIR, the same ready line), plus functions that send
-- packets of their own to the caller's session with box.iproto.send (2.11+), and a handler of
-- a custom request type (box.iproto.override, 2.11+). On a server without box.iproto they are
-- not defined: the tests that need them skip.
local listen, dir = arg[1], arg[2]
box.cfg({listen = listen, log_level = 2, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir,
         work_dir = dir, wal_mode = 'none'})
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})

local fiber = require('fiber')

function echo(...) return ... end
function sleep_then(seconds, value) fiber.sleep(seconds) return value end

-- Custom request types the test sends, and what the override answers them with.
local CUSTOM = 0x100

if box.iproto ~= nil and box.iproto.send ~= nil then
    local sid = box.session.id

    -- Sends {request_type = t, sync = sync} {DATA = data} to the caller, then returns `value`
    -- and the call's own SYNC: with sync = nil, the packet gets that SYNC.
    function send_packet(t, sync, data, value)
        -- (null from JS is box.NULL, which is == nil but not false)
        if sync == nil then sync = box.session.sync() end
        box.iproto.send(sid(), {request_type = t, sync = sync}, {data = data})
        return value, box.session.sync()
    end

    -- A packet without a body.
    function send_bare(t, sync)
        box.iproto.send(sid(), {request_type = t, sync = sync})
        return true
    end

    -- Answers CUSTOM with an OK carrying what it was sent, and the type it came as.
    box.iproto.override(CUSTOM, function(header, body)
        local got = body ~= nil and body[box.iproto.key.TUPLE] or box.NULL
        box.iproto.send(sid(), {request_type = box.iproto.type.OK, sync = header.sync},
                        {data = {'custom', header.request_type, got}})
        return true
    end)
    -- (No handler here returns false: for a type the server has no handler of its own for,
    -- Tarantool 3.8 then crashes, SIGSEGV in the iproto thread.)
end

io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
