'use strict'

// Streams and interactive transactions. Stream semantics as a real Tarantool 3.3.0 showed them
// (visibility, ordering, conflicts, timeouts, the loss of the connection) are replayed by the
// scripted peer from recorded frames (helpers/recorded-session.peer.js, not a real server); the stream
// ids the tests use are those the recorder used. Against the harness's real server: the
// fallback on servers without transactions, and on 2.10+ (MVCC on, as server.lua sets it) a
// real isolation test and a real conflict.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, connectPool, Stream, ConnectionError, TarantoolError, UnsupportedError } = require('..')
const { startTarantool } = require('./helpers/tarantool')
const { startRecordedPeer } = require('./helpers/recorded-peer')
const { replaySessions } = require('./helpers/replay')
const { startProxy } = require('./helpers/proxy')
const { next, rejection, sleep, withTimeout } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }
const TX = 513 // the recorded scenario's space
const byKey = { limit: 100 }

const session = replaySessions({ timeout: TIMEOUT.timeout })

// Scenario 04's transactions were recorded with reconnects on (the default).
const replay = (scenario, conns, options = {}) => session.replay([scenario], conns, { reconnect: true, ...options })

/** Streams of the session's connection up to and including id `id` (streams cost nothing until used). */
function streamWithId(id) {
  for (;;) {
    const s = session.conn.stream()
    if (s.id === id) return s
    assert.ok(s.id < id)
  }
}

const sentSince = (n) => session.sent().slice(n).map((r) => [r.type, r.header['0xa'], r.body])

describe('streams and transactions as a 3.3 server runs them (04-streams-transactions)', TIMEOUT, () => {
  test('an uncommitted write is seen by its own stream only, and by everyone after COMMIT', async () => {
    await replay('04-streams-transactions', ['A'])
    const s1 = session.conn.stream()
    const s2 = session.conn.stream()
    assert.ok(s1 instanceof Stream)
    assert.deepEqual([s1.id, s2.id], [1, 2])
    const before = session.sent().length
    await s1.begin({ isolation: 'read-committed', txnTimeout: 5500 })
    assert.deepEqual(sentSince(before), [[14, 1, { '0x56': { f64: 5.5 }, '0x59': 1 }]], 'BEGIN: seconds as a double, isolation 1')
    assert.equal(s1.inTransaction, true)
    assert.deepEqual(await s1.insert(TX, [10, 'in-tx']), [10, 'in-tx'])
    assert.deepEqual(await s1.select(TX, 0, [10], byKey), [[10, 'in-tx']])
    assert.deepEqual(await s2.select(TX, 0, [10], byKey), [])
    assert.deepEqual(await session.conn.select(TX, 0, [10], byKey), [])
    assert.equal(await s1.commit(), undefined)
    assert.equal(s1.inTransaction, false)
    assert.deepEqual(await s2.select(TX, 0, [10], byKey), [[10, 'in-tx']])
    assert.deepEqual(await session.conn.select(TX, 0, [10], byKey), [[10, 'in-tx']])
  })

  test('ROLLBACK drops the write; COMMIT and ROLLBACK with no transaction are OK', async () => {
    await replay('04-streams-transactions', ['A'])
    const s3 = streamWithId(3)
    await s3.begin()
    assert.ok(session.sent().at(-1).body == null, 'BEGIN without options has no body')
    await s3.insert(TX, [11, 'rolled back'])
    await s3.rollback()
    assert.deepEqual(await session.conn.select(TX, 0, [11], byKey), [])
    const s4 = session.conn.stream()
    assert.equal(await s4.commit(), undefined)
    assert.equal(await s4.rollback(), undefined)
  })

  test('a second BEGIN is ER_ACTIVE_TRANSACTION, and the transaction stays open', async () => {
    await replay('04-streams-transactions', ['A'])
    const s5 = streamWithId(5)
    await s5.begin()
    const err = await rejection(s5.begin())
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_ACTIVE_TRANSACTION')
    assert.equal(err.errcode, 79)
    assert.equal(s5.inTransaction, true)
    await s5.rollback()
  })

  test('every isolation level by name; anything else is a TypeError before anything is sent', async () => {
    await replay('04-streams-transactions', ['A'])
    const s = streamWithId(20)
    const levels = ['default', 'read-committed', 'read-confirmed', 'best-effort', 'linearizable']
    let stream = s
    for (const [value, isolation] of levels.entries()) {
      const before = session.sent().length
      await stream.begin({ isolation })
      assert.deepEqual(sentSince(before), [[14, 20 + value, { '0x59': value }]])
      await stream.rollback()
      stream = session.conn.stream()
    }
    const before = session.sent().length
    await assert.rejects(() => stream.begin({ isolation: 'serializable' }), TypeError)
    await assert.rejects(() => stream.begin({ isolation: 4 }), TypeError)
    await assert.rejects(() => stream.begin({ txnTimeout: -1 }), RangeError)
    await assert.rejects(() => stream.begin({ txnTimeout: 0 }), RangeError)
    await assert.rejects(() => stream.begin({ txnTimeout: '5' }), TypeError)
    await assert.rejects(session.conn.transaction(async () => {}, { isolation: 'serializable' }), TypeError)
    await assert.rejects(session.conn.transaction(async () => {}, { retries: 1.5 }), RangeError)
    await assert.rejects(session.conn.transaction('not a function'), TypeError)
    assert.equal(session.sent().length, before)
  })

  test('the server\'s transaction timeout: ER_TRANSACTION_TIMEOUT, then the stream starts afresh', async () => {
    await replay('04-streams-transactions', ['A'])
    const s6 = streamWithId(6)
    await s6.begin({ txnTimeout: 100 })
    assert.deepEqual(session.sent().at(-1).body, { '0x56': { f64: 0.1 } })
    await s6.insert(TX, [12, 'timeout'])
    const late = await rejection(s6.insert(TX, [13, 'timeout']))
    assert.equal(late.code, 'ER_TRANSACTION_TIMEOUT')
    assert.equal(late.errcode, 231)
    const commit = await rejection(s6.commit())
    assert.equal(commit.errcode, 231)
    assert.equal(s6.inTransaction, false)
    await s6.begin()
    await s6.rollback()
    assert.deepEqual(await session.conn.select(TX, 0, [12], { iterator: 'GE', limit: 10 }), [])
  })

  test('a conflict between two streams: ER_TRANSACTION_CONFLICT for the later one', async () => {
    await replay('04-streams-transactions', ['A'])
    const s7 = streamWithId(7)
    const s8 = session.conn.stream()
    await s7.begin()
    await s8.begin()
    assert.deepEqual(await s7.select(TX, 0, [20], byKey), [])
    assert.deepEqual(await s8.select(TX, 0, [20], byKey), [])
    await s7.insert(TX, [20, 'from 7'])
    await s8.insert(TX, [20, 'from 8'])
    await s7.commit()
    const read = await rejection(s8.select(TX, 0, [20], byKey))
    assert.equal(read.code, 'ER_TRANSACTION_CONFLICT')
    assert.equal(read.errcode, 97)
    assert.equal((await rejection(s8.commit())).errcode, 97)
  })

  test('session.conn.transaction: commit on return; retries: n runs the callback again after a conflict', async () => {
    await replay('04-streams-transactions', ['A'])
    const s7 = streamWithId(7)
    await s7.begin()
    await s7.select(TX, 0, [20], byKey)
    await s7.insert(TX, [20, 'from 7'])
    const attempts = []
    const value = await session.conn.transaction(async (tx) => {
      attempts.push(tx.id)
      assert.equal(tx.inTransaction, true)
      if (tx.id === 8) {
        // Conflicts with stream 7, which commits first: this COMMIT is ER_TRANSACTION_CONFLICT.
        assert.deepEqual(await tx.select(TX, 0, [20], byKey), [])
        await tx.insert(TX, [20, 'from 8'])
        await s7.commit()
        return 'first attempt'
      }
      const slow = tx.call('sleep_ret', [0.2, 'slow'])
      await tx.insert(TX, [30, 'pipelined'])
      assert.deepEqual(await slow, ['slow'])
      return tx.select(TX, 0, [30], byKey)
    }, { retries: 1 })
    assert.deepEqual(attempts, [8, 9])
    assert.deepEqual(value, [[30, 'pipelined']])
    const commits = session.sent().filter((r) => r.type === 15).map((r) => r.header['0xa'])
    assert.deepEqual(commits, [7, 8, 9])
  })

  test('without retries the conflict is the rejection, and a throwing callback rolls back', async () => {
    await replay('04-streams-transactions', ['A'])
    streamWithId(7)
    const conflict = await rejection(session.conn.transaction(async (tx) => {
      await tx.select(TX, 0, [20], byKey)
      await tx.insert(TX, [20, 'from 8'])
    }))
    assert.equal(conflict.errcode, 97)
    assert.equal(session.sent().filter((r) => r.type === 16).length, 0, 'a failed COMMIT ends the transaction: no ROLLBACK')
  })

  test('a callback that throws: ROLLBACK, and its error is the rejection', async () => {
    await replay('04-streams-transactions', ['A'])
    streamWithId(4) // the recorder's stream 5 has BEGIN and ROLLBACK
    const boom = new Error('boom')
    const thrown = await rejection(session.conn.transaction(async (tx) => {
      assert.equal(tx.id, 5)
      throw boom
    }))
    assert.equal(thrown, boom)
    assert.deepEqual(session.sent().map((r) => [r.type, r.header['0xa']]), [[14, 5], [16, 5]], 'BEGIN, then ROLLBACK')
  })

  test('requests on one stream are pipelined, not made sequential by kharon', async () => {
    await replay('04-streams-transactions', ['A'])
    const s9 = streamWithId(9)
    let seenWhenBegun = 0
    const results = await Promise.all([
      s9.begin().then(() => { seenWhenBegun = session.sent().length }),
      s9.call('sleep_ret', [0.2, 'slow']),
      s9.insert(TX, [30, 'pipelined']),
      session.conn.ping(),
      s9.select(TX, 0, [30], byKey),
      s9.commit(),
    ])
    assert.equal(seenWhenBegun, 6, 'all six requests reached the server before BEGIN was answered')
    assert.deepEqual(results.slice(1), [['slow'], [30, 'pipelined'], undefined, [[30, 'pipelined']], undefined])
    assert.deepEqual(session.sent().map((r) => r.header['0xa']), [9, 9, 9, undefined, 9, 9], 'the PING carries no stream')
  })
})

describe('when the connection goes with a transaction open', TIMEOUT, () => {
  let proxy

  async function throughProxy() {
    const peer = await startRecordedPeer({ scenarios: ['04-streams-transactions'], conns: ['A', 'B'] })
    session.peer = peer
    proxy = await startProxy(() => ({ host: peer.host, port: peer.port }))
    session.onEnd(() => proxy.close())
    session.conn = await connect(`u:p@127.0.0.1:${proxy.port}`, { fetchSchema: false, reconnect: { initialDelay: 10, maxDelay: 50 } })
  }

  test('pending requests fail with ConnectionError, later ones with ERR_TRANSACTION_LOST, even after a reconnect', async () => {
    await throughProxy()
    const s1 = session.conn.stream()
    const s2 = session.conn.stream()
    await s1.begin()
    await s1.insert(TX, [40, 'never committed'])
    proxy.hold()
    const pending = s1.select(TX, 0, [10], byKey)
    const count = session.sent().length
    while (session.sent().length === count) await sleep(1)
    const reconnected = next(session.conn, 'connect')
    proxy.dropAll()
    proxy.release()
    const lostPending = await rejection(pending)
    assert.ok(lostPending instanceof ConnectionError)
    assert.notEqual(lostPending.code, 'ERR_TRANSACTION_LOST', 'a request in flight fails as any request does')
    const during = await rejection(s1.insert(TX, [41, 'x']))
    assert.equal(during.code, 'ERR_TRANSACTION_LOST')
    assert.ok(during instanceof ConnectionError)
    await withTimeout(reconnected, 10000, 'reconnect')
    const sentBefore = session.sent().length
    for (const request of [() => s1.select(TX, 0, [10], byKey), () => s1.commit(), () => s1.rollback(), () => s1.begin(), () => s1.call('echo')]) {
      assert.equal((await rejection(request)).code, 'ERR_TRANSACTION_LOST')
    }
    assert.equal(session.sent().length, sentBefore, 'nothing of the lost transaction was sent on the new connection')
    assert.equal(s1.inTransaction, false)
    // A stream without a transaction carries on; the row was never committed; ids go on.
    assert.deepEqual(await s2.select(TX, 0, [10], byKey), [])
    assert.deepEqual(await session.conn.select(TX, 0, [40], byKey), [])
    assert.equal(session.conn.stream().id, 3)
  })

  test('session.conn.transaction rejects with ERR_TRANSACTION_LOST', async () => {
    await throughProxy()
    const err = await rejection(session.conn.transaction(async (tx) => {
      await tx.insert(TX, [40, 'never committed'])
      proxy.hold()
      const pending = tx.select(TX, 0, [10], byKey)
      proxy.dropAll()
      await pending
    }))
    assert.equal(err.code, 'ERR_TRANSACTION_LOST')
    assert.equal(session.sent().filter((r) => r.type === 16).length, 0, 'no ROLLBACK is sent for a lost transaction')
  })
})

test('without MVCC a yield aborts the transaction: ER_TRANSACTION_YIELD (04b)', TIMEOUT, async () => {
  await replay('04b-transactions-no-mvcc', ['D'])
  const s1 = session.conn.stream()
  await s1.begin()
  await s1.insert(TX, [1, 'a'])
  const err = await rejection(s1.insert(TX, [2, 'b']))
  assert.equal(err.code, 'ER_TRANSACTION_YIELD')
  assert.equal(err.errcode, 154)
  assert.equal((await rejection(s1.commit())).errcode, 154)
})

// ---------------------------------------------------------------------------------------------
// the real server

describe('transactions on this server', TIMEOUT, () => {
  let server
  let real
  before(async () => {
    server = await startTarantool()
    real = await connect(`tester:secret@127.0.0.1:${server.port}`)
    await real.eval("box.schema.space.create('accounts', {if_not_exists = true}):create_index('pk', {if_not_exists = true})")
  }, TIMEOUT)
  after(async () => {
    if (real) real.destroy()
    if (server) await server.stop()
  }, TIMEOUT)

  const has = () => real.protocol.features.includes('transactions')

  test('without transactions (before 2.10): ERR_UNSUPPORTED naming them; stream requests still work', async (t) => {
    if (has()) return t.skip('this server has transactions (see the next tests)')
    const s = real.stream()
    for (const attempt of [() => s.begin(), () => s.commit(), () => s.rollback(), () => real.begin()]) {
      const err = await rejection(attempt)
      assert.ok(err instanceof UnsupportedError)
      assert.equal(err.feature, 'transactions')
      assert.equal(err.serverVersion, real.transport.serverVersion)
    }
    let called = false
    const err = await rejection(real.transaction(async () => { called = true }))
    assert.equal(err.code, 'ERR_UNSUPPORTED')
    assert.equal(called, false)
    assert.deepEqual(await s.replace('accounts', [1, 100]), [1, 100])
    assert.deepEqual(await s.select('accounts', 0, [1]), [[1, 100]])
  })

  test('isolation: an uncommitted write is invisible to another stream until COMMIT', async (t) => {
    if (!has()) return t.skip('needs transactions (2.10+)')
    const writer = await real.begin()
    await writer.replace('accounts', [2, 50])
    assert.deepEqual(await writer.select('accounts', 0, [2]), [[2, 50]])
    assert.deepEqual(await real.stream().select('accounts', 0, [2]), [])
    assert.deepEqual(await real.select('accounts', 0, [2]), [])
    await writer.commit()
    assert.deepEqual(await real.select('accounts', 0, [2]), [[2, 50]])
  })

  test('a real conflict: the later commit fails, and retries: 1 succeeds the second time', async (t) => {
    if (!has()) return t.skip('needs transactions (2.10+)')
    await real.replace('accounts', [3, 100])
    const a = await real.begin()
    const b = await real.begin()
    const [[, fromA]] = await a.select('accounts', 0, [3])
    const [[, fromB]] = await b.select('accounts', 0, [3])
    await a.replace('accounts', [3, fromA + 1])
    await b.replace('accounts', [3, fromB + 2])
    await a.commit()
    const err = await rejection(b.commit())
    assert.equal(err.code, 'ER_TRANSACTION_CONFLICT')
    let attempts = 0
    const total = await real.transaction(async (tx) => {
      attempts++
      const [[, balance]] = await tx.select('accounts', 0, [3])
      await tx.replace('accounts', [3, balance - 10])
      // the first time, a write from outside commits first: this transaction read a stale value
      if (attempts === 1) await real.replace('accounts', [3, balance + 1000])
      return balance - 10
    }, { txnTimeout: 5000, retries: 1 })
    assert.equal(attempts, 2)
    assert.equal(total, 1091)
    assert.deepEqual(await real.select('accounts', 0, [3]), [[3, 1091]])
  })

  test('a throwing callback rolls back and rethrows; await using rolls back what was not committed', async (t) => {
    if (!has()) return t.skip('needs transactions (2.10+)')
    const boom = new Error('boom')
    const err = await rejection(real.transaction(async (tx) => {
      await tx.replace('accounts', [4, 1])
      throw boom
    }))
    assert.equal(err, boom)
    assert.deepEqual(await real.select('accounts', 0, [4]), [])
    // what `await using tx = await session.conn.begin()` does when the block ends
    const tx = await real.begin({ isolation: 'best-effort' })
    await tx.replace('accounts', [5, 1])
    await tx[Symbol.asyncDispose]()
    assert.equal(tx.inTransaction, false)
    assert.deepEqual(await real.select('accounts', 0, [5]), [])
    await tx[Symbol.asyncDispose]() // nothing left to roll back
  })
})

describe('a pool pins a stream to one instance', TIMEOUT, () => {
  let server
  let pool
  before(async () => {
    server = await startTarantool()
    pool = await connectPool([`tester:secret@127.0.0.1:${server.port}`], { checkInterval: 100, reconnect: { initialDelay: 10, maxDelay: 50 } })
  }, TIMEOUT)
  after(async () => {
    if (pool) await pool.close()
    if (server) await server.stop()
  }, TIMEOUT)

  test('pool.stream gives a Stream of the instance the mode picks; pool.transaction runs there', async () => {
    const stream = await pool.stream({ mode: 'rw' })
    assert.ok(stream instanceof Stream)
    assert.deepEqual(await stream.call('echo', [1]), [1])
    const has = stream.connection.protocol.features.includes('transactions')
    const run = pool.transaction(async (tx) => tx.call('echo', ['in a transaction']), { mode: 'rw' })
    if (has) assert.deepEqual(await run, ['in a transaction'])
    else {
      const err = await rejection(run)
      assert.equal(err.code, 'ERR_UNSUPPORTED')
      assert.equal(err.feature, 'transactions')
    }
  })

  test('a transaction on a pinned stream is lost with its instance, and does not move', async (t) => {
    const stream = await pool.stream({ mode: 'rw' })
    if (!stream.connection.protocol.features.includes('transactions')) return t.skip('needs transactions (2.10+)')
    await stream.eval("box.schema.space.create('pinned', {if_not_exists = true}):create_index('pk', {if_not_exists = true})")
    await stream.begin()
    await stream.replace('pinned', [2, 'open'])
    const lost = next(stream.connection, 'disconnect')
    await server.kill('SIGKILL')
    await lost
    const reconnected = next(stream.connection, 'connect')
    await server.start()
    await withTimeout(reconnected, 20000, 'reconnect')
    assert.equal((await rejection(stream.replace('pinned', [3, 'after']))).code, 'ERR_TRANSACTION_LOST')
    assert.equal((await rejection(stream.commit())).code, 'ERR_TRANSACTION_LOST')
    assert.equal(stream.inTransaction, false)
    assert.deepEqual(await pool.call('echo', ['back'], { mode: 'rw' }), ['back'])
  })
})
