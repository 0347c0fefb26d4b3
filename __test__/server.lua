-- Tarantool instance for kharon's tests. Usage: tarantool server.lua LISTEN WORKDIR
-- LISTEN is '127.0.0.1:PORT' or 'unix/:/path/to.sock'.
local fiber = require('fiber')
local listen, dir = arg[1], arg[2]
local major, minor = require('tarantool').version:match('^(%d+)%.(%d+)')
major, minor = tonumber(major), tonumber(minor)
local cfg = {listen = listen, log_level = 2, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir,
             work_dir = dir, wal_mode = 'none'}
-- Interactive transactions (2.10+) need MVCC: without it a transaction is aborted at its
-- first yield (ER_TRANSACTION_YIELD). 2.6 has neither, and refuses the option.
if major > 2 or (major == 2 and minor >= 10) then cfg.memtx_use_mvcc_engine = true end
box.cfg(cfg)
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
box.schema.user.create('tester', {password = 'secret', if_not_exists = true})
box.schema.user.grant('tester', 'read,write,execute,create,alter,drop', 'universe', nil, {if_not_exists = true})

function echo(...) return ... end
function pushes(n) for i = 1, n do box.session.push(i) end return 'done' end
function push_then_error(n) for i = 1, n do box.session.push(i) end error('failed after pushes') end
function push_slowly(n, delay) for i = 1, n do fiber.sleep(delay) box.session.push(i) end return 'done' end
function push_big(n, size) local s = string.rep('x', size) for i = 1, n do box.session.push(s) end return n end
function sleep_then(seconds, value) fiber.sleep(seconds) return value end
-- A tuple with a format of its own, not a space's (box.tuple.new takes one from 3.0).
function tuple_fmt() return box.tuple.new({1, 'a'}, {format = {{'id', 'unsigned'}, {'name', 'string'}}}) end

local s = box.schema.space.create('test', {if_not_exists = true})
s:create_index('pk', {if_not_exists = true})
s:replace{1, 'hello', 42}
io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
