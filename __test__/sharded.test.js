'use strict'

// Client-side vshard routing (lib/sharded.js) on a real cluster (__test__/helpers/cluster.js):
// calls go straight to the replica set of their bucket, agree with the router's, survive
// rebalancing under load and a master's death as vshard's router would.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, connectSharded, ShardingError, ConnectionError, TimeoutError } = require('..')
const { startCluster, clusterSkipReason } = require('./helpers/cluster')
const { rejection, sleep } = require('./helpers/wait')

const TIMEOUT = { timeout: 240000 }
const skip = clusterSkipReason()

// A cluster, a connection to its router, and kharon's own routing over it.
async function openCluster(options) {
  const cluster = await startCluster(options)
  let router
  try {
    router = await connect(cluster.routers[0].uri)
    const sharded = await connectSharded({ router: cluster.routers[0].uri }, { user: 'tester', password: 'secret', reconnect: { initialDelay: 20, maxDelay: 200 }, checkInterval: 100 })
    return { cluster, router, sharded }
  } catch (err) {
    await closeCluster({ cluster, router })
    throw err
  }
}

async function closeCluster({ cluster, router, sharded }) {
  await sharded?.close()
  router?.destroy()
  await cluster?.stop()
}

describe('client-side vshard routing on a real cluster', { ...TIMEOUT, skip }, () => {
  let cluster
  let router
  let sharded
  before(async () => {
    ({ cluster, router, sharded } = await openCluster({ routers: 1 }))
  }, TIMEOUT)
  after(() => closeCluster({ cluster, router, sharded }), TIMEOUT)

  const replicasetUuids = () => cluster.replicasets.map((rs) => rs.uuid)

  test('the topology and the whole bucket map come from the cluster', () => {
    assert.equal(sharded.bucketCount, cluster.bucketCount)
    assert.deepEqual([...sharded.replicasets.keys()].sort(), replicasetUuids().sort())
    const counts = sharded.routes()
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), cluster.bucketCount, 'every bucket is known')
    assert.ok(Object.values(counts).every((n) => n > 0), JSON.stringify(counts))
  })

  test("bucket ids, routes and results equal the router's", async () => {
    for (const key of [1, 42, 'alice', 'bob', [7, 'x'], 2 ** 40]) {
      const [fromRouter] = await router.call('vshard.router.bucket_id_mpcrc32', [key])
      assert.equal(sharded.bucketId(key), fromRouter, `bucket of ${JSON.stringify(key)}`)
    }
    for (let bucket = 1; bucket <= cluster.bucketCount; bucket += 7) {
      const [direct] = await sharded.callRW(bucket, 'where_is', [bucket])
      const [viaRouter] = await router.call('vshard.router.callrw', [bucket, 'where_is', [bucket]])
      assert.deepEqual(direct, viaRouter, `bucket ${bucket}`)
      assert.equal(direct.replicaset, sharded.routeOf(bucket))
      assert.equal(direct.status, 'active')
      assert.equal(direct.ro, false, 'callRW runs on the master')
      const [read] = await sharded.callRO(bucket, 'where_is', [bucket])
      assert.equal(read.replicaset, direct.replicaset)
      assert.equal(read.ro, true, 'callRO runs on a replica')
      const [balanced] = await sharded.callBRO(bucket, 'where_is', [bucket])
      assert.equal(balanced.replicaset, direct.replicaset)
      const [re] = await sharded.callRE(bucket, 'where_is', [bucket])
      assert.equal(re.replicaset, direct.replicaset)
    }
  })

  test('writes by key land on their shard; reads find them', async () => {
    for (let id = 1; id <= 50; id++) await sharded.callRW(sharded.bucketId(id), 'put_customer', [id, sharded.bucketId(id), `c${id}`])
    for (let id = 1; id <= 50; id += 5) {
      const [row] = await sharded.callRW(sharded.bucketId(id), 'get_customer', [id])
      assert.deepEqual(row.slice(0, 3), [id, sharded.bucketId(id), `c${id}`])
    }
  })

  test('mapCallRW runs on every master with refs held; the counts add up', async () => {
    const counts = await sharded.mapCallRW('count_customers', [])
    assert.deepEqual(Object.keys(counts).sort(), replicasetUuids().sort())
    const [total] = await router.call('crud.count', ['customers', null, { fullscan: true }])
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), total)
  })

  test('bad arguments are TypeErrors or RangeErrors, before anything is sent', async () => {
    await assert.rejects(sharded.callRW(0, 'where_is', []), RangeError)
    await assert.rejects(sharded.callRW(cluster.bucketCount + 1, 'where_is', []), RangeError)
    await assert.rejects(sharded.callRW(1, '', []), TypeError)
    await assert.rejects(sharded.callRW(1, 'where_is', 'x'), TypeError)
    await assert.rejects(sharded.mapCallRW(5), TypeError)
    await assert.rejects(connectSharded(null), TypeError)
  })

  test('a function that raises rejects with its error; unknown functions too', async () => {
    const err = await rejection(sharded.callRW(1, 'no_such_function', []))
    assert.ok(!(err instanceof ShardingError) || /no_such_function/.test(err.message), `${err.name}: ${err.message}`)
    assert.match(err.message, /no_such_function/)
  })

  test("a master killed: its replica set's reads go on, its writes fail typed, other replica sets are unaffected", async () => {
    const [a, b] = cluster.replicasets
    const bucketOf = (uuid) => {
      for (let bucket = 1; bucket <= cluster.bucketCount; bucket++) if (sharded.routeOf(bucket) === uuid) return bucket
      throw new Error(`no bucket on ${uuid}`)
    }
    const onA = bucketOf(a.uuid)
    const onB = bucketOf(b.uuid)
    await cluster.kill(b.master)
    try {
      const [read] = await sharded.callRO(onB, 'where_is', [onB], { timeout: 5000 })
      assert.equal(read.replicaset, b.uuid)
      const err = await rejection(sharded.callRW(onB, 'where_is', [onB], { timeout: 1000 }))
      assert.ok(err instanceof TimeoutError || err instanceof ConnectionError || err instanceof ShardingError, `${err.name}: ${err.message}`)
      const [write] = await sharded.callRW(onA, 'where_is', [onA], { timeout: 5000 })
      assert.equal(write.replicaset, a.uuid)
    } finally {
      await b.master.start()
      await cluster.waitReady()
    }
  })

})

// Buckets move here. Each replica set is a master alone: Tarantool 2.6.0 replicas crashed
// (SIGSEGV in lbox_txn_iterator_next, from an on_commit trigger) applying vshard's bucket moves
// in one CI run, which then stalled the move; a cluster without replicas keeps that out of what
// these tests are about (the client's map and retries), on every server alike.
describe('client-side vshard routing while buckets move', { ...TIMEOUT, skip }, () => {
  let cluster
  let router
  let sharded
  before(async () => {
    ({ cluster, router, sharded } = await openCluster({ routers: 1, replicas: 0 }))
  }, TIMEOUT)
  after(() => closeCluster({ cluster, router, sharded }), TIMEOUT)

  const replicasetUuids = () => cluster.replicasets.map((rs) => rs.uuid)

  test('a bucket moved behind the client (bucket_send) is found through WRONG_BUCKET, and the map learns it', async () => {
    await sharded.callRW(sharded.bucketId(3), 'put_customer', [3, sharded.bucketId(3), 'c3'])
    // The bucket of id 3 moved behind the client's back (bucket_send): the map is stale, the
    // old replica set answers WRONG_BUCKET with the new one, and the call goes there.
    const bucket = sharded.bucketId(3)
    const from = sharded.routeOf(bucket)
    const to = replicasetUuids().find((u) => u !== from)
    const source = cluster.replicasets.find((rs) => rs.uuid === from).master
    const c = await connect(cluster.uri(source))
    try {
      const [sent, err] = await c.eval('return vshard.storage.bucket_send(...)', [bucket, to, { timeout: 10 }])
      assert.equal(sent, true, JSON.stringify(err))
    } finally {
      c.destroy()
    }
    assert.equal(sharded.routeOf(bucket), from, 'the map is stale')
    const [row] = await sharded.callRW(bucket, 'get_customer', [3])
    assert.equal(row[0], 3, 'the row moved with its bucket')
    assert.equal(sharded.routeOf(bucket), to, 'the map learned where the bucket went')
  })

  test('rebalancing under load: every call succeeds on the shard that holds its bucket, and the map converges', async () => {
    const uuids = replicasetUuids()
    let running = true
    const failures = []
    let calls = 0
    const load = (async () => {
      for (let i = 0; running; i++) {
        const batch = []
        for (let k = 0; k < 20; k++) {
          const id = 1000 + ((i * 20 + k) % 2000)
          const bucket = sharded.bucketId(id)
          const call = k % 2 === 0
            ? sharded.callRW(bucket, 'put_customer', [id, bucket, 'x'], { timeout: 10000 }).then(([w]) => {
              // Read after the write: a bucket the rebalancer began to send is marked readonly
              // while it waits for the write's ref to go, so the write did run on its owner.
              if (!['active', 'readonly'].includes(w.status) || w.ro) failures.push(`write of bucket ${bucket} ran where it was ${w.status} (ro ${w.ro})`)
            })
            : sharded.callRO(bucket, 'where_is', [bucket], { timeout: 10000 }).then(([w]) => {
              // A read that began while its bucket was readable goes on as the bucket is sent:
              // vshard's garbage collector keeps the data until the read's ref goes.
              if (!['active', 'pinned', 'sending', 'readonly', 'sent'].includes(w.status)) failures.push(`read of bucket ${bucket} ran where it was ${w.status}`)
            })
          batch.push(call.catch((err) => failures.push(`${err.name}: ${err.message}`)))
        }
        await Promise.all(batch)
        calls += batch.length
      }
    })()
    try {
      await sleep(200)
      // Weights 1:3: vshard moves buckets to the second replica set.
      const lua = `local uuid, weight = ...
        local cfg = table.deepcopy(vshard.storage.internal.current_cfg)
        cfg.sharding[uuid].weight = weight
        vshard.storage.cfg(cfg, box.info.uuid)
        vshard.storage.rebalancer_wakeup()`
      for (const member of cluster.members) {
        const c = await connect(cluster.uri(member))
        try {
          await c.eval(lua, [uuids[1], 3])
        } finally {
          c.destroy()
        }
      }
      // Until the rebalancer is done: 1:3 of the buckets, every one active somewhere.
      const target = { [uuids[0]]: cluster.bucketCount / 4, [uuids[1]]: (cluster.bucketCount * 3) / 4 }
      const deadline = Date.now() + 90000
      for (;;) {
        const actual = await bucketsByReplicaset()
        if (actual[uuids[0]] === target[uuids[0]] && actual[uuids[1]] === target[uuids[1]]) break
        assert.ok(Date.now() < deadline, `buckets moved: ${JSON.stringify(actual)}`)
        await sleep(200)
      }
      await sleep(300)
    } finally {
      running = false
      await load
    }
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed or landed wrong`)
    assert.ok(calls > 200, `the load ran (${calls} calls)`)
    await sharded.discover()
    assert.deepEqual(sharded.routes(), await bucketsByReplicaset(), 'the map converged')
    for (let bucket = 1; bucket <= cluster.bucketCount; bucket++) {
      const [where] = await router.call('vshard.router.callro', [bucket, 'where_is', [bucket]])
      assert.equal(sharded.routeOf(bucket), where.replicaset, `bucket ${bucket}: where the router finds it`)
    }
  })

  // { [replicaset uuid]: active buckets } as each master says.
  async function bucketsByReplicaset() {
    const out = {}
    for (const rs of cluster.replicasets) {
      const c = await connect(cluster.uri(rs.master))
      try {
        const [n] = await c.eval("return box.space._bucket.index.status:count({'active'})")
        out[rs.uuid] = n
      } finally {
        c.destroy()
      }
    }
    return out
  }
})
