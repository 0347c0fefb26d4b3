'use strict'

// The crud API (lib/crud.js) against a real sharded cluster: vshard routers running crud over
// two replica sets (__test__/helpers/cluster.js), on the server TARANTOOL names.

const { test, describe, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')

const { connect, connectPool, crud, Crud, CrudError, TarantoolError, ConnectionError, TimeoutError } = require('..')
const { startCluster, clusterSkipReason } = require('./helpers/cluster')
const { rejection, sleep } = require('./helpers/wait')

const TIMEOUT = { timeout: 180000 }
const skip = clusterSkipReason()

describe('crud over a real sharded cluster', { ...TIMEOUT, skip }, () => {
  let cluster
  let conn
  let c
  before(async () => {
    cluster = await startCluster({ routers: 2 })
    conn = await connect(cluster.routers[0].uri)
    c = crud(conn)
  }, TIMEOUT)
  after(async () => {
    conn?.destroy()
    await cluster?.stop()
  }, TIMEOUT)
  beforeEach(() => c.truncate('customers'))

  // Replication is asynchronous: reads from replicas see a write once this has waited for it.
  async function replicated() {
    for (const rs of cluster.replicasets) {
      const [master, replica] = await Promise.all([rs.master, rs.replicas[0]].map((m) => connect(cluster.uri(m))))
      try {
        const [expected] = await master.eval('return box.info.vclock[box.info.id] or 0')
        const [masterId] = await master.eval('return box.info.id')
        for (const deadline = Date.now() + 10000; ;) {
          const [has] = await replica.eval('return box.info.vclock[...] or 0', [masterId])
          if (has >= expected) break
          assert.ok(Date.now() < deadline, `the replica of ${rs.master.name} is at ${has}, its master at ${expected}`)
          await sleep(20)
        }
      } finally {
        master.destroy()
        replica.destroy()
      }
    }
  }

  // Rows of `n` customers, ids from 1; bucket_id null: crud computes it from the primary key.
  const customers = (n, from = 1) => Array.from({ length: n }, (_, i) => [from + i, null, `name-${from + i}`, 20 + ((from + i) % 50)])

  test('insert, get, replace, update, upsert, delete: rows with their metadata', async () => {
    const inserted = await c.insert('customers', [1, null, 'Ann', 30])
    assert.equal(inserted.rows.length, 1)
    const [id, bucketId, name, age] = inserted.rows[0]
    assert.deepEqual([id, name, age], [1, 'Ann', 30])
    assert.ok(Number.isInteger(bucketId) && bucketId >= 1 && bucketId <= cluster.bucketCount, `bucket_id ${bucketId}`)
    assert.deepEqual(inserted.metadata.map((f) => [f.name, f.type]), [['id', 'unsigned'], ['bucket_id', 'unsigned'], ['name', 'string'], ['age', 'number']])
    assert.deepEqual((await c.get('customers', 1)).rows, inserted.rows)
    assert.deepEqual((await c.get('customers', 99)).rows, [], 'no such key: no rows, no error')
    assert.deepEqual((await c.replace('customers', [1, null, 'Ann B', 31])).rows[0].slice(2), ['Ann B', 31])
    assert.deepEqual((await c.update('customers', 1, [['+', 'age', 1]])).rows[0][3], 32)
    assert.deepEqual((await c.upsert('customers', [2, null, 'Bob', 40], [['+', 'age', 1]])).rows, [], 'upsert returns no rows')
    await c.upsert('customers', [2, null, 'Bob', 40], [['+', 'age', 1]])
    assert.equal((await c.get('customers', 2)).rows[0][3], 41)
    assert.deepEqual((await c.delete('customers', 2)).rows[0].slice(2), ['Bob', 41])
    assert.deepEqual((await c.get('customers', 2)).rows, [])
  })

  test("objects in and out: *Object methods take objects; tuples: 'objects' shapes rows by crud's metadata", async () => {
    const objects = crud(conn, { tuples: 'objects' })
    const ann = await objects.insertObject('customers', { id: 1, name: 'Ann', age: 30 })
    assert.deepEqual(ann.rows, [{ id: 1, bucket_id: ann.rows[0].bucket_id, name: 'Ann', age: 30 }])
    await objects.replaceObject('customers', { id: 1, name: 'Ann', age: 33 })
    await objects.upsertObject('customers', { id: 2, name: 'Bob', age: 40 }, [['+', 'age', 1]])
    const [bob] = (await objects.get('customers', 2)).rows
    assert.equal(bob.name, 'Bob')
    // per request, either way
    assert.ok(Array.isArray((await objects.get('customers', 1, { tuples: 'arrays' })).rows[0]))
    assert.equal((await c.get('customers', 1, { tuples: 'objects' })).rows[0].age, 33)
    // a connection made with tuples: 'objects' gives crud its default
    const objectConn = await connect(cluster.routers[0].uri, { tuples: 'objects' })
    try {
      assert.equal((await crud(objectConn).get('customers', 1)).rows[0].name, 'Ann')
    } finally {
      objectConn.destroy()
    }
  })

  test('insertMany with one duplicate: it rejects with every error and the rows that did go in', async () => {
    await c.insert('customers', [3, null, 'Old', 50])
    const err = await rejection(c.insertMany('customers', customers(5)))
    assert.ok(err instanceof CrudError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ERR_CRUD')
    assert.equal(err.errors.length, 1)
    const [dup] = err.errors
    assert.ok(dup instanceof CrudError)
    assert.match(dup.message, /Duplicate key/)
    assert.deepEqual(dup.operationData.slice(0, 3), [3, dup.operationData[1], 'name-3'], 'the tuple that failed')
    assert.deepEqual(err.result.rows.map((r) => r[0]).sort(), [1, 2, 4, 5], 'the others went in')
    assert.equal(await c.len('customers'), 5)
    // objects, and every error when several fail
    const objectsErr = await rejection(c.insertObjectMany('customers', [{ id: 1, name: 'x', age: 1 }, { id: 6, name: 'y', age: 2 }, { id: 2, name: 'z', age: 3 }]))
    assert.equal(objectsErr.errors.length, 2)
    assert.deepEqual(objectsErr.result.rows.map((r) => r[0]), [6])
    // all in: the result itself
    const ok = await c.replaceMany('customers', customers(3, 100))
    assert.deepEqual(ok.rows.map((r) => r[0]).sort((a, b) => a - b), [100, 101, 102])
    const none = await c.insertMany('customers', customers(2, 200), { noreturn: true })
    assert.equal(none, null, 'noreturn: no rows back')
    await c.upsertMany('customers', [[[300, null, 'u', 1], [['+', 'age', 1]]], [[301, null, 'v', 1], [['+', 'age', 1]]]])
    await c.upsertObjectMany('customers', [[{ id: 300, name: 'u', age: 1 }, [['+', 'age', 1]]]])
    assert.equal((await c.get('customers', 300)).rows[0][3], 2)
    await c.replaceObjectMany('customers', [{ id: 302, name: 'w', age: 9 }])
    assert.equal((await c.get('customers', 302)).rows[0][2], 'w')
  })

  test('stopOnError and rollbackOnError: the storage that met the error keeps none of the batch', async () => {
    await c.insert('customers', [5, null, 'Old', 50])
    const err = await rejection(c.insertMany('customers', customers(10), { stopOnError: true, rollbackOnError: true }))
    assert.ok(err instanceof CrudError)
    assert.ok(err.errors.some((e) => /Duplicate key/.test(e.message)), err.errors.map((e) => e.message).join('; '))
    // The storage holding id 5 rolled back its part of the batch: it has only the old row.
    for (const rs of cluster.replicasets) {
      const direct = await connect(cluster.uri(rs.master))
      try {
        const ids = (await direct.select('customers', 'primary', [], { iterator: 'ALL' })).map((r) => r[0])
        if (ids.includes(5)) assert.deepEqual(ids, [5], 'the failing storage kept nothing of the batch')
      } finally {
        direct.destroy()
      }
    }
    const kept = err.result === null ? [] : err.result.rows.map((r) => r[0])
    assert.ok(!kept.includes(5))
  })

  test('rows spread over both replica sets; get finds each one on its shard', async () => {
    const rows = (await c.insertMany('customers', customers(60))).rows
    const byStorage = []
    for (const rs of cluster.replicasets) {
      const direct = await connect(cluster.uri(rs.master))
      try {
        byStorage.push(await direct.select('customers', 'primary', [], { iterator: 'ALL' }))
      } finally {
        direct.destroy()
      }
    }
    assert.ok(byStorage.every((part) => part.length > 0), `both replica sets hold rows: ${byStorage.map((p) => p.length)}`)
    assert.equal(byStorage[0].length + byStorage[1].length, 60)
    for (const part of byStorage) {
      const [row] = part
      assert.deepEqual((await c.get('customers', row[0])).rows, [row])
      assert.deepEqual((await c.get('customers', row[0], { bucketId: row[1] })).rows, [row], 'bucketId goes as bucket_id')
    }
    assert.equal(rows.length, 60)
  })

  test('select, count, len, min, max with conditions and options; pairs over 1,000 rows equals select', async () => {
    await c.insertMany('customers', customers(1000))
    const all = await c.select('customers', null, { fullscan: true })
    assert.equal(all.rows.length, 1000)
    const old = await c.select('customers', [['>=', 'age', 60]], { fullscan: true })
    assert.ok(old.rows.length > 0 && old.rows.every((r) => r[3] >= 60))
    assert.equal(await c.count('customers', [['>=', 'age', 60]], { fullscan: true }), old.rows.length)
    assert.equal(await c.len('customers'), 1000)
    const first = await c.select('customers', [['>', 'id', 10]], { first: 5 })
    assert.deepEqual(first.rows.map((r) => r[0]), [11, 12, 13, 14, 15])
    const next = await c.select('customers', [['>', 'id', 10]], { first: 5, after: first.rows.at(-1) })
    assert.deepEqual(next.rows.map((r) => r[0]), [16, 17, 18, 19, 20])
    const named = await c.select('customers', [['==', 'id', 7]], { fields: ['id', 'name'] })
    assert.deepEqual(named.rows, [[7, 'name-7']])
    assert.deepEqual(named.metadata.map((f) => f.name), ['id', 'name'])
    assert.equal((await c.min('customers', 'primary')).rows[0][0], 1)
    assert.equal((await c.max('customers', 'primary')).rows[0][0], 1000)
    assert.equal((await c.max('customers')).rows[0][0], 1000, 'the primary index by default')
    await replicated()
    const read = await c.select('customers', [['==', 'id', 7]], { mode: 'read', preferReplica: true, balance: true, fetchLatestMetadata: true })
    assert.deepEqual(read.rows.map((r) => r[0]), [7])

    const paged = []
    for await (const row of c.pairs('customers', null, { batchSize: 64 })) paged.push(row)
    assert.equal(paged.length, 1000)
    const sortById = (rows) => [...rows].sort((a, b) => a[0] - b[0])
    assert.deepEqual(sortById(paged), sortById(all.rows))
    const some = []
    for await (const row of c.pairs('customers', [['>=', 'id', 500]], { batchSize: 10, tuples: 'objects' })) {
      some.push(row)
      if (some.length === 25) break
    }
    assert.deepEqual(some.map((r) => r.id), Array.from({ length: 25 }, (_, i) => 500 + i))
  })

  test('errors: what crud returns is a CrudError; an option crud refuses is the server raising it', async () => {
    const missing = await rejection(c.get('no_such_space', 1))
    assert.ok(missing instanceof CrudError, `${missing.name}: ${missing.message}`)
    assert.equal(missing.className, 'GetError')
    assert.match(missing.message, /no_such_space/)
    const bad = await rejection(c.get('customers', 1, { noSuchOption: true }))
    assert.ok(bad instanceof TarantoolError && !(bad instanceof CrudError), `${bad.name}: ${bad.message}`)
    assert.match(bad.message, /no_such_option/)
    // select checks its options inside and returns what fails as its own error
    const badType = await rejection(c.select('customers', null, { first: 'ten' }))
    assert.ok(badType instanceof CrudError)
    assert.equal(badType.className, 'SelectError')
    assert.match(badType.message, /bad argument opts\.first/)
    await assert.rejects(c.insertMany('customers', 'not an array'), TypeError)
    await assert.rejects(c.get('customers', 1, 'opts'), TypeError)
    assert.throws(() => crud(null), TypeError)
    assert.throws(() => new Crud(conn, { tuples: 'rows' }), TypeError)
  })

  test('timeout and signal as on every kharon request; the timeout also bounds crud on the router', async () => {
    const started = performance.now()
    await c.insert('customers', [1, null, 'Ann', 30], { timeout: 2000 })
    const aborted = await rejection(c.get('customers', 1, { signal: AbortSignal.abort() }))
    assert.equal(aborted.code, 'ABORT_ERR')
    await assert.rejects(c.get('customers', 1, { timeout: -1 }), RangeError)
    assert.ok(performance.now() - started < 10000)
  })

  test('storageInfo, schema, stats, truncate', async () => {
    const info = await c.storageInfo()
    const statuses = Object.values(info)
    assert.equal(statuses.length, cluster.members.length)
    assert.ok(statuses.every((s) => s.status === 'running'), JSON.stringify(info))
    const schema = await c.schema('customers')
    assert.deepEqual(schema.format.map((f) => f.name), ['id', 'bucket_id', 'name', 'age'])
    const every = await c.schema()
    assert.ok(every.customers !== undefined)
    assert.equal(typeof (await c.stats()), 'object')
    await c.insert('customers', [1, null, 'Ann', 30])
    assert.equal(await c.truncate('customers'), undefined)
    assert.equal(await c.len('customers'), 0)
  })

  test("mode: 'read' with preferReplica still serves with one master SIGKILLed", async () => {
    await c.insertMany('customers', customers(40))
    await replicated()
    const rs = cluster.replicasets[1]
    await cluster.kill(rs.master)
    try {
      const found = []
      for (let id = 1; id <= 40; id++) found.push(...(await c.get('customers', id, { mode: 'read', preferReplica: true, timeout: 5000 })).rows)
      assert.equal(found.length, 40, 'every row, from the replica where the master is gone')
    } finally {
      await rs.master.start()
      await cluster.waitReady()
    }
  })

  test('a pool of routers: a router killed under a steady load costs only what was in flight on it', async () => {
    const pool = await connectPool(cluster.routers.map((r) => r.uri), { reconnect: { initialDelay: 50, maxDelay: 200 }, checkInterval: 100 })
    const p = crud(pool)
    try {
      let running = true
      const outcomes = []
      const load = (async () => {
        for (let i = 0; running; i++) {
          const batch = Array.from({ length: 20 }, (_, k) => p.replace('customers', [1 + ((i * 20 + k) % 500), null, 'n', k], { timeout: 5000 })
            .then(() => 'ok', (err) => err))
          outcomes.push(...(await Promise.all(batch)))
        }
      })()
      await sleep(300)
      const killedAt = outcomes.length
      await cluster.kill(cluster.routers[0].server)
      await sleep(1000)
      const afterKill = outcomes.length
      await sleep(500)
      running = false
      await load
      const failed = outcomes.filter((o) => o !== 'ok')
      for (const err of failed) assert.ok(err instanceof ConnectionError || err instanceof TimeoutError, `typed: ${err}`)
      assert.ok(failed.length <= 40, `only what was in flight failed (${failed.length})`)
      assert.ok(outcomes.slice(afterKill).every((o) => o === 'ok'), 'later requests went to the other router')
      assert.ok(outcomes.length > killedAt + 100, 'the load went on')
    } finally {
      await pool.close()
      await cluster.routers[0].server.start()
    }
  })
})

describe('crud without a cluster', () => {
  test('crud() checks what it is given', () => {
    assert.throws(() => crud(), TypeError)
    assert.throws(() => crud({}), TypeError)
  })
})
