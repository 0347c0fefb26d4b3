-- One member of the test replica set.
-- Usage: tarantool replica.lua LISTEN WORKDIR rw|ro PEERS [election|static [CFG]]
-- PEERS is every member's URI, this one's included, comma-separated: a full mesh, the bootstrap
-- that 2.6 and 3.x both accept. All members start at once. The writable one (rw) bootstraps the
-- set and creates users and spaces; the read-only ones join it and copy them. Functions are
-- defined everywhere. CFG is a JSON object of more options for the first box.cfg.
local fiber = require('fiber')
local listen, dir, role, peers, election = arg[1], arg[2], arg[3], arg[4], arg[5] == 'election'
local extra = arg[6] and require('json').decode(arg[6]) or {}
local replication = {}
for uri in peers:gmatch('[^,]+') do table.insert(replication, uri) end
local major, minor = require('tarantool').version:match('^(%d+)%.(%d+)')
major, minor = tonumber(major), tonumber(minor)
local cfg = {
    listen = listen, log_level = 5, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir, work_dir = dir,
    replication = replication,
    read_only = role == 'ro',
    replication_connect_timeout = 30,
}
-- 2.11 brought bootstrap strategies and deprecated the quorum-based one: 'auto' waits for the
-- peers and boots from the writable member; 3.0 can be told which member that is ('config'),
-- the first of PEERS. 2.6 boots from the writable member without being told, and would reject
-- the options.
if major >= 3 then
    cfg.bootstrap_strategy = 'config'
    cfg.bootstrap_leader = replication[1]:gsub('^[^@]*@', '')
elseif major == 2 and minor >= 11 then
    cfg.bootstrap_strategy = 'auto'
end
for k, v in pairs(extra) do cfg[k] = v end
box.cfg(cfg)
if role == 'rw' then
    -- The member that bootstrapped the set is writable when box.cfg returns, or soon after:
    -- wait for it (30 s at most) rather than fail the next line with ER_READONLY.
    box.ctl.wait_rw(30)
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
function sleep_then(seconds, value) fiber.sleep(seconds) return value end
-- Ready once this member has the master's users and spaces and follows its peers (a replica
-- that is still an orphan could not be promoted later).
while box.space.test == nil or box.info.status ~= 'running' do fiber.sleep(0.05) end
if election and role == 'rw' then
    -- Not a candidate before every member has joined: a candidate without a quorum is a
    -- read-only follower, and a member joining then cannot be registered (ER_READONLY).
    while #box.info.replication < #replication do fiber.sleep(0.05) end
end
if election then
    -- RAFT (2.10+) once the users exist (the members authenticate to each other as replicator):
    -- every member a candidate, non-leaders read-only by the election itself. A dead leader is
    -- noticed after 4 replication timeouts (1 s), then a new one is elected within 1 s.
    box.cfg{election_mode = 'candidate', election_timeout = 1, replication_timeout = 0.25, read_only = false}
    while box.info.election.leader == 0 do fiber.sleep(0.05) end
end
io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
