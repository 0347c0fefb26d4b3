'use strict'

// A real sharded cluster (vshard + crud: two routers, two replica sets of a master and a
// replica) through kharon: the cluster is ready (every bucket writable, crud running on every
// storage), crud's API answers through a router as crud documents it (a result and an error,
// two values), and rows spread over both replica sets. Skips where vshard and crud are missing
// (helpers/cluster.js says how it finds them).

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect } = require('..')
const { startCluster, clusterSkipReason } = require('./helpers/cluster')
const { serverVersion, stopAll } = require('./helpers/tarantool')
const { waitFor } = require('./helpers/wait')

// For the suite and each hook: a cluster is ready in a few seconds; nothing may hang the run.
const TIMEOUT = { timeout: 120000 }
// Every request through kharon: a default timeout, no reconnects.
const CONN = Object.freeze({ timeout: 10000, connectTimeout: 5000, reconnect: false })

after(stopAll, TIMEOUT)

describe('a sharded cluster (vshard + crud)', { skip: clusterSkipReason(), timeout: 180000 }, () => {
  let cluster = null
  let readyMs = 0
  const conns = []
  const open = async (uri) => {
    const c = await connect(uri, CONN)
    conns.push(c)
    return c
  }

  before(async () => {
    const start = Date.now()
    cluster = await startCluster({ routers: 2 })
    readyMs = Date.now() - start
  }, TIMEOUT)

  after(async () => {
    for (const c of conns) c.destroy()
    if (cluster !== null) await cluster.stop()
  }, TIMEOUT)

  test('is ready: every bucket writable, crud running on every storage', async (t) => {
    t.diagnostic(`${serverVersion().text}: 2 routers, 2 replica sets of 2, ready in ${readyMs} ms`)
    assert.equal(cluster.routers.length, 2)
    assert.equal(cluster.replicasets.length, 2)
    assert.equal(cluster.members.length, 4)
    const storageUuids = cluster.members.map((m) => m.uuid).sort()
    for (const router of cluster.routers) {
      const conn = await open(router.uri)
      const [info] = await conn.call('vshard.router.info')
      assert.equal(info.bucket.available_rw, cluster.bucketCount, `${router.uri}: ${JSON.stringify(info.bucket)}`)
      assert.equal(info.bucket.unreachable, 0)
      assert.equal(info.bucket.unknown, 0)
      assert.deepEqual(Object.keys(info.replicasets).sort(), cluster.replicasets.map((rs) => rs.uuid).sort())
      const [storages, err] = await conn.call('crud.storage_info')
      assert.equal(err ?? null, null)
      assert.deepEqual(Object.keys(storages).sort(), storageUuids)
      for (const m of cluster.members) {
        assert.equal(storages[m.uuid].status, 'running', `${m.name}: ${JSON.stringify(storages[m.uuid])}`)
        assert.equal(storages[m.uuid].is_master, cluster.replicasets.some((rs) => rs.master === m), m.name)
      }
    }
  })

  test('crud.insert and crud.get through a router: [result, null], the result { metadata, rows }', async () => {
    const conn = await open(cluster.routers[0].uri)
    const [res, err] = await conn.call('crud.insert', ['customers', [1, null, 'Ann', 30]])
    assert.equal(err, null)
    // the space's format as space:format() gives it: 2.6 leaves out is_nullable, 3.x says false
    assert.deepEqual(res.metadata.map(({ name, type }) => ({ name, type })), [
      { name: 'id', type: 'unsigned' },
      { name: 'bucket_id', type: 'unsigned' },
      { name: 'name', type: 'string' },
      { name: 'age', type: 'number' },
    ])
    assert.equal(res.rows.length, 1)
    const [id, bucketId, name, age] = res.rows[0]
    assert.deepEqual([id, name, age], [1, 'Ann', 30])
    // crud fills bucket_id from the primary key (vshard's strcrc32 of it)
    assert.ok(Number.isInteger(bucketId) && bucketId >= 1 && bucketId <= cluster.bucketCount, `bucket_id ${bucketId}`)

    // through the other router too: the row lives on a storage, not on a router
    const other = await open(cluster.routers[1].uri)
    const [got, getErr] = await other.call('crud.get', ['customers', 1])
    assert.equal(getErr, null)
    assert.deepEqual(got.rows, [[1, bucketId, 'Ann', 30]])
    assert.deepEqual(got.metadata, res.metadata)

    const [missing, missingErr] = await other.call('crud.get', ['customers', 404])
    assert.equal(missingErr, null)
    assert.deepEqual(missing.rows, [])

    const [selected, selectErr] = await conn.call('crud.select', ['customers', [['==', 'name', 'Ann']], { first: 10 }])
    assert.equal(selectErr, null)
    assert.deepEqual(selected.rows, [[1, bucketId, 'Ann', 30]])
  })

  test('a crud error is the second value, an object (errors module): class_name, err, str', async () => {
    const conn = await open(cluster.routers[0].uri)
    await conn.call('crud.insert', ['customers', [2, null, 'Bob', 40]])
    const [res, err] = await conn.call('crud.insert', ['customers', [2, null, 'Bob', 41]])
    assert.equal(res, null)
    assert.equal(err.class_name, 'InsertError')
    assert.match(err.err, /Duplicate key exists/)
    assert.equal(typeof err.str, 'string')
    const [noSpace, noSpaceErr] = await conn.call('crud.get', ['no_such_space', 1])
    assert.equal(noSpace, null)
    assert.equal(noSpaceErr.class_name, 'GetError')
    assert.match(noSpaceErr.err, /no_such_space/)
  })

  test('rows land on both replica sets and reach their replicas', async () => {
    const conn = await open(cluster.routers[1].uri)
    const inserts = []
    for (let id = 1001; id <= 1100; id++) inserts.push(conn.call('crud.insert', ['customers', [id, null, `c${id}`, id % 90]]))
    for (const [res, err] of await Promise.all(inserts)) {
      assert.equal(err, null)
      assert.equal(res.rows.length, 1)
    }
    const counts = []
    for (const rs of cluster.replicasets) {
      const master = await open(cluster.uri(rs.master))
      const [n] = await master.eval('return box.space.customers:len()')
      counts.push(n)
      for (const replica of rs.replicas) {
        const r = await open(cluster.uri(replica))
        await waitFor(async () => (await r.eval('return box.space.customers:len()'))[0] === n, 10000, `${replica.name} has the master's ${n} rows`)
      }
    }
    // 102 rows so far: Ann, Bob and the 100 above, spread by bucket over both sets
    assert.equal(counts.reduce((a, b) => a + b, 0), 102, `rows per replica set: ${counts}`)
    for (const n of counts) assert.ok(n > 0, `rows per replica set: ${counts}`)
  })
})
