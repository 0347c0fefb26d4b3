'use strict'

// Watchers, graceful shutdown, and the pool's roles from box.status. The 3.x behaviour is
// checked against the scripted peer (helpers/recorded-peer.js, not a real server), which keeps
// watch state by the rules the 3.3 transcripts show (05, 06) and replays recorded replies, and
// which also plays a 2.11 server (no WATCH_ONCE) for watchOnce's fallback; against the harness's
// real server: the fallbacks before 2.10, and on 2.10+ box.broadcast, Watchers of one key each
// at its own pace, and watching on a closed connection.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { getEventListeners } = require('node:events')

const { connect, connectPool, Watcher, PoolWatcher, UnsupportedError, TimeoutError, AbortError } = require('..')
const { startTarantool, atLeast } = require('./helpers/tarantool')
const { startReplicaSet } = require('./helpers/replicaset')
const { startRecordedPeer } = require('./helpers/recorded-peer')
const { replaySessions } = require('./helpers/replay')
const { startProxy } = require('./helpers/proxy')
const { runFixture } = require('./helpers/fixture')
const { next, rejection, sleep, withTimeout } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }
const WATCH = 74
const UNWATCH = 75
const session = replaySessions({ timeout: TIMEOUT.timeout })

/** The WATCH/UNWATCH requests the peer got for `key`, as 'W' / 'U'. */
function watchLog(key) {
  return session.peer.requests
    .filter((r) => (r.type === WATCH || r.type === UNWATCH) && r.body['0x57'] === key)
    .map((r) => (r.type === WATCH ? 'W' : 'U'))
    .join('')
}

/** The error `promise` rejects with, within 5 s. */
function settled(promise, what) {
  return withTimeout(rejection(promise), 5000, what)
}

/** Timers that keep Node alive now. */
function activeTimeouts() {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

async function until(condition, what) {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 5 s`)
    await sleep(1)
  }
}

describe('watchers as a 3.3 server delivers them (05-watchers)', TIMEOUT, () => {
  test('the first value is the current one; nothing more until the consumer asks, then only the latest', async () => {
    const conn = await session.replay(['05-watchers'], [])
    const w = conn.watch('k')
    assert.ok(w instanceof Watcher)
    assert.equal(w.key, 'k')
    assert.deepEqual(await w.next(), { value: undefined, done: false }, 'a key never broadcast has no value')
    assert.equal(watchLog('k'), 'W')
    session.peer.broadcast('k', 1)
    session.peer.broadcast('k', 2)
    session.peer.broadcast('k', 3)
    await sleep(20)
    assert.equal(watchLog('k'), 'W', 'no ack before the consumer asks for more')
    assert.deepEqual(await w.next(), { value: 3, done: false }, 'the latest value, once')
    assert.equal(watchLog('k'), 'WW')
    const pending = w.next()
    await until(() => watchLog('k') === 'WWW', 'the ack for 3')
    session.peer.broadcast('k', { a: [1, 'x'] })
    assert.deepEqual(await pending, { value: { a: [1, 'x'] }, done: false })
    session.peer.broadcast('k')
    assert.deepEqual(await w.next(), { value: undefined, done: false }, 'broadcasting nil removes the value')
    w.close()
    assert.equal(w.closed, true)
    assert.deepEqual(await w.next(), { value: undefined, done: true })
    await until(() => watchLog('k') === 'WWWWU', 'UNWATCH with the last Watcher')
  })

  test('for await, break unwatches; Watchers of one key share one subscription', async () => {
    const conn = await session.replay(['05-watchers'], [])
    session.peer.broadcast('cfg', 'v1')
    const a = conn.watch('cfg')
    const b = conn.watch('cfg')
    assert.deepEqual([(await a.next()).value, (await b.next()).value], ['v1', 'v1'])
    assert.equal(watchLog('cfg'), 'W', 'one WATCH for both')
    const nextA = a.next()
    await until(() => watchLog('cfg') === 'WW', 'the ack once one Watcher asked for more')
    const nextB = b.next()
    await sleep(10)
    assert.equal(watchLog('cfg'), 'WW', 'one ack for both')
    session.peer.broadcast('cfg', 'v2')
    assert.deepEqual([(await nextA).value, (await nextB).value], ['v2', 'v2'])
    b.close()
    await sleep(10)
    assert.equal(watchLog('cfg'), 'WW', 'the other Watcher keeps the subscription')
    session.peer.broadcast('cfg', 'v3')
    const seen = []
    for await (const value of a) {
      seen.push(value)
      if (value === 'v4') break
      session.peer.broadcast('cfg', 'v4')
    }
    assert.deepEqual(seen, ['v3', 'v4'])
    assert.equal(a.closed, true)
    await until(() => watchLog('cfg').endsWith('U'), 'the last Watcher unwatched')
    // a later Watcher of a key starts from its current value
    const c = conn.watch('box.status')
    const status = (await c.next()).value
    assert.deepEqual(status, { is_ro: false, is_ro_cfg: false, status: 'running', dd_version: '3.3.0' })
    c.close()
  })

  test('the callback form acks when the callback returns, awaiting its promise', async () => {
    const conn = await session.replay(['05-watchers'], [])
    const got = []
    let release
    const w = conn.watch('job', async (value, key) => {
      got.push([key, value])
      if (value === 1) await new Promise((resolve) => { release = resolve })
    })
    await until(() => got.length === 1, 'the first value')
    session.peer.broadcast('job', 1)
    await until(() => got.length === 2, 'value 1')
    session.peer.broadcast('job', 2)
    session.peer.broadcast('job', 3)
    await sleep(20)
    assert.equal(watchLog('job'), 'WW', 'the callback for 1 is still running: no ack')
    release()
    await until(() => got.length === 3, 'the latest value after the ack')
    assert.deepEqual(got, [['job', undefined], ['job', 1], ['job', 3]])
    w.close()
    assert.throws(() => w[Symbol.asyncIterator](), TypeError)
  })

  test('watchOnce: WATCH_ONCE on 3.x, no subscription', async () => {
    const conn = await session.replay(['05-watchers'], ['W'])
    assert.equal(await conn.watchOnce('nothing-here'), undefined)
    assert.equal(await conn.watchOnce('k'), 5)
    assert.equal(watchLog('k') + watchLog('nothing-here'), '', 'no WATCH for them')
    await assert.rejects(() => conn.watchOnce(''), TypeError)
    assert.throws(() => conn.watch(42), TypeError)
  })

  test('watchOnce without WATCH_ONCE (2.10, 2.11): a watch, its first value, then UNWATCH', async () => {
    // A server answering ID as 2.11 does: streams, transactions, errors, watchers, pagination.
    const peer = await startRecordedPeer({ scenarios: ['05-watchers'], conns: [], protocol: { version: 4, features: [0, 1, 2, 3, 4] } })
    session.peer = peer
    const conn = session.conn = await connect(peer.uri, { fetchSchema: false })
    assert.equal(conn.protocol.features.includes('watch_once'), false)
    peer.broadcast('k', 'current')
    assert.equal(await conn.watchOnce('k'), 'current')
    await until(() => watchLog('k') === 'WU', 'WATCH then UNWATCH')
    assert.equal(peer.requests.filter((r) => r.type === 77).length, 0, 'no WATCH_ONCE')
    // `using w = conn.watch(…)` closes it at the end of the block
    const w = conn.watch('k')
    w[Symbol.dispose]()
    assert.equal(w.closed, true)
  })

  test('after a reconnect every Watcher subscribes again and gets the current value', async () => {
    const peer = await startRecordedPeer({ scenarios: ['05-watchers'], conns: [] })
    session.peer = peer
    const proxy = await startProxy(() => ({ host: peer.host, port: peer.port }))
    session.onEnd(() => proxy.close())
    const conn = session.conn = await connect(`u:p@127.0.0.1:${proxy.port}`, { fetchSchema: false, reconnect: { initialDelay: 10, maxDelay: 50 } })
    peer.broadcast('k', 'before')
    const w = conn.watch('k')
    assert.equal((await w.next()).value, 'before')
    const pending = w.next()
    const reconnected = next(conn, 'connect')
    proxy.dropAll()
    await withTimeout(reconnected, 10000, 'reconnect')
    assert.deepEqual(await pending, { value: 'before', done: false }, 'the current value again, unchanged')
    peer.broadcast('k', 'after')
    assert.equal((await w.next()).value, 'after')
    w.close()
  })

  test('an open Watcher keeps Node alive; unref() lets the process exit', async () => {
    const peer = await startRecordedPeer({ scenarios: ['05-watchers'], conns: [] })
    session.peer = peer
    const run = (mode, ms) => runFixture('watcher-alive.js', [peer.port, mode], ms)
    const referenced = await run('ref', 1500)
    assert.equal(referenced.hung, true, `the process exited with a Watcher open: ${referenced.stdout}${referenced.stderr}`)
    assert.match(referenced.stdout, /watching/)
    const unreferenced = await run('unref', 15000)
    assert.deepEqual([unreferenced.code, unreferenced.signal], [0, null], unreferenced.stderr)
    assert.match(unreferenced.stdout, /watching/)
  })
})

describe('watchOnce without WATCH_ONCE (2.10, 2.11), on the scripted peer', TIMEOUT, () => {
  // The scripted peer (not a real server) answering ID as 2.11 does: watchers, no watch_once.
  // It sits behind the proxy, which can hold back what it sends: then no first value comes.
  async function peer211(options = {}) {
    const peer = session.peer = await startRecordedPeer({ scenarios: ['05-watchers'], conns: [], protocol: { version: 4, features: [0, 1, 2, 3, 4] } })
    const proxy = await startProxy(() => ({ host: peer.host, port: peer.port }))
    session.onEnd(() => proxy.close())
    // No heartbeat: its PING is no request the peer can answer, and its timer is not counted.
    const uri = `u:p@127.0.0.1:${proxy.port}`
    const open = (more) => connect(uri, { fetchSchema: false, reconnect: false, heartbeat: false, ...options, ...more })
    const conn = session.conn = await open()
    assert.equal(conn.protocol.features.includes('watch_once'), false)
    return { peer, proxy, conn, open }
  }

  test('its timeout, or the connection default, rejects it with ETIMEDOUT and unwatches; no timer is left', async () => {
    const { proxy, conn } = await peer211({ timeout: 80 })
    proxy.hold()
    const timers = activeTimeouts()
    for (const [options, ms] of [[{ timeout: 40 }, 40], [undefined, 80]]) {
      const t0 = performance.now()
      const err = await settled(conn.watchOnce('k', options), `watchOnce within ${ms} ms`)
      assert.ok(err instanceof TimeoutError, `${err}`)
      assert.equal(err.code, 'ETIMEDOUT')
      assert.ok(performance.now() - t0 >= ms - 5, `after ${performance.now() - t0} ms`)
    }
    await until(() => watchLog('k') === 'WUWU', 'WATCH, then UNWATCH at each timeout')
    assert.equal(activeTimeouts(), timers, 'no timer is left behind')
  })

  test('an AbortSignal rejects it with ABORT_ERR and unwatches; aborted already, nothing is sent; no listener is left', async () => {
    const { proxy, conn } = await peer211()
    proxy.hold()
    const timers = activeTimeouts()
    const ac = new AbortController()
    const pending = conn.watchOnce('k', { signal: ac.signal, timeout: 30000 })
    await until(() => watchLog('k') === 'W', 'the WATCH')
    ac.abort(new Error('enough'))
    const err = await settled(pending, 'watchOnce after abort()')
    assert.ok(err instanceof AbortError, `${err}`)
    assert.equal(err.code, 'ABORT_ERR')
    assert.equal(err.cause.message, 'enough')
    await until(() => watchLog('k') === 'WU', 'UNWATCH on abort')
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener is left on the signal')
    assert.equal(activeTimeouts(), timers, 'the 30 s timer is cleared')
    assert.equal((await settled(conn.watchOnce('k', { signal: ac.signal }), 'watchOnce, aborted already')).code, 'ABORT_ERR')
    // Requests reach the peer in order: once a later WATCH is there, one for 'k' would be too.
    conn.watch('later').close()
    await until(() => watchLog('later') === 'WU', 'a later WATCH')
    assert.equal(watchLog('k'), 'WU', 'no WATCH for a signal aborted already')
  })

  test('a value in time resolves it and leaves nothing behind; bad options reject as a request does', async () => {
    const { peer, conn } = await peer211()
    peer.broadcast('k', 'current')
    const timers = activeTimeouts()
    const ac = new AbortController()
    assert.equal(await withTimeout(conn.watchOnce('k', { timeout: 30000, signal: ac.signal }), 5000, 'watchOnce'), 'current')
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
    assert.equal(activeTimeouts(), timers)
    await until(() => watchLog('k') === 'WU', 'WATCH, then UNWATCH')
    assert.equal((await settled(conn.watchOnce('k', { timeout: -1 }), 'a negative timeout')).name, 'RangeError')
    assert.equal((await settled(conn.watchOnce('k', { signal: {} }), 'a signal of another type')).name, 'TypeError')
  })

  test('a pending one settles when the connection ends: ERR_CONNECTION_CLOSED on destroy(), the loss with reconnect: false', async () => {
    const { proxy, conn, open } = await peer211()
    proxy.hold()
    const destroyed = conn.watchOnce('k')
    await until(() => watchLog('k') === 'W', 'the WATCH')
    conn.destroy()
    assert.equal((await settled(destroyed, 'watchOnce at destroy()')).code, 'ERR_CONNECTION_CLOSED')

    proxy.release()
    const second = await open()
    session.onEnd(() => second.destroy())
    proxy.hold()
    const lost = second.watchOnce('k')
    await until(() => watchLog('k') === 'WW', 'the second WATCH')
    const disconnected = next(second, 'disconnect')
    proxy.dropAll()
    const loss = await withTimeout(disconnected, 5000, "'disconnect'")
    assert.equal(await settled(lost, 'watchOnce at the loss'), loss)
    // and on the connection closed for good, at once
    const after = await settled(second.watchOnce('k', { timeout: 30000 }), 'watchOnce after the loss')
    assert.equal(after.code, 'ERR_CONNECTION_CLOSED')
    assert.equal(after.cause, loss)
  })

  test('while reconnecting it waits within its timeout, or fails at once with offlineQueue: false', async () => {
    const { proxy, conn, open } = await peer211({ reconnect: { initialDelay: 60000, maxDelay: 60000 }, timeout: 50 })
    const other = await open({ offlineQueue: false })
    session.onEnd(() => other.destroy())
    const down = Promise.all([next(conn, 'disconnect'), next(other, 'disconnect')])
    proxy.dropAll()
    await withTimeout(down, 5000, "'disconnect'")
    assert.equal(conn.state, 'reconnecting')
    const t0 = performance.now()
    assert.equal((await settled(conn.watchOnce('k'), 'watchOnce while reconnecting')).code, 'ETIMEDOUT')
    assert.ok(performance.now() - t0 >= 45)
    assert.equal((await settled(other.watchOnce('k'), 'watchOnce, offlineQueue: false')).code, 'ERR_NOT_CONNECTED')
  })
})

describe('graceful shutdown as a 3.3 server does it (06)', TIMEOUT, () => {
  test('box.shutdown: in-flight requests complete, new ones wait and go to the restarted server, none fails', async () => {
    const first = await startRecordedPeer({ scenarios: ['01-greeting-id'] })
    const second = await startRecordedPeer({ scenarios: ['01-greeting-id'] })
    let target = first
    const proxy = await startProxy(() => ({ host: target.host, port: target.port }))
    session.onEnd(async () => {
      await proxy.close()
      await first.close()
      await second.close()
    })
    const conn = session.conn = await connect(`u:p@127.0.0.1:${proxy.port}`, { fetchSchema: false, reconnect: { initialDelay: 20, maxDelay: 100 } })
    await until(() => first.requests.some((r) => r.type === WATCH && r.body['0x57'] === 'box.shutdown'), 'kharon watches box.shutdown')
    first.replyDelay = 100
    const events = []
    for (const e of ['shutdown', 'disconnect', 'reconnecting', 'connect']) conn.on(e, () => events.push(e))
    const inFlight = Array.from({ length: 50 }, () => conn.ping())
    await until(() => first.requests.filter((r) => r.type === 64).length === 50, 'the pings reach the server')
    const shutdown = first.shutdown()
    await withTimeout(next(conn, 'shutdown'), 5000, "'shutdown'")
    assert.equal(conn.state, 'draining')
    target = second
    const later = Array.from({ length: 50 }, () => conn.ping())
    await sleep(20)
    assert.equal(first.requests.filter((r) => r.type === 64).length, 50, 'nothing new is sent to a server that is shutting down')
    const results = await Promise.allSettled([...inFlight, ...later])
    assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => r.reason.message), [])
    assert.equal(second.requests.filter((r) => r.type === 64).length, 50, 'the waiting requests went to the restarted server')
    await withTimeout(shutdown, 5000, 'the server exits')
    assert.ok(first.shutdownLog.some((e) => e.event === 'client-closed'), 'kharon closed its socket itself, before the server timed out')
    assert.deepEqual(events.slice(0, 2), ['shutdown', 'disconnect'])
    assert.ok(events.includes('connect'))
    assert.equal(conn.state, 'connected')
  })

  test('with offlineQueue: false requests during the drain fail at once with ERR_NOT_CONNECTED', async () => {
    const peer = await startRecordedPeer({ scenarios: ['01-greeting-id'] })
    session.peer = peer
    const conn = session.conn = await connect(peer.uri, { fetchSchema: false, offlineQueue: false })
    await until(() => peer.requests.some((r) => r.type === WATCH), 'kharon watches box.shutdown')
    peer.replyDelay = 200
    const inFlight = conn.ping()
    await until(() => peer.requests.some((r) => r.type === 64), 'the ping reaches the server')
    const shutdown = peer.shutdown()
    await withTimeout(next(conn, 'shutdown'), 5000, "'shutdown'")
    const refused = await rejection(conn.ping())
    assert.equal(refused.code, 'ERR_NOT_CONNECTED')
    assert.match(refused.message, /shutting down/)
    assert.equal(await inFlight, undefined)
    await shutdown
  })
})

describe('a pool follows box.status', TIMEOUT, () => {
  test('a role change pushed by the server is a change event within milliseconds; pool.watch covers the instances', async () => {
    const peer = await startRecordedPeer({ scenarios: ['05-watchers'], conns: [] })
    session.peer = peer
    const pool = await connectPool([peer.uri], { fetchSchema: false, checkInterval: 60000 })
    session.onEnd(() => pool.close())
    assert.deepEqual(pool.instances().map((i) => i.ro), [false], 'the role came from box.status, not from polling')
    assert.equal(peer.requests.filter((r) => r.type === 8).length, 0, 'no box.info eval')
    const changed = next(pool, 'change')
    const at = Date.now()
    peer.broadcast('box.status', { is_ro: true, is_ro_cfg: true, status: 'running', dd_version: '3.3.0' })
    const change = await withTimeout(changed, 2000, "'change'")
    assert.equal(change.ro, true)
    assert.ok(Date.now() - at < 1000)
    const watcher = pool.watch('k', { mode: 'ro' })
    assert.ok(watcher instanceof PoolWatcher)
    // The pool shows the URI without its password.
    const shown = `u@${peer.host}:${peer.port}`
    assert.deepEqual(watcher.uris, [shown])
    assert.deepEqual(await watcher.next(), { value: { uri: shown, value: undefined }, done: false })
    peer.broadcast('k', 7)
    assert.deepEqual((await watcher.next()).value, { uri: shown, value: 7 })
    const master = pool.watch('k', { mode: 'rw' })
    assert.deepEqual(master.uris, [], 'no master now')
    master.close()
    watcher.close()
    assert.throws(() => pool.watch('k', { mode: 'master' }), TypeError)
  })
})

// ---------------------------------------------------------------------------------------------
// the real server

describe('watchers on this server', TIMEOUT, () => {
  let server
  let conn
  before(async () => {
    server = await startTarantool()
    conn = await connect(`tester:secret@127.0.0.1:${server.port}`)
  }, TIMEOUT)
  after(async () => {
    if (conn) conn.destroy()
    if (server) await server.stop()
  }, TIMEOUT)

  test('before 2.10: watch and watchOnce are ERR_UNSUPPORTED naming watchers', async (t) => {
    if (conn.protocol.features.includes('watchers')) return t.skip('this server has watchers (see the next test)')
    const err = (() => { try { conn.watch('k') } catch (e) { return e } })()
    assert.ok(err instanceof UnsupportedError)
    assert.equal(err.feature, 'watchers')
    assert.equal(err.serverVersion, conn.transport.serverVersion)
    assert.equal((await rejection(conn.watchOnce('k'))).feature, 'watchers')
    const pool = await connectPool([`127.0.0.1:${server.port}`])
    try {
      assert.throws(() => pool.watch('k'), UnsupportedError)
    } finally {
      await pool.close()
    }
  })

  test('2.10+: box.broadcast reaches the Watcher; watchOnce reads the value', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    const w = conn.watch('kharon.test')
    assert.equal((await w.next()).value, undefined)
    await conn.eval("box.broadcast('kharon.test', {n = 1})")
    assert.deepEqual((await w.next()).value, { n: 1 })
    assert.deepEqual(await conn.watchOnce('kharon.test'), { n: 1 })
    w.close()
  })

  const broadcast = (key, value) => conn.eval('box.broadcast(...)', [key, value])

  test('2.10+: a Watcher nobody iterates holds back no other Watcher of its key, and then gets the latest value', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    const key = 'kharon.idle-sibling'
    const busy = conn.watch(key)
    const idle = conn.watch(key)
    try {
      assert.equal((await withTimeout(busy.next(), 5000, 'the first value')).value, undefined)
      for (let n = 1; n <= 3; n++) {
        const value = busy.next()
        await broadcast(key, { n })
        assert.deepEqual(await withTimeout(value, 5000, `value ${n} while the other Watcher is idle`), { value: { n }, done: false })
      }
      assert.deepEqual(await withTimeout(idle.next(), 5000, 'the idle Watcher'), { value: { n: 3 }, done: false }, 'the latest, not a queue')
      const both = [busy.next(), idle.next()]
      await broadcast(key, { n: 4 })
      assert.deepEqual((await withTimeout(Promise.all(both), 5000, 'value 4')).map((r) => r.value), [{ n: 4 }, { n: 4 }])
    } finally {
      busy.close()
      idle.close()
    }
  })

  test('2.10+: a callback Watcher gets each value while an iterator Watcher of its key sits idle', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    const key = 'kharon.idle-iterator'
    const got = []
    const called = conn.watch(key, (value) => { got.push(value) })
    const idle = conn.watch(key)
    try {
      await until(() => got.length === 1, 'the first value')
      for (let n = 1; n <= 3; n++) {
        await broadcast(key, { n })
        await until(() => got.length === n + 1, `value ${n}`)
      }
      assert.deepEqual(got, [undefined, { n: 1 }, { n: 2 }, { n: 3 }])
      assert.deepEqual(await withTimeout(idle.next(), 5000, 'the idle Watcher'), { value: { n: 3 }, done: false })
    } finally {
      called.close()
      idle.close()
    }
  })

  test('2.10+: a slow callback alone paces the server (no EVENT until it returns, then the latest); beside a Watcher that asks, it skips to the latest', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    // The Watchers are on a connection of their own, so that its bytes are EVENTs only.
    const solo = await connect(`tester:secret@127.0.0.1:${server.port}`, { heartbeat: false })
    try {
      for (const withSibling of [false, true]) {
        const key = `kharon.slow-callback-${withSibling}`
        const got = []
        let release
        const slow = solo.watch(key, async (value) => {
          got.push(value)
          if (value?.n === 1) await new Promise((resolve) => { release = resolve })
        })
        const sibling = withSibling ? solo.watch(key) : null
        await until(() => got.length === 1, 'the first value')
        if (sibling !== null) assert.equal((await sibling.next()).value, undefined)
        let asked = sibling?.next()
        await broadcast(key, { n: 1 })
        await until(() => got.length === 2, 'value 1')
        if (sibling !== null) assert.deepEqual((await withTimeout(asked, 5000, 'value 1')).value, { n: 1 })
        const bytes = solo.stats().bytesReceived
        for (const n of [2, 3]) {
          asked = sibling?.next()
          await broadcast(key, { n })
          if (sibling !== null) assert.deepEqual((await withTimeout(asked, 5000, `value ${n}`)).value, { n }, 'the sibling goes on')
        }
        if (sibling === null) {
          await sleep(100)
          assert.equal(solo.stats().bytesReceived, bytes, 'no EVENT while the lone callback runs: it was not acked')
        }
        release()
        await until(() => got.length === 3, 'the value after the callback returned')
        assert.deepEqual(got, [undefined, { n: 1 }, { n: 3 }], 'value 2 skipped: the latest only')
        slow.close()
        sibling?.close()
      }
    } finally {
      solo.destroy()
    }
  })

  /**
   * watch() and watchOnce() on `c`, closing or closed, all called at once: each fails with
   * ERR_CONNECTION_CLOSED (`cause`: `lostWith`) and nothing is called back.
   */
  async function assertWatchingRefused(c, lostWith) {
    let called = false
    const iterated = c.watch('kharon.closed')
    const withCallback = c.watch('kharon.closed', () => { called = true })
    const once = c.watchOnce('kharon.closed')
    const onceWithOptions = c.watchOnce('kharon.closed', { timeout: 30000 })
    assert.deepEqual([iterated.closed, withCallback.closed], [true, true])
    for (const [err, what] of [
      [await settled(iterated.next(), 'next()'), 'next()'],
      [await settled(once, 'watchOnce'), 'watchOnce'],
      [await settled(onceWithOptions, 'watchOnce with a timeout'), 'watchOnce with a timeout'],
      [await settled((async () => { for await (const v of c.watch('k')) assert.fail(`a value: ${v}`) })(), 'for await'), 'for await'],
    ]) {
      assert.equal(err.code, 'ERR_CONNECTION_CLOSED', `${what}: ${err}`)
      assert.equal(err.cause, lostWith, what)
    }
    assert.deepEqual(await iterated.next(), { value: undefined, done: true }, 'then the Watcher is done')
    await sleep(10)
    assert.equal(called, false)
  }

  test('2.10+: on a connection closing, closed or destroyed, watch() and watchOnce() fail with ERR_CONNECTION_CLOSED', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    const uri = `tester:secret@127.0.0.1:${server.port}`
    const closing = await connect(uri)
    const done = closing.close()
    assert.equal(closing.state, 'closing')
    await assertWatchingRefused(closing, undefined)
    await done
    await assertWatchingRefused(closing, undefined)
    const destroyed = await connect(uri)
    const open = destroyed.watch('kharon.closed')
    destroyed.destroy()
    assert.equal(open.closed, true, 'an open Watcher ends with the connection')
    assert.deepEqual(await open.next(), { value: undefined, done: true })
    await assertWatchingRefused(destroyed, undefined)
  })

  test('2.10+: lost with reconnect: false, or reconnecting gave up: watch() and watchOnce() fail with ERR_CONNECTION_CLOSED caused by the loss', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    const proxy = await startProxy(() => ({ host: '127.0.0.1', port: server.port }))
    const uri = `tester:secret@127.0.0.1:${proxy.port}`
    try {
      const lost = await connect(uri, { reconnect: false })
      const open = lost.watch('kharon.lost')
      assert.equal((await withTimeout(open.next(), 5000, 'the first value')).value, undefined)
      const pending = open.next()
      const disconnected = next(lost, 'disconnect')
      proxy.dropAll()
      const loss = await withTimeout(disconnected, 5000, "'disconnect'")
      assert.equal(lost.state, 'closed')
      assert.equal(await settled(pending, 'the open Watcher'), loss, 'an open Watcher fails with the loss')
      await assertWatchingRefused(lost, loss)

      const gaveUp = await connect(uri, { reconnect: { initialDelay: 10, maxDelay: 10, maxRetries: 1 } })
      const failed = next(gaveUp, 'error')
      await proxy.close() // the reconnect is refused
      const last = await withTimeout(failed, 10000, "'error' (reconnecting gave up)")
      assert.equal(gaveUp.state, 'closed')
      await assertWatchingRefused(gaveUp, last)
    } finally {
      await proxy.close()
    }
  })

  test('2.10+: Watchers made on a closed connection keep no process alive', async (t) => {
    if (!conn.protocol.features.includes('watchers')) return t.skip('needs watchers (2.10+)')
    for (const how of ['close', 'destroy']) {
      const r = await runFixture('watch-closed.js', [server.port, how], 15000)
      assert.equal(r.hung, false, `${how}: still running after 15 s: ${r.stdout}${r.stderr}`)
      assert.deepEqual([r.code, r.signal], [0, null], r.stderr)
      assert.match(r.stdout, /closed: true true/)
      assert.match(r.stdout, /watchOnce ERR_CONNECTION_CLOSED/)
      assert.match(r.stdout, /callback called: false/)
    }
  })
})

describe('SIGTERM with requests in flight, on this server', TIMEOUT, () => {
  test('2.10+: none is lost (the drain); before: those in flight fail with ConnectionError, the rest wait', async () => {
    const server = await startTarantool()
    const conn = await connect(`tester:secret@127.0.0.1:${server.port}`, { reconnect: { initialDelay: 20, maxDelay: 100 } })
    try {
      const graceful = conn.protocol.features.includes('watchers')
      const events = []
      for (const e of ['shutdown', 'disconnect', 'connect']) conn.on(e, () => events.push(e))
      const calls = []
      const issue = () => calls.push(conn.call('sleep_then', [0.01, calls.length]).then((v) => ({ ok: v[0] }), (err) => ({ err })))
      for (let i = 0; i < 1000; i++) issue()
      let producing = true
      const producer = (async () => {
        while (producing) {
          issue()
          await sleep(2)
        }
      })()
      await sleep(5) // the first thousand are on the server
      await server.kill('SIGTERM')
      const reconnected = next(conn, 'connect')
      await server.start()
      await withTimeout(reconnected, 20000, 'reconnect to the restarted server')
      const afterReconnect = calls.length
      await sleep(100)
      producing = false
      await producer
      const outcomes = await Promise.all(calls)
      const failed = outcomes.filter((o) => o.err !== undefined)
      if (graceful) {
        assert.deepEqual(failed.map((o) => `${o.err.name}: ${o.err.message}`), [], 'no request is lost')
        assert.equal(events[0], 'shutdown')
      } else {
        // No shutdown event: the socket closes at once, and what was in flight fails.
        for (const { err } of failed) assert.ok(err.name === 'ConnectionError', `${err.name}: ${err.message}`)
        assert.deepEqual(outcomes.slice(afterReconnect).filter((o) => o.err !== undefined), [], 'requests after the reconnect succeed')
        assert.equal(events.includes('shutdown'), false)
      }
      assert.ok(outcomes.length > 1000)
      outcomes.forEach((o, i) => { if (o.err === undefined) assert.equal(o.ok, i) })
    } finally {
      conn.destroy()
      await server.stop()
    }
  })
})

describe('a pool over a RAFT replica set (2.10+)', TIMEOUT, () => {
  test('killing the leader moves writes to the newly elected one, and nothing issued meanwhile hangs', async (t) => {
    if (!atLeast(2, 10)) return t.skip('needs RAFT elections and box.status (2.10+)')
    const rs = await startReplicaSet({ replicas: 2, election: true })
    const uri = (m) => `tester:secret@${m.uri}`
    const pool = await connectPool(rs.members.map(uri), { checkInterval: 200, reconnect: { initialDelay: 20, maxDelay: 200 } })
    try {
      const [leaderUuid] = await pool.call('whoami', [], { mode: 'rw', timeout: 10000 })
      const uuids = await Promise.all(rs.members.map(async (m) => {
        const c = await connect(uri(m), { reconnect: false })
        try { return (await c.call('whoami'))[0] } finally { c.destroy() }
      }))
      const leader = rs.members[uuids.indexOf(leaderUuid)]
      await leader.kill('SIGKILL')
      const killedAt = Date.now()
      let movedAt = null
      for (let i = 0; movedAt === null; i++) {
        assert.ok(Date.now() - killedAt < 20000, 'no new leader took writes within 20 s')
        const started = Date.now()
        try {
          await pool.insert('test', [i, 'after the election'], { mode: 'rw', timeout: 1000 })
          movedAt = Date.now()
        } catch (err) {
          assert.ok(Date.now() - started < 1500, `a write hung for ${Date.now() - started} ms: ${err.message}`)
          await sleep(20)
        }
      }
      const [newUuid, ro] = await pool.call('whoami', [], { mode: 'rw' })
      assert.notEqual(newUuid, leaderUuid)
      assert.equal(ro, false)
      // A dead leader is noticed after 1 s (4 replication timeouts of 0.25 s), then the election
      // takes up to its timeout (1 s): the pool must follow within one second of that.
      t.diagnostic(`writes moved ${movedAt - killedAt} ms after the leader was killed`)
      assert.ok(movedAt - killedAt < 1000 + 1000 + 1000 + 2000, `${movedAt - killedAt} ms`)
    } finally {
      await pool.close()
      await rs.stop()
    }
  })
})

