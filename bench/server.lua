-- Tarantool for the benchmark. Usage: tarantool server.lua LISTEN WORKDIR
local listen, dir = arg[1], arg[2]
box.cfg{listen = listen, log_level = 2, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir,
        work_dir = dir, wal_mode = 'none', net_msg_max = 1000000, readahead = 1048576}
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
function echo(...) return ... end
function pushes(n) for i = 1, n do box.session.push(i) end return 'done' end
local s = box.schema.space.create('bench', {if_not_exists = true})
s:create_index('pk', {if_not_exists = true})
for i = 1, 10000 do s:replace{i, 'name-' .. i, i * 2, i / 3, 'some text in field five'} end
io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
