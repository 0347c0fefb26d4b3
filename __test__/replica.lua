-- One member of the test replica set. Usage: tarantool replica.lua LISTEN WORKDIR MASTER|none rw|ro
-- The master creates users and spaces, replicas copy them; functions are defined everywhere.
local listen, dir, master, role = arg[1], arg[2], arg[3], arg[4]
box.cfg{
    listen = listen, log_level = 2, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir, work_dir = dir,
    replication = master ~= 'none' and {master} or nil,
    read_only = role == 'ro',
    replication_connect_timeout = 10,
}
if master == 'none' then
    box.schema.user.create('replicator', {password = 'secret', if_not_exists = true})
    box.schema.user.grant('replicator', 'replication', nil, nil, {if_not_exists = true})
    box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
    box.schema.user.create('tester', {password = 'secret', if_not_exists = true})
    box.schema.user.grant('tester', 'read,write,execute,create,alter,drop', 'universe', nil, {if_not_exists = true})
    local s = box.schema.space.create('test', {if_not_exists = true})
    s:create_index('pk', {if_not_exists = true})
end
function echo(...) return ... end
function whoami() return box.info.uuid, box.info.ro end
function pushes(n) for i = 1, n do box.session.push(i) end return 'done' end
function sleep_then(seconds, value) require('fiber').sleep(seconds) return value end
-- A replica is ready once it has the master's users and spaces.
while box.space.test == nil do require('fiber').sleep(0.05) end
io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
