'use strict'

// Every promise kharon returns settles, on every path: after close(), after a loss with
// reconnect: false, when reconnecting gives up, and for whatever was waiting when the end came
// (a request in flight, its push iterator, a queued request, a pool waiter, a PoolWatcher).

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, connectPool, Transport, IPROTO } = require('..')
const { startTarantool, stopAll, atLeast } = require('./helpers/tarantool')
const { startProxy } = require('./helpers/proxy')
const { next, rejection, withTimeout } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }
// Long enough for anything that settles, short enough to fail a hang in this file's budget.
const SETTLES = 5000
let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

const uri = (port = server.port) => `tester:secret@127.0.0.1:${port}`

/** Every request method of a connection, a stream or a pool, each as a thunk. */
function everyRequest(c) {
  return {
    ping: () => c.ping(),
    call: () => c.call('echo', [1]),
    eval: () => c.eval('return 1'),
    select: () => c.select(512, 0, [1]),
    insert: () => c.insert(512, [100, 'x']),
    replace: () => c.replace(512, [100, 'x']),
    update: () => c.update(512, 0, [100], [['=', 1, 'y']]),
    upsert: () => c.upsert(512, [100, 'x'], [['=', 1, 'y']]),
    delete: () => c.delete(512, 0, [100]),
    execute: () => c.execute('SELECT 1'),
    prepare: () => c.prepare('SELECT 1'),
  }
}

/** Each thunk's promise must reject within SETTLES ms with `code`. */
async function allReject(requests, code, where) {
  for (const [name, issue] of Object.entries(requests)) {
    const err = await withTimeout(rejection(issue), SETTLES, `${where}: ${name}() settles`)
    assert.equal(err.code, code, `${where}: ${name}() failed with ${err.code}: ${err.message}`)
  }
}

describe('a connection that has ended', TIMEOUT, () => {
  test('after close() and destroy(): every method, stream, transaction and push iterator rejects with ERR_CONNECTION_CLOSED', async () => {
    for (const end of ['close', 'destroy']) {
      const conn = await connect(uri())
      const stream = conn.stream()
      await conn[end]()
      await allReject(everyRequest(conn), 'ERR_CONNECTION_CLOSED', `after ${end}()`)
      await allReject(everyRequest(stream), 'ERR_CONNECTION_CLOSED', `a stream after ${end}()`)
      await allReject({ pushes: () => conn.call('pushes', [3]).pushes().next() }, 'ERR_CONNECTION_CLOSED', `after ${end}()`)
      // Before 2.10 the missing feature is the first reason a transaction cannot run.
      const refusal = atLeast(2, 10) ? 'ERR_CONNECTION_CLOSED' : 'ERR_UNSUPPORTED'
      await allReject({ transaction: () => conn.transaction(async () => 1) }, refusal, `after ${end}()`)
      await withTimeout(conn.close(), SETTLES, `close() again after ${end}()`)
    }
  })

  test('lost with reconnect: false: in-flight requests and push iterators reject, later ones reject with ERR_CONNECTION_CLOSED', async () => {
    const proxy = await startProxy(() => ({ host: '127.0.0.1', port: server.port }))
    const conn = await connect(uri(proxy.port), { reconnect: false })
    try {
      const slow = conn.call('sleep_then', [5, 'late'])
      const pushing = conn.call('push_slowly', [100, 0.05])
      const iterator = pushing.pushes()
      assert.equal((await iterator.next()).value, 1)
      const closed = next(conn, 'close')
      proxy.dropAll()
      await withTimeout(closed, SETTLES, "'close' after the loss")
      for (const [what, p] of [['a call in flight', slow], ['a call with pushes', pushing], ['its push iterator', iterator.next()]]) {
        const err = await withTimeout(rejection(p), SETTLES, `${what} settles`)
        assert.equal(err.name, 'ConnectionError', `${what}: ${err.name} ${err.message}`)
      }
      assert.equal(conn.state, 'closed')
      await allReject(everyRequest(conn), 'ERR_CONNECTION_CLOSED', 'after the loss')
    } finally {
      conn.destroy()
      await proxy.close()
    }
  })

  test('requests queued while reconnecting reject when reconnecting gives up, and when close() is called', async () => {
    const own = await startTarantool()
    const conn = await connect(uri(own.port), { reconnect: { initialDelay: 10, maxDelay: 20, maxRetries: 3 } })
    const again = await connect(uri(own.port), { reconnect: { initialDelay: 1000, maxDelay: 1000 } })
    try {
      const gaveUp = next(conn, 'close')
      const lost = next(again, 'disconnect')
      await own.kill()
      await withTimeout(lost, SETTLES, "'disconnect' of the second connection")
      const queued = conn.call('echo', ['queued'])
      const queuedAgain = again.call('echo', ['queued'])
      await withTimeout(gaveUp, SETTLES, 'reconnecting gives up')
      const err = await withTimeout(rejection(queued), SETTLES, 'the queued call settles when reconnecting gives up')
      assert.equal(err.name, 'ConnectionError')
      await again.close()
      const closedErr = await withTimeout(rejection(queuedAgain), SETTLES, 'the queued call settles on close()')
      assert.equal(closedErr.code, 'ERR_CONNECTION_CLOSED')
      await allReject(everyRequest(conn), 'ERR_CONNECTION_CLOSED', 'after reconnecting gave up')
    } finally {
      conn.destroy()
      again.destroy()
      await own.stop()
    }
  })

  test('a raw Transport: a request and its push iterator reject at close(); later requests reject too', async () => {
    const t = await Transport.connect({ port: server.port, host: '127.0.0.1' })
    const pending = t.request(IPROTO.PING)
    await t.close()
    assert.equal((await withTimeout(rejection(pending), SETTLES, 'the pending PING')).code, 'ERR_CONNECTION_CLOSED')
    const later = t.request(IPROTO.PING)
    assert.equal((await withTimeout(rejection(later), SETTLES, 'a PING after close()')).code, 'ERR_CONNECTION_CLOSED')
    const iterated = t.request(IPROTO.PING)[Symbol.asyncIterator]().next()
    assert.equal((await withTimeout(rejection(iterated), SETTLES, 'iterating after close()')).code, 'ERR_CONNECTION_CLOSED')
  })
})

describe('a pool that has closed', TIMEOUT, () => {
  test('every method rejects with ERR_CONNECTION_CLOSED; a request waiting for an instance rejects at close()', async () => {
    const pool = await connectPool([uri()], { checkInterval: 100 })
    // No replica in a one-master pool: the read waits for one.
    const waiting = pool.call('echo', [1], { mode: 'ro', timeout: 30000 })
    const waitingSelect = pool.select(512, 0, [1], { mode: 'ro', timeout: 30000 })
    const closed = next(pool, 'close')
    await pool.close()
    await withTimeout(closed, SETTLES, "the pool's 'close'")
    for (const p of [waiting, waitingSelect]) {
      assert.equal((await withTimeout(rejection(p), SETTLES, 'a request waiting for a replica')).code, 'ERR_CONNECTION_CLOSED')
    }
    await allReject({
      ...everyRequest(pool),
      stream: () => pool.stream(),
      transaction: () => pool.transaction(async () => 1),
    }, 'ERR_CONNECTION_CLOSED', 'after pool.close()')
  })

  test('a PoolWatcher ends when its pool closes; one made on a closed pool rejects', { skip: atLeast(2, 10) ? false : 'needs watchers (2.10+)' }, async () => {
    const pool = await connectPool([uri()], { checkInterval: 100 })
    const watcher = pool.watch('settle-key')
    const first = await withTimeout(watcher.next(), SETTLES, 'the first value')
    assert.equal(first.done, false)
    const waiting = watcher.next()
    await pool.close()
    assert.deepEqual(await withTimeout(waiting, SETTLES, 'the waiting next()'), { value: undefined, done: true })
    const late = pool.watch('settle-key')
    const err = await withTimeout(rejection(late.next()), SETTLES, 'next() of a PoolWatcher made on a closed pool')
    assert.equal(err.code, 'ERR_CONNECTION_CLOSED')
    assert.deepEqual(await late.next(), { value: undefined, done: true })
  })
})
