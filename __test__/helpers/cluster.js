'use strict'

// A real sharded Tarantool cluster on loopback for the tests: routers and replica sets (a master
// and read-only replicas each), with vshard (the buckets) and crud (the API on top). Plain
// box.cfg, vshard.storage.cfg and vshard.router.cfg in __test__/cluster-storage.lua and
// __test__/cluster-router.lua, each member given its part of one configuration as a JSON
// argument. Every member is a TarantoolServer: stopAll() and the process's exit kill it too.
//
// vshard and crud are Lua modules, not part of Tarantool: TARANTOOL_MODULES names a folder with
// them (and errors, checks), as ../shared/tarantool-modules has them (its README). Unset, the
// harness takes that folder next to the repository when it is there, so that `npm test` in a
// workspace that has it runs the cluster tests; elsewhere clusterSkipReason() says what is
// missing and the tests skip.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { connect } = require('../..')
const { TarantoolServer, freePorts } = require('./tarantool')
const { sleep } = require('./wait')

const STORAGE_LUA = path.join(__dirname, '..', 'cluster-storage.lua')
const ROUTER_LUA = path.join(__dirname, '..', 'cluster-router.lua')
const DEFAULT_MODULES = path.resolve(__dirname, '..', '..', '..', 'shared', 'tarantool-modules')
// A member's start: its box.cfg, for a replica the join (which waits for the master's users).
const MEMBER_START_TIMEOUT_MS = 60000
const READY_TIMEOUT_MS = 60000
const POLL_MS = 50
const OTHERS_OUTPUT = 2000 // characters of each other member's output in an error

const NEEDS = 'needs vshard and crud: set TARANTOOL_MODULES to a folder with them (tt rocks install vshard crud)'

/** The folder of the Lua modules: $TARANTOOL_MODULES, else ../shared/tarantool-modules if it exists, else null. */
function modulesDir() {
  const env = process.env.TARANTOOL_MODULES
  if (env) return path.resolve(env)
  return fs.existsSync(DEFAULT_MODULES) ? DEFAULT_MODULES : null
}

function hasModule(dir, name) {
  return fs.existsSync(path.join(dir, `${name}.lua`)) || fs.existsSync(path.join(dir, name, 'init.lua'))
}

/** Why a cluster cannot be started here (a string for node:test's `skip`), or false. */
function clusterSkipReason() {
  const dir = modulesDir()
  if (dir === null) return `${NEEDS}; TARANTOOL_MODULES is unset and ${DEFAULT_MODULES} does not exist`
  const missing = ['vshard', 'crud', 'errors'].filter((name) => !hasModule(dir, name))
  if (missing.length > 0) return `${NEEDS}; ${dir} lacks ${missing.join(', ')}`
  return false
}

class ClusterMember extends TarantoolServer {
  /** `config`: this member's JSON argument; `uuid`: its instance uuid (a storage's), or null. */
  constructor({ port, dir, script, name, config, uuid = null }) {
    super({ port, dir, script, name })
    this.config = config
    this.uuid = uuid
    this.startTimeout = MEMBER_START_TIMEOUT_MS
  }

  get args() {
    return [JSON.stringify(this.config)]
  }

  get uri() {
    return `${this.host}:${this.port}`
  }
}

/** The credentials URI of a member or router (the tester user, all grants). */
function uri(server) {
  return `tester:secret@${server.host}:${server.port}`
}

/**
 * Why a router's cluster_status() (cluster-router.lua) does not show a ready cluster, or null:
 * the bootstrap done (on the router that does it), every bucket known and writable, and crud
 * running on every storage.
 */
function notReady(status, bucketCount, storageUuids) {
  if (status.bootstrap && !status.bootstrap.done) {
    return `bootstrap not done after ${status.bootstrap.attempts} attempts (${status.bootstrap.error})`
  }
  const b = status.bucket
  if (b.available_rw !== bucketCount || b.unreachable !== 0 || b.unknown !== 0) {
    return `buckets: ${JSON.stringify(b)} of ${bucketCount}`
  }
  if (!status.storages) return `crud.storage_info() failed: ${status.storages_error}`
  const notRunning = storageUuids.filter((id) => !status.storages[id] || status.storages[id].status !== 'running')
  if (notRunning.length > 0) return `crud.storage_info(): not running on ${JSON.stringify(notRunning.map((id) => [id, status.storages[id]]))}`
  return null
}

/**
 * Starts `replicasets` replica sets (a master and `replicas` replicas each) and `routers`
 * routers, all at once, and resolves once the cluster is ready (waitReady) to
 * { routers: [{ uri, port, server }], replicasets: [{ uuid, master, replicas }], members,
 *   bucketCount, uri(member), stop(), kill(member, signal), restart(member), waitReady() }.
 * `members` are the storages; a member or router `server` is a TarantoolServer with its
 * instance `uuid` (null for a router). If anything fails to start or the cluster is not ready in
 * time, everything is stopped and the error shows the servers' output.
 */
async function startCluster({ routers = 1, replicasets = 2, replicas = 1, bucketCount = 300 } = {}) {
  const skip = clusterSkipReason()
  if (skip) throw new Error(skip)
  const modules = modulesDir()
  const perSet = 1 + replicas
  const ports = await freePorts(replicasets * perSet + routers)

  const sets = []
  const sharding = {}
  for (let r = 0; r < replicasets; r++) {
    const set = { uuid: crypto.randomUUID(), ports: ports.slice(r * perSet, (r + 1) * perSet), uuids: [] }
    const rsReplicas = {}
    set.ports.forEach((port, i) => {
      const id = crypto.randomUUID()
      set.uuids.push(id)
      rsReplicas[id] = { uri: `storage:secret@127.0.0.1:${port}`, name: `s${r + 1}-${i === 0 ? 'master' : `replica${i}`}`, master: i === 0 }
    })
    sharding[set.uuid] = { replicas: rsReplicas }
    sets.push(set)
  }

  const tmp = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  const replicasetsOut = sets.map((set, r) => {
    const members = set.ports.map((port, i) => new ClusterMember({
      port,
      dir: tmp('kharon-cluster-s-'),
      script: STORAGE_LUA,
      name: `cluster storage ${sharding[set.uuid].replicas[set.uuids[i]].name}`,
      uuid: set.uuids[i],
      config: {
        modules,
        instance_uuid: set.uuids[i],
        replicaset_uuid: set.uuid,
        master: i === 0,
        bootstrap_leader: `127.0.0.1:${set.ports[0]}`,
        bucket_count: bucketCount,
        sharding,
      },
    }))
    return { uuid: set.uuid, master: members[0], replicas: members.slice(1) }
  })
  const members = replicasetsOut.flatMap((rs) => [rs.master, ...rs.replicas])
  const routerServers = ports.slice(replicasets * perSet).map((port, i) => new ClusterMember({
    port,
    dir: tmp('kharon-cluster-r-'),
    script: ROUTER_LUA,
    name: `cluster router ${i + 1}`,
    config: { modules, bucket_count: bucketCount, sharding, bootstrap: i === 0 },
  }))
  const all = [...members, ...routerServers]
  const storageUuids = members.map((m) => m.uuid)

  const stop = () => Promise.all(all.map((s) => s.stop()))

  /** An Error of `message` followed by the end of every server's output (but `except`'s). */
  const withOutputs = (message, except = null) => new Error([
    message,
    ...all.filter((s) => s !== except)
      .map((s) => `--- the end of ${s.name}'s output (${s.uri}) ---\n${s.output.slice(-OTHERS_OUTPUT)}`),
  ].join('\n'))

  /**
   * Resolves once every router shows the cluster ready (notReady() is null), polling its
   * cluster_status() every 50 ms; fails after `timeout` ms with the last reason of each router.
   */
  async function waitReady({ timeout = READY_TIMEOUT_MS } = {}) {
    const deadline = Date.now() + timeout
    const reasons = routerServers.map(() => 'not asked yet')
    const one = async (server, i) => {
      let conn = null
      try {
        for (;;) {
          try {
            if (conn === null) conn = await connect(uri(server), { reconnect: false, timeout: 5000, connectTimeout: 5000 })
            const [status] = await conn.call('cluster_status')
            reasons[i] = notReady(status, bucketCount, storageUuids)
            if (reasons[i] === null) return
          } catch (err) {
            reasons[i] = `cluster_status() failed: ${err.message}`
            if (conn !== null) conn.destroy()
            conn = null
          }
          if (Date.now() > deadline) {
            throw withOutputs(`cluster not ready within ${timeout} ms: ${routerServers.map((s, j) => `${s.name}: ${reasons[j] ?? 'ready'}`).join('; ')}`)
          }
          await sleep(POLL_MS)
        }
      } finally {
        if (conn !== null) conn.destroy()
      }
    }
    await Promise.all(routerServers.map(one))
  }

  const starting = all.map((s) => s.start().catch((err) => {
    err.server = s
    throw err
  }))
  try {
    await Promise.all(starting)
  } catch (err) {
    await stop()
    await Promise.allSettled(starting)
    throw withOutputs(err.message, err.server)
  }
  try {
    await waitReady()
  } catch (err) {
    await stop()
    throw err
  }

  return {
    routers: routerServers.map((server) => ({ uri: uri(server), port: server.port, server })),
    replicasets: replicasetsOut,
    members,
    bucketCount,
    uri,
    stop,
    /** Kills a member or router server (SIGKILL by default) and waits until it is gone. */
    kill: (server, signal = 'SIGKILL') => server.kill(signal),
    /**
     * Kills a member or router server and starts it again on the same port and data dir;
     * resolves once that server is up (waitReady() for the whole cluster).
     */
    restart: async (server) => {
      await server.kill('SIGKILL')
      return server.start()
    },
    waitReady,
  }
}

module.exports = { startCluster, clusterSkipReason, modulesDir }
