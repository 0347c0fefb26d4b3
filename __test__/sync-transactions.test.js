'use strict'

// Synchronous transactions (the is_sync feature, Tarantool 3.2+): `isSync: true` on begin() or
// commit() puts IPROTO_IS_SYNC in BEGIN or COMMIT, and the commit then waits for a quorum of
// replicas, whatever its spaces. Against the harness's server: the argument checks, the refusal
// on servers without the feature, and what goes on the wire. On 3.2+, a replica set under
// synchronous replication (quorum 2: the master and its one replica): with the replica up a
// synchronous commit resolves once the replica has the rows; with it frozen (SIGSTOP) the
// commit fails after replication_synchro_timeout, while a plain one goes through.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')

const { connect, connectPool, UnsupportedError } = require('..')
const { startTarantool, atLeast } = require('./helpers/tarantool')
const { startReplicaSet } = require('./helpers/replicaset')
const { packets } = require('./helpers/msgpack')
const { rejection, waitFor } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }
const SET_TIMEOUT = { timeout: 150000 } // a replica set's bootstrap
const BEGIN = 14
const COMMIT = 15
const IS_SYNC = 0x61
const ER_SYNC_QUORUM_TIMEOUT = 216
const SYNCHRO_TIMEOUT_S = 1
const HAS_IS_SYNC = atLeast(3, 2)
const NEEDS_IS_SYNC = 'needs is_sync (3.2+)'

/**
 * A TCP proxy to `port` that keeps every byte its clients send: `frames()` decodes them into
 * `[type, streamId, body]` (body undefined when the request has none).
 */
async function startRecorder(port) {
  const sockets = new Set()
  let sent = Buffer.alloc(0)
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy() })
    }
    client.on('data', (d) => {
      sent = Buffer.concat([sent, d])
      upstream.write(d)
    })
    upstream.on('data', (d) => client.write(d))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    frames: () => packets(sent).map((p) => [p.header[0], p.header[0x0a], p.body]),
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('isSync on this server', TIMEOUT, () => {
  let server
  let recorder
  let conn
  let pool
  before(async () => {
    server = await startTarantool()
    recorder = await startRecorder(server.port)
    conn = await connect(`tester:secret@127.0.0.1:${recorder.port}`)
    pool = await connectPool([`tester:secret@127.0.0.1:${server.port}`], { checkInterval: 100 })
    await conn.eval("box.schema.space.create('accounts', {if_not_exists = true}):create_index('pk', {if_not_exists = true})")
  }, TIMEOUT)
  after(async () => {
    if (conn) conn.destroy()
    if (pool) await pool.close()
    if (recorder) await recorder.close()
    if (server) await server.stop()
  }, TIMEOUT)

  const sentSince = (n) => recorder.frames().slice(n)

  test('isSync other than a boolean is a TypeError, before anything is sent', async () => {
    const s = conn.stream()
    const before = recorder.frames().length
    let called = false
    const fn = async () => { called = true }
    for (const attempt of [
      () => s.begin({ isSync: 1 }),
      () => s.begin({ isSync: 'true', isolation: 'read-committed' }),
      () => s.commit({ isSync: null }),
      () => conn.begin({ isSync: 0 }),
      () => conn.transaction(fn, { isSync: 'yes' }),
      () => pool.transaction(fn, { isSync: {} }),
    ]) {
      const err = await rejection(attempt)
      assert.ok(err instanceof TypeError, err.stack)
      assert.match(err.message, /isSync must be a boolean/)
    }
    assert.equal(called, false)
    assert.deepEqual(sentSince(before), [])
  })

  test(`is_sync: ERR_UNSUPPORTED naming it before 3.2, before anything is sent (3.2+: the server has it)`, async () => {
    const has = conn.protocol.features.includes('is_sync')
    assert.equal(has, HAS_IS_SYNC, `the server ${has ? 'has' : 'lacks'} is_sync`)
    if (has) {
      // IPROTO version 9 brought the feature.
      assert.ok(conn.protocol.version >= 9, `IPROTO version ${conn.protocol.version}`)
      return
    }
    const s = conn.stream()
    const before = recorder.frames().length
    let called = false
    const fn = async () => { called = true }
    for (const [attempt, what] of [
      [() => s.begin({ isSync: true }), 'begin({ isSync: true })'],
      [() => s.commit({ isSync: true }), 'commit({ isSync: true })'],
      [() => conn.begin({ isSync: true, isolation: 'read-committed' }), 'begin({ isSync: true })'],
      [() => conn.transaction(fn, { isSync: true }), 'begin({ isSync: true })'],
      [() => pool.transaction(fn, { isSync: true, mode: 'rw' }), 'begin({ isSync: true })'],
    ]) {
      const err = await rejection(attempt)
      assert.ok(err instanceof UnsupportedError, err.stack)
      assert.equal(err.code, 'ERR_UNSUPPORTED')
      assert.equal(err.feature, 'is_sync')
      assert.equal(err.serverVersion, conn.transport.serverVersion)
      assert.ok(err.message.startsWith(`${what} needs the 'is_sync' feature`), err.message)
    }
    assert.equal(called, false)
    assert.deepEqual(sentSince(before), [])
  })

  test('isSync: false sends nothing extra, and needs no is_sync', async () => {
    const s = conn.stream()
    const before = recorder.frames().length
    if (!conn.protocol.features.includes('transactions')) {
      // Before 2.10 the refusal is the one plain transactions get.
      for (const attempt of [() => s.begin({ isSync: false }), () => s.commit({ isSync: false })]) {
        assert.equal((await rejection(attempt)).feature, 'transactions')
      }
      assert.deepEqual(sentSince(before), [])
      return
    }
    await s.begin({ isSync: false })
    await s.replace('accounts', [1, 'plain'])
    await s.commit({ isSync: false })
    await conn.transaction((tx) => tx.replace('accounts', [2, 'plain']), { isSync: false })
    const txn = sentSince(before).filter(([type]) => type === BEGIN || type === COMMIT)
    assert.equal(txn.length, 4)
    for (const [, , body] of txn) assert.equal(body, undefined, 'BEGIN and COMMIT without a body')
    assert.deepEqual(await conn.select('accounts', 0, [], { iterator: 'ALL' }), [[1, 'plain'], [2, 'plain']])
  })
})

describe('synchronous transactions on a replica set (quorum 2)', SET_TIMEOUT, () => {
  let rs
  let recorder
  let master // through the recorder
  let replica
  let pool
  before(async () => {
    if (!HAS_IS_SYNC) return
    rs = await startReplicaSet({
      replicas: 1,
      cfg: {
        memtx_use_mvcc_engine: true, // streams' transactions
        replication_synchro_quorum: 2,
        replication_synchro_timeout: SYNCHRO_TIMEOUT_S,
      },
    })
    recorder = await startRecorder(rs.master.port)
    master = await connect(`tester:secret@127.0.0.1:${recorder.port}`)
    replica = await connect(`tester:secret@${rs.replicas[0].uri}`)
    // The master takes the synchronous queue: without an owner no transaction can be synchronous.
    await master.eval('box.ctl.promote() assert(box.info.synchro.queue.owner == box.info.id)')
    assert.deepEqual(await master.eval('return box.space.test.is_sync'), [false], 'an asynchronous space')
    pool = await connectPool(rs.members.map((m) => `tester:secret@${m.uri}`), { checkInterval: 100 })
  }, SET_TIMEOUT)
  after(async () => {
    if (rs) rs.replicas[0].proc?.kill('SIGCONT')
    if (master) master.destroy()
    if (replica) replica.destroy()
    if (pool) await pool.close()
    if (recorder) await recorder.close()
    if (rs) await rs.stop()
  }, SET_TIMEOUT)

  /** Whether the replica has written row `id` of space test (read-committed: confirmed or not). */
  async function onReplica(id) {
    const tx = await replica.begin({ isolation: 'read-committed' })
    try {
      return (await tx.select('test', 0, [id])).length === 1
    } finally {
      await tx.rollback()
    }
  }

  test('with the replica up: a synchronous commit resolves once the replica has the rows; IS_SYNC on the wire', async (t) => {
    if (!HAS_IS_SYNC) return t.skip(NEEDS_IS_SYNC)
    assert.ok(master.protocol.features.includes('is_sync'))
    const before = recorder.frames().length

    const s1 = master.stream()
    await s1.begin({ isSync: true, isolation: 'read-committed' })
    await s1.replace('test', [1, 'begin({ isSync })'])
    await s1.commit()
    assert.ok(await onReplica(1), 'row 1 on the replica when commit resolved')

    const s2 = master.stream()
    await s2.begin()
    await s2.replace('test', [2, 'commit({ isSync })'])
    await s2.commit({ isSync: true })
    assert.ok(await onReplica(2), 'row 2 on the replica when commit resolved')

    const sent = recorder.frames().slice(before).filter(([type]) => type === BEGIN || type === COMMIT)
    assert.deepEqual(sent, [
      [BEGIN, s1.id, { [0x59]: 1, [IS_SYNC]: true }],
      [COMMIT, s1.id, undefined],
      [BEGIN, s2.id, undefined],
      [COMMIT, s2.id, { [IS_SYNC]: true }],
    ])

    const beforeTransaction = recorder.frames().length
    assert.equal(await master.transaction((tx) => tx.replace('test', [3, 'transaction']).then(() => 'done'), { isSync: true }), 'done')
    assert.ok(await onReplica(3), 'row 3 on the replica when transaction() resolved')
    assert.deepEqual(
      recorder.frames().slice(beforeTransaction).filter(([type]) => type === BEGIN || type === COMMIT).map(([type, , body]) => [type, body]),
      [[BEGIN, { [IS_SYNC]: true }], [COMMIT, undefined]],
      'transaction() puts IS_SYNC in BEGIN',
    )

    await pool.transaction((tx) => tx.replace('test', [4, 'pool']), { mode: 'rw', isSync: true, timeout: 10000 })
    assert.ok(await onReplica(4), 'row 4 on the replica when pool.transaction() resolved')

    const plain = master.stream()
    await plain.begin()
    await plain.replace('test', [5, 'plain'])
    await plain.commit()
  })

  test('with the replica frozen: a synchronous commit fails after replication_synchro_timeout (ER_SYNC_QUORUM_TIMEOUT); a plain one succeeds', async (t) => {
    if (!HAS_IS_SYNC) return t.skip(NEEDS_IS_SYNC)
    const frozen = rs.replicas[0].proc
    frozen.kill('SIGSTOP')
    try {
      const plain = master.stream()
      await plain.begin()
      await plain.replace('test', [10, 'plain'])
      await plain.commit()

      const quorumTimeout = async (what, run) => {
        const started = performance.now()
        const err = await rejection(run)
        const elapsed = performance.now() - started
        assert.equal(err.errcode, ER_SYNC_QUORUM_TIMEOUT, `${what}: ${err.stack}`)
        assert.equal(err.code, 'ER_SYNC_QUORUM_TIMEOUT')
        assert.ok(elapsed >= SYNCHRO_TIMEOUT_S * 1000 * 0.9, `${what} failed after ${elapsed} ms, before the synchro timeout`)
      }
      const s1 = master.stream()
      await quorumTimeout('begin({ isSync })', async () => {
        await s1.begin({ isSync: true })
        await s1.replace('test', [11, 'begin({ isSync })'])
        await s1.commit()
      })
      assert.equal(s1.inTransaction, false)
      const s2 = master.stream()
      await quorumTimeout('commit({ isSync })', async () => {
        await s2.begin()
        await s2.replace('test', [12, 'commit({ isSync })'])
        await s2.commit({ isSync: true })
      })
      await quorumTimeout('transaction()', () => master.transaction((tx) => tx.replace('test', [13, 'transaction']), { isSync: true }))

      // Rolled back: none of them is on the master; a plain commit still goes through after them.
      assert.deepEqual(await master.select('test', 0, [11], { iterator: 'GE' }), [])
      await master.transaction((tx) => tx.replace('test', [14, 'plain after']))
      assert.deepEqual(await master.select('test', 0, [14]), [[14, 'plain after']])
    } finally {
      frozen.kill('SIGCONT')
    }
    // The replica catches up on the plain rows, and never had the synchronous ones.
    await waitFor(() => onReplica(14).catch(() => false), 20000, 'the replica has row 14')
    assert.ok(await onReplica(10))
    assert.equal(await onReplica(11), false)
  })
})
