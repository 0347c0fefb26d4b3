-- Tarantool instance for kharon's tests. Usage: tarantool server.lua LISTEN WORKDIR
-- LISTEN is '127.0.0.1:PORT' or 'unix/:/path/to.sock'.
local fiber = require('fiber')
local listen, dir = arg[1], arg[2]
box.cfg{listen = listen, log_level = 2, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir,
        work_dir = dir, wal_mode = 'none'}
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
box.schema.user.create('tester', {password = 'secret', if_not_exists = true})
box.schema.user.grant('tester', 'read,write,execute,create,alter,drop', 'universe', nil, {if_not_exists = true})

function echo(...) return ... end
function pushes(n) for i = 1, n do box.session.push(i) end return 'done' end
function push_then_error(n) for i = 1, n do box.session.push(i) end error('failed after pushes') end
function push_slowly(n, delay) for i = 1, n do fiber.sleep(delay) box.session.push(i) end return 'done' end
function push_big(n, size) local s = string.rep('x', size) for i = 1, n do box.session.push(s) end return n end
function sleep_then(seconds, value) fiber.sleep(seconds) return value end

local s = box.schema.space.create('test', {if_not_exists = true})
s:create_index('pk', {if_not_exists = true})
s:replace{1, 'hello', 42}
io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
