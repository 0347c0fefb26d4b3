'use strict'

// Client-side vshard routing: each call goes straight to the replica set that holds its bucket,
// as vshard's own router would send it, with no router process in between. A pool per replica
// set (roles followed as kharon's pool follows them), a bucket map learned from the storages
// (vshard.storage.buckets_discovery, paged) and corrected by their answers: WRONG_BUCKET moves
// a bucket in the map and the call is retried there; a bucket in transfer, locked, or a master
// that moved waits briefly and is retried; all within the call's own timeout.

const { connectPool } = require('./pool')
const { connect } = require('./client')
const { ConnectionError, ShardingError, TimeoutError, abortError } = require('./errors')
const { requestOptions } = require('./request-methods')
const { bucketIdMpcrc32, bucketIdStrcrc32 } = require('./bucket-id')
const { checkNumber, checkFunction, describe, MILLISECONDS } = require('./args')

// vshard's error codes (vshard/error.lua) that a retry can get past.
const WRONG_BUCKET = 1
const NON_MASTER = 2
const TRANSFER_IS_IN_PROGRESS = 7
const NO_ROUTE_TO_BUCKET = 9
const BUCKET_IS_LOCKED = 22
const UNKNOWN_BUCKETS = 18
const RETRY_AFTER = new Set([NON_MASTER, TRANSFER_IS_IN_PROGRESS, BUCKET_IS_LOCKED])
const RETRY_DELAY_MS = 10
const DEFAULT_TIMEOUT = 10000
const DEFAULT_DISCOVERY_INTERVAL = 10000
const DISCOVERY_PAGE = 1000

/**
 * Connects to every replica set of a vshard cluster and learns where its buckets are.
 * `topology`: `{ replicasets: { [uuid]: [uri, ...] }, bucketCount }`, as vshard's sharding
 * config names them, or `{ router: uri }` to read both once from a vshard router. Other options
 * go to each replica set's pool (user, password, reconnect, heartbeat, ...), plus
 * `discoveryInterval` (ms, default 10000) between background rediscoveries.
 */
async function connectSharded(topology, options = {}) {
  if (topology === null || typeof topology !== 'object') throw new TypeError('connectSharded() takes { replicasets, bucketCount } or { router }')
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const { replicasets, bucketCount } = topology.router !== undefined ? await topologyOf(topology.router, options) : topology
  if (replicasets === null || typeof replicasets !== 'object' || Object.keys(replicasets).length === 0) {
    throw new TypeError('replicasets must map each replica set uuid to its URIs')
  }
  checkNumber(bucketCount, 'bucketCount', { min: 1, max: 0xffffffff, integer: true })
  const { discoveryInterval = DEFAULT_DISCOVERY_INTERVAL, ...poolOptions } = options
  checkNumber(discoveryInterval, 'discoveryInterval', { ...MILLISECONDS, min: 1 })
  const pools = new Map()
  try {
    for (const [uuid, uris] of Object.entries(replicasets)) {
      if (!Array.isArray(uris) || uris.length === 0) throw new TypeError(`replica set ${uuid}: an array of URIs`)
      pools.set(uuid, await connectPool(uris, poolOptions))
    }
  } catch (err) {
    await Promise.all([...pools.values()].map((p) => p.close()))
    throw err
  }
  const cluster = new ShardedCluster(pools, bucketCount, discoveryInterval)
  await cluster.discover()
  return cluster
}

// The topology a router was configured with: its replica sets' URIs and the bucket count.
async function topologyOf(routerUri, options) {
  const router = await connect(routerUri, { ...options, reconnect: false, fetchSchema: false })
  try {
    const [replicasets, bucketCount] = await router.eval(`local out = {}
      for uuid, rs in pairs(vshard.router.static.replicasets) do
        local uris = {}
        for _, r in pairs(rs.replicas) do table.insert(uris, r.uri) end
        out[uuid] = uris
      end
      return out, vshard.router.static.total_bucket_count`)
    return { replicasets, bucketCount }
  } finally {
    router.destroy()
  }
}

class ShardedCluster {
  #pools
  #bucketCount
  // The replica set uuid of each bucket (index: bucket id), undefined while unknown.
  #routes
  #discovering = null
  #timer
  #closed = false

  constructor(pools, bucketCount, discoveryInterval) {
    this.#pools = pools
    this.#bucketCount = bucketCount
    this.#routes = new Array(bucketCount + 1)
    this.#timer = setInterval(() => this.discover().catch(() => {}), discoveryInterval)
    this.#timer.unref()
  }

  get bucketCount() {
    return this.#bucketCount
  }

  /** The replica sets by uuid, each a Pool. */
  get replicasets() {
    return new Map(this.#pools)
  }

  /** The bucket of `key` as vshard.router.bucket_id_mpcrc32 computes it (the recommended hash). */
  bucketId(key) {
    return bucketIdMpcrc32(key, this.#bucketCount)
  }

  /** As vshard.router.bucket_id_strcrc32 (the older hash). */
  bucketIdStrcrc32(key) {
    return bucketIdStrcrc32(key, this.#bucketCount)
  }

  /** The replica set uuid the map routes `bucketId` to, or undefined while unknown. */
  routeOf(bucketId) {
    return this.#routes[bucketId]
  }

  /** How many buckets each replica set holds, as the map knows: { [uuid]: count }. */
  routes() {
    const counts = Object.fromEntries([...this.#pools.keys()].map((uuid) => [uuid, 0]))
    for (let b = 1; b <= this.#bucketCount; b++) if (this.#routes[b] !== undefined) counts[this.#routes[b]]++
    return counts
  }

  /** Learns the bucket map from every replica set (joins a discovery under way). */
  discover() {
    if (this.#discovering === null) {
      this.#discovering = Promise.all([...this.#pools].map(([uuid, pool]) => this.#discoverOne(uuid, pool)))
        .finally(() => { this.#discovering = null })
    }
    return this.#discovering
  }

  async #discoverOne(uuid, pool) {
    let from = 1
    for (;;) {
      // From the master while it is up: a replica may not have received its _bucket yet.
      const [page] = await pool.call('vshard.storage.buckets_discovery', [{ from }], { mode: 'prefer-rw', timeout: DEFAULT_TIMEOUT })
      for (const bucket of page?.buckets ?? []) this.#routes[bucket] = uuid
      if (page?.next_from === undefined || page.next_from === null || page.next_from > this.#bucketCount) return
      from = page.next_from
    }
  }

  /** Calls `fn(...args)` on the master of the replica set holding `bucketId` (vshard's callrw). */
  callRW(bucketId, fn, args, opts) {
    return this.#call(bucketId, 'write', 'rw', fn, args, opts)
  }

  /** On a replica of it, or the master when no replica is up (vshard's callro). */
  callRO(bucketId, fn, args, opts) {
    return this.#call(bucketId, 'read', 'prefer-ro', fn, args, opts)
  }

  /** On any of its instances, balanced (vshard's callbro). */
  callBRO(bucketId, fn, args, opts) {
    return this.#call(bucketId, 'read', 'any', fn, args, opts)
  }

  /** On a replica, the master only when no replica is up (vshard's callre). */
  callRE(bucketId, fn, args, opts) {
    return this.#call(bucketId, 'read', 'prefer-ro', fn, args, opts)
  }

  async #call(bucketId, access, mode, fn, args = [], opts) {
    const o = requestOptions(opts)
    checkNumber(bucketId, 'bucketId', { min: 1, max: this.#bucketCount, integer: true })
    if (typeof fn !== 'string' || fn === '') throw new TypeError('the function name must be a non-empty string')
    if (!Array.isArray(args)) throw new TypeError(`args must be an array, got ${describe(args)}`)
    if (o.onPush !== undefined) checkFunction(o.onPush, 'onPush')
    if (this.#closed) throw new ConnectionError('the sharded cluster is closed', 'ERR_CONNECTION_CLOSED')
    const timeout = o.timeout ?? DEFAULT_TIMEOUT
    const deadline = performance.now() + timeout
    let last = null
    for (;;) {
      if (o.signal?.aborted) throw abortError(o.signal)
      const left = Math.round(deadline - performance.now())
      if (left <= 0) {
        throw new TimeoutError(`vshard call ${fn} on bucket ${bucketId} timed out after ${timeout} ms${last === null ? '' : ` (last: ${last.message})`}`)
      }
      let uuid = this.#routes[bucketId]
      if (uuid === undefined) {
        await this.discover()
        uuid = this.#routes[bucketId]
        if (uuid === undefined) {
          last = shardingError({ code: NO_ROUTE_TO_BUCKET, name: 'NO_ROUTE_TO_BUCKET', message: `Bucket ${bucketId} cannot be found. Is rebalancing in progress?`, bucket_id: bucketId })
          await sleep(RETRY_DELAY_MS)
          continue
        }
      }
      const pool = this.#pools.get(uuid)
      const reply = await pool.call('vshard.storage.call', [bucketId, access, fn, args], { ...o, mode, timeout: left })
      if (reply[0] === true) return reply.slice(1)
      const err = reply[1]
      if (err === null || typeof err !== 'object' || err.type !== 'ShardingError') throw serverError(err, fn)
      last = shardingError(err)
      if (err.code === WRONG_BUCKET && typeof err.destination === 'string' && this.#pools.has(err.destination)) {
        this.#routes[bucketId] = err.destination
        continue
      }
      if (err.code === WRONG_BUCKET) {
        this.#routes[bucketId] = undefined
        continue
      }
      if (RETRY_AFTER.has(err.code)) {
        if (err.code === TRANSFER_IS_IN_PROGRESS && this.#pools.has(err.destination)) this.#routes[bucketId] = err.destination
        await sleep(RETRY_DELAY_MS)
        continue
      }
      throw last
    }
  }

  /**
   * Calls `fn(...args)` on the master of every replica set, with vshard's storage refs held so
   * that no bucket moves meanwhile (vshard.router.map_callrw): `{ [uuid]: the function's first
   * value }`. Rejects with the first failure, after letting go of every ref.
   */
  async mapCallRW(fn, args = [], opts) {
    const o = requestOptions(opts)
    if (typeof fn !== 'string' || fn === '') throw new TypeError('the function name must be a non-empty string')
    if (!Array.isArray(args)) throw new TypeError(`args must be an array, got ${describe(args)}`)
    const timeout = o.timeout ?? DEFAULT_TIMEOUT
    const deadline = performance.now() + timeout
    const rid = nextRefId++
    const pools = [...this.#pools]
    const left = () => Math.max(1, Math.round(deadline - performance.now()))
    const onMaster = (pool, name, callArgs) => pool.call('vshard.storage._call', [name, ...callArgs], { mode: 'rw', timeout: left(), signal: o.signal })
    try {
      const counts = await Promise.all(pools.map(([, pool]) => onMaster(pool, 'storage_ref', [rid, left() / 1000])))
      let buckets = 0
      for (const [count, err] of counts) {
        if (count === null || count === undefined) throw serverError(err, 'storage_ref')
        buckets += count
      }
      if (buckets !== this.#bucketCount) {
        throw shardingError({ code: UNKNOWN_BUCKETS, name: 'UNKNOWN_BUCKETS', message: `the replica sets hold ${buckets} of ${this.#bucketCount} buckets (is rebalancing under way?)` })
      }
      const results = await Promise.all(pools.map(([, pool]) => onMaster(pool, 'storage_map', [rid, fn, args])))
      const out = {}
      results.forEach(([ok, value], i) => {
        if (ok !== true) throw serverError(value, fn)
        out[pools[i][0]] = value
      })
      return out
    } catch (err) {
      // Refs that were taken are let go of (storage_map drops its own when it ran).
      await Promise.all(pools.map(([, pool]) => onMaster(pool, 'storage_unref', [rid]).catch(() => {})))
      throw err
    }
  }

  async close() {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    await Promise.all([...this.#pools.values()].map((p) => p.close()))
  }

  [Symbol.asyncDispose]() {
    return this.close()
  }
}

let nextRefId = 1

function shardingError(e) {
  return new ShardingError(typeof e.message === 'string' ? e.message : String(e.name), {
    vshardCode: e.code, vshardName: e.name, bucketId: e.bucket_id, destination: e.destination,
  })
}

// What a storage function raised, as vshard hands it back: a TarantoolError already (an error
// object decoded from MP_ERROR), or vshard's table of one.
function serverError(err, fn) {
  if (err instanceof Error) return err
  if (err !== null && typeof err === 'object' && err.type === 'ShardingError') return shardingError(err)
  const message = err !== null && typeof err === 'object' && typeof err.message === 'string' ? err.message : String(err)
  return new ShardingError(`${fn}: ${message}`, { vshardName: err?.type ?? 'Error' })
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

module.exports = { connectSharded, ShardedCluster }
