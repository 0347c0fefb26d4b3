-- One storage of the test cluster (vshard + crud), started by __test__/helpers/cluster.js.
-- Usage: tarantool cluster-storage.lua LISTEN WORKDIR CONFIG
-- CONFIG is a JSON object: modules (the folder with vshard, crud, errors and checks),
-- instance_uuid, replicaset_uuid, master (true for the writable member of its replica set),
-- bootstrap_leader (the master's LISTEN), bucket_count, and sharding, vshard's own table
-- ({[replicaset uuid] = {replicas = {[instance uuid] = {uri, name, master}}}}), the same for
-- every member and router. All members of a replica set start at once; the master bootstraps
-- it, the replicas join it. Plain box.cfg, then vshard.storage.cfg told not to call box.cfg
-- itself (box_cfg_mode = 'manual'), then crud.init_storage().
local fiber = require('fiber')
local json = require('json')
local listen, dir, config = arg[1], arg[2], json.decode(arg[3])

package.path = config.modules .. '/?.lua;' .. config.modules .. '/?/init.lua;' .. package.path
-- A global: vshard's stored procedures (vshard.storage.call, buckets_discovery, ...) are
-- called by name through it.
vshard = require('vshard')
crud = require('crud')

local major, minor = require('tarantool').version:match('^(%d+)%.(%d+)')
major, minor = tonumber(major), tonumber(minor)

local replication = {}
for _, replica in pairs(config.sharding[config.replicaset_uuid].replicas) do
    table.insert(replication, replica.uri)
end
local cfg = {
    listen = listen, log_level = 5, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir, work_dir = dir,
    memtx_memory = 32 * 1024 * 1024,
    instance_uuid = config.instance_uuid,
    replicaset_uuid = config.replicaset_uuid,
    replication = replication,
    read_only = not config.master,
    replication_connect_timeout = 30,
    -- A peer that cannot be reached yet, or refuses the login (the master bootstraps, then
    -- vshard creates its user), is retried every replication_timeout: 0.1 s instead of 1 s while
    -- the set boots (a 2.6 cluster is ready in 0.8 s instead of 2), the default once it is up.
    replication_timeout = 0.1,
}
-- How the replica set boots (replica.lua does the same): 3.x is told which member bootstraps
-- it ('config', else a replica waits about a second longer); 2.11 has 'auto'; older servers
-- reject both options. Below 2.11 the quorum is 0: a member restarted while a peer is down
-- does not wait for it (the bootstrap waits for every peer anyway).
if major >= 3 then
    cfg.bootstrap_strategy = 'config'
    cfg.bootstrap_leader = config.bootstrap_leader
elseif major == 2 and minor >= 11 then
    cfg.bootstrap_strategy = 'auto'
else
    cfg.replication_connect_quorum = 0
end
-- A restart (restart(member) in cluster.js) recovers from the data dir rather than bootstraps;
-- 3.x would then wait replication_connect_timeout for a peer that is down (30 s, a restarted
-- master whose replica was killed): 1 s is enough for live peers, the others join later.
if #require('fio').glob(dir .. '/*.snap') > 0 then cfg.replication_connect_timeout = 1 end
box.cfg(cfg)
if config.master then
    -- Writable when box.cfg returns, or soon after (3.x): vshard's schema upgrade writes.
    box.ctl.wait_rw(30)
end

-- On the master vshard creates its user (the login and password of the URIs in sharding)
-- and the _bucket space; replicas receive them by replication.
vshard.storage.cfg({
    bucket_count = config.bucket_count,
    sharding = config.sharding,
    box_cfg_mode = 'manual',
}, config.instance_uuid)

if config.master then
    box.schema.user.create('tester', {password = 'secret', if_not_exists = true})
    box.schema.user.grant('tester', 'read,write,execute,create,alter,drop', 'universe', nil, {if_not_exists = true})
    -- A sharded space as crud wants it: a bucket_id field (filled by crud from the primary key
    -- when null) with an index of its own.
    local s = box.schema.space.create('customers', {
        if_not_exists = true,
        format = {
            {name = 'id', type = 'unsigned'},
            {name = 'bucket_id', type = 'unsigned'},
            {name = 'name', type = 'string'},
            {name = 'age', type = 'number'},
        },
    })
    s:create_index('primary', {parts = {{field = 1, type = 'unsigned'}}, if_not_exists = true})
    s:create_index('bucket_id', {parts = {{field = 2, type = 'unsigned'}}, unique = false, if_not_exists = true})
end

-- For client-side routing (sharded.test.js), called through vshard.storage.call: where each call
-- ran (this replica set, this instance's role) and how its bucket stood here, so a test sees any
-- call that landed on the wrong shard; and a write and a read by key.
function where_is(bucket_id)
    local bucket = box.space._bucket:get{bucket_id}
    local info = box.info
    return {replicaset = (info.replicaset or info.cluster).uuid, ro = info.ro, status = bucket and bucket.status}
end
function put_customer(id, bucket_id, name)
    box.space.customers:replace{id, bucket_id, name, 0}
    return where_is(bucket_id)
end
function get_customer(id)
    return box.space.customers:get{id}
end
function count_customers()
    return box.space.customers:len()
end

-- crud's functions on storages (_crud.*): on the master it also grants vshard's user the right
-- to call them. On 3.x it runs from a box.status watcher (asynchronously) by default.
crud.init_storage()

-- Ready once this member has the master's users and spaces and follows its peers.
while box.space.customers == nil or box.info.status ~= 'running' do fiber.sleep(0.05) end
box.cfg{replication_timeout = 1}
io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
