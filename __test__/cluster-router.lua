-- One router of the test cluster (vshard + crud), started by __test__/helpers/cluster.js.
-- Usage: tarantool cluster-router.lua LISTEN WORKDIR CONFIG
-- CONFIG is a JSON object: modules (the folder with vshard, crud, errors and checks),
-- bucket_count, sharding (vshard's table, as for the storages) and bootstrap: true for the one
-- router that bootstraps the cluster (distributes the buckets). Only one may: two routers
-- could each see empty storages and create the same buckets on different replica sets.
-- cluster_status() tells the harness how far the cluster is (see waitReady in cluster.js).
local fiber = require('fiber')
local json = require('json')
local listen, dir, config = arg[1], arg[2], json.decode(arg[3])

package.path = config.modules .. '/?.lua;' .. config.modules .. '/?/init.lua;' .. package.path
-- Globals: clients call crud.insert, vshard.router.info, ... by name.
vshard = require('vshard')
crud = require('crud')

box.cfg{
    listen = listen, log_level = 5, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir, work_dir = dir,
    memtx_memory = 32 * 1024 * 1024, wal_mode = 'none',
}
box.schema.user.create('tester', {password = 'secret', if_not_exists = true})
box.schema.user.grant('tester', 'read,write,execute,create,alter,drop', 'universe', nil, {if_not_exists = true})

vshard.router.cfg({
    bucket_count = config.bucket_count,
    sharding = config.sharding,
    box_cfg_mode = 'manual',
})
crud.init_router()

local function describe(err)
    if err == nil then return nil end
    if type(err) == 'table' then return err.message or json.encode(err) end
    return tostring(err)
end

-- The bootstrap fails while a storage is not up or not configured yet: retried every 50 ms.
-- if_not_bootstrapped: done when a storage already has buckets (this router restarted).
local bootstrap = config.bootstrap and {done = false, attempts = 0} or nil
if bootstrap then
    fiber.create(function()
        fiber.name('cluster-bootstrap')
        while true do
            bootstrap.attempts = bootstrap.attempts + 1
            local ok, res, err = pcall(vshard.router.bootstrap, {timeout = 5, if_not_bootstrapped = true})
            if ok and res then break end
            bootstrap.error = describe(ok and (err or 'failed without an error') or res)
            fiber.sleep(0.05)
        end
        bootstrap.done = true
        bootstrap.error = nil
        vshard.router.discovery_wakeup()
    end)
end

local woken = 0
-- What the harness needs to tell whether the cluster is ready: the bootstrap (on the router that
-- does it), vshard.router.info()'s bucket counts, status and alerts, and crud.storage_info()
-- (status by storage instance uuid). A router learns where buckets are by discovery, every
-- second while some are unknown: woken here (at most every 100 ms) to notice them sooner.
function cluster_status()
    local info = vshard.router.info()
    if info.bucket.unknown ~= 0 and fiber.clock() - woken > 0.1 then
        woken = fiber.clock()
        vshard.router.discovery_wakeup()
    end
    local ok, storages, err = pcall(crud.storage_info, {timeout = 1})
    if not ok then storages, err = nil, storages end
    return {
        bootstrap = bootstrap,
        bucket = info.bucket,
        status = info.status,
        alerts = info.alerts,
        storages = storages,
        storages_error = describe(err),
    }
end

io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
