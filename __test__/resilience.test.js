'use strict'

// Resilience of the client against a real Tarantool: deadlines and abort signals that leave
// nothing behind, a server killed with SIGKILL (everything in flight fails fast, nothing is
// replayed), reconnecting with backoff while requests wait in the offline queue, giving up,
// graceful and immediate closing, what keeps the event loop alive, and passwords that never
// show up in errors or util.inspect.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { getEventListeners, setMaxListeners } = require('node:events')
const path = require('node:path')
const util = require('node:util')

const {
  connect, Transport, Credentials, IPROTO,
  KharonError, ConnectionError, TimeoutError, AbortError, TarantoolError,
} = require('..')
const { startTarantool, stopAll } = require('./helpers/tarantool')
const { next, rejection, sleep, withTimeout, waitFor } = require('./helpers/wait')
const { evalBody } = require('./helpers/msgpack')

const HOST = '127.0.0.1'
const FIXTURES = path.join(__dirname, 'fixtures')
const TIMEOUT = { timeout: 120000 } // for each suite and hook: nothing here may hang the run
let server // stays up for the whole file
let conn // tester on `server`

before(async () => {
  server = await startTarantool()
  conn = await connect(uri(server))
}, TIMEOUT)

after(async () => {
  if (conn) conn.destroy()
  await stopAll()
}, TIMEOUT)

function uri(srv, user = 'tester', password = 'secret') {
  return `${user}:${password}@${HOST}:${srv.port}`
}

/** Resolves with the first argument of the next `event`. */
/** Records the connection's lifecycle events with their time: [{ name, arg, at }]. */
function recordEvents(c) {
  const events = []
  for (const name of ['disconnect', 'reconnecting', 'connect', 'close']) {
    c.on(name, (arg) => events.push({ name, arg, at: performance.now() }))
  }
  return events
}

/** Tracks a thenable's outcome without awaiting it: { settled, value, error }. */
function track(thenable) {
  const s = { settled: false, value: undefined, error: undefined }
  s.done = Promise.resolve(thenable).then(
    (v) => { s.settled = true; s.value = v },
    (e) => { s.settled = true; s.error = e },
  )
  return s
}

/** True when no request is using `sync` (pending or given up on with its response still due). */
function syncFree(transport, sync) {
  const saved = transport.nextSync
  transport.nextSync = sync
  const free = transport.nextSync === sync
  transport.nextSync = saved
  return free
}

/** Kills the server and waits for every connection's 'disconnect'; resolves to their errors. */
async function killAndWaitForLoss(victim, ...conns) {
  const lost = Promise.all(conns.map((c) => next(c, 'disconnect')))
  await victim.kill()
  return withTimeout(lost, 2000, "'disconnect' after the kill")
}

function assertConnectionError(err, what) {
  assert.ok(err instanceof ConnectionError, `${what}: expected ConnectionError, got ${err && err.name}: ${err && err.message}`)
  assert.equal(typeof err.code, 'string', `${what}: code`)
  assert.ok(err.code.length > 0, `${what}: empty code`)
}

// A socket lost to SIGKILL reports ECONNRESET or another OS code, never our own codes.
function assertLossError(err, what) {
  assertConnectionError(err, what)
  assert.match(err.code, /^E[A-Z]+$/, `${what}: ${err.code} is not an OS-style code`)
}

function activeTimeouts() {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

// ---------------------------------------------------------------------------------------------
// deadlines and abort signals

describe('timeouts and aborts', TIMEOUT, () => {
  test("a timed-out request rejects with TimeoutError; its SYNC is not reused until the late response arrives", async () => {
    const c = await connect(uri(server))
    try {
      const t = c.transport
      const S = 700000
      t.nextSync = S
      const started = performance.now()
      const late = c.call('sleep_then', [0.5, 'late'], { timeout: 50 })
      assert.equal(t.pending, 1)
      const err = await rejection(late)
      const waited = performance.now() - started
      assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`)
      assert.ok(err instanceof KharonError)
      assert.equal(err.name, 'TimeoutError')
      assert.equal(err.code, 'ETIMEDOUT')
      assert.ok(waited >= 45 && waited < 450, `rejected after ${waited} ms, not at the 50 ms timeout`)
      assert.equal(t.pending, 0, 'the timed-out request still counts as pending')

      // The late response is still on its way: S stays reserved.
      assert.equal(syncFree(t, S), false, 'the SYNC of the timed-out request was freed before its response came')
      t.nextSync = S
      assert.equal(t.nextSync, S + 1, 'nextSync should skip the SYNC whose response is still due')
      assert.deepEqual(await c.call('echo', ['meanwhile']), ['meanwhile'])

      await waitFor(() => syncFree(t, S), 3000, 'the late response to free its SYNC')
      assert.ok(performance.now() - started >= 480, 'the SYNC was freed before the server could have answered')
      assert.equal(t.pending, 0)
      // Reusing S now is safe: the new request gets its own response.
      t.nextSync = S
      assert.deepEqual(await c.call('sleep_then', [0.05, 'fresh']), ['fresh'])
      assert.equal(c.state, 'connected')
    } finally {
      c.destroy()
    }
  })

  test('2,000 requests, each aborted or timed out, leave no pending request, listener or timer behind', async () => {
    const c = await connect(uri(server))
    try {
      const t = c.transport
      const longLived = new AbortController() // shared by many requests, never aborted
      setMaxListeners(0, longLived.signal)
      const timersBefore = activeTimeouts()
      const first = t.nextSync
      const outcomes = []
      const ownSignals = []
      for (let i = 0; i < 2000; i++) {
        if (i % 2 === 0) {
          // times out; its listener on the long-lived signal must go
          outcomes.push({ kind: 'timeout', p: c.call('sleep_then', [0.2, i], { timeout: 1 + (i % 20), signal: longLived.signal }) })
        } else {
          // aborted through its own signal; its (long) timeout timer must go
          const ac = new AbortController()
          const reason = new Error(`abort ${i}`)
          ownSignals.push(ac.signal)
          outcomes.push({ kind: 'abort', reason, p: c.eval('require("fiber").sleep(0.2) return ...', [i], { signal: ac.signal, timeout: 60000 }) })
          if (i % 4 === 1) ac.abort(reason) // right away, while the request is being written
          else setTimeout(() => ac.abort(reason), i % 7)
        }
      }
      // and some that complete normally with the long-lived signal attached
      const completed = []
      for (let i = 0; i < 50; i++) completed.push(c.call('echo', [i], { signal: longLived.signal, timeout: 60000 }))
      assert.ok(getEventListeners(longLived.signal, 'abort').length > 0, 'requests should listen on the signal while pending')

      const settled = await withTimeout(Promise.allSettled(outcomes.map((o) => o.p)), 10000, 'the 2,000 requests to settle')
      assert.deepEqual(await Promise.all(completed), Array.from({ length: 50 }, (_, i) => [i]))
      for (let i = 0; i < settled.length; i++) {
        assert.equal(settled[i].status, 'rejected', `request ${i} was answered instead of timing out or being aborted`)
        const err = settled[i].reason
        if (outcomes[i].kind === 'timeout') {
          assert.ok(err instanceof TimeoutError, `request ${i}: ${err.name}: ${err.message}`)
          assert.equal(err.code, 'ETIMEDOUT')
        } else {
          assert.ok(err instanceof AbortError, `request ${i}: ${err.name}: ${err.message}`)
          assert.equal(err.name, 'AbortError')
          assert.equal(err.cause, outcomes[i].reason)
        }
      }
      assert.equal(t.pending, 0)
      assert.equal(getEventListeners(longLived.signal, 'abort').length, 0, 'listeners left on the long-lived signal')
      for (const s of ownSignals) assert.equal(getEventListeners(s, 'abort').length, 0)
      const leftTimers = activeTimeouts() - timersBefore
      assert.ok(leftTimers < 10, `${leftTimers} timers left behind by settled requests`)

      // The late responses come and are dropped; then every SYNC used is free again.
      const last = t.nextSync
      await waitFor(() => {
        for (let s = first; s < last; s++) if (!syncFree(t, s)) return false
        return true
      }, 10000, 'the late responses to arrive')
      assert.equal(t.pending, 0)
      assert.deepEqual(await c.call('echo', ['after']), ['after'])
      assert.equal(c.state, 'connected')
    } finally {
      c.destroy()
    }
  })

  test('an already-aborted signal rejects without sending anything', async () => {
    const reason = { why: 'aborted before the call' }
    const signal = AbortSignal.abort(reason)
    const t = conn.transport
    const syncBefore = t.nextSync
    const marker = `marker_${process.pid}_${Date.now()}`
    const calls = [
      conn.eval(`rawset(_G, '${marker}', true)`, [], { signal }),
      conn.call('echo', [1], { signal, timeout: 1000 }),
      conn.ping({ signal }),
      conn.execute('SELECT 1', [], { signal }),
    ]
    assert.equal(t.pending, 0, 'an aborted request was sent')
    assert.equal(t.nextSync, syncBefore, 'an aborted request took a SYNC')
    for (const err of await Promise.all(calls.map(rejection))) {
      assert.ok(err instanceof AbortError, `${err.name}: ${err.message}`)
      assert.equal(err.name, 'AbortError')
      assert.equal(err.code, 'ABORT_ERR')
      assert.equal(err.cause, reason)
    }
    // iterating the pushes of an aborted call fails the same way
    let iterErr = null
    try {
      for await (const _ of conn.call('pushes', [3], { signal })) assert.fail('yielded a push')
    } catch (err) {
      iterErr = err
    }
    assert.ok(iterErr instanceof AbortError)
    // the raw transport too
    const raw = await rejection(t.request(IPROTO.EVAL, evalBody(`rawset(_G, '${marker}', true)`), { signal }))
    assert.ok(raw instanceof AbortError)
    assert.equal(raw.cause, reason)
    assert.deepEqual(await conn.eval(`return rawget(_G, '${marker}')`), [null], 'an aborted eval ran on the server')
  })
})

// ---------------------------------------------------------------------------------------------
// the server dies

describe('losing the connection', TIMEOUT, () => {
  test('SIGKILL: every pending request and every open push iterator rejects with ConnectionError within 1 s', async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim))
    try {
      const disconnected = next(c, 'disconnect')
      const pending = []
      for (let i = 0; i < 20; i++) pending.push(c.call('sleep_then', [30, i]))
      pending.push(c.eval('require("fiber").sleep(30)'))
      pending.push(c.ping({ timeout: 60000 }).then(() => c.call('sleep_then', [30, 'after ping'])))
      const failures = pending.map(rejection) // handled from the start
      const iterators = []
      for (let k = 0; k < 5; k++) {
        const call = c.call('push_slowly', [100, 0.05])
        const it = { got: [], error: null, at: 0, call }
        it.done = (async () => {
          try {
            for await (const v of call) it.got.push(v)
          } catch (err) {
            it.error = err
            it.at = performance.now()
          }
        })()
        iterators.push(it)
      }
      await waitFor(() => iterators.every((it) => it.got.length >= 2), 3000, 'every iterator to receive pushes')
      await sleep(20)

      const killedAt = performance.now()
      await victim.kill()
      const errors = await withTimeout(Promise.all(failures), 1000, 'pending rejections')
      await withTimeout(Promise.all(iterators.map((it) => it.done)), 1000, 'iterators ending')
      const lossErr = await withTimeout(disconnected, 1000, "'disconnect'")
      assert.ok(performance.now() - killedAt <= 1000)

      errors.forEach((err, i) => assertLossError(err, `pending request ${i}`))
      for (const [k, it] of iterators.entries()) {
        assert.ok(it.error !== null, `iterator ${k} ended silently after ${it.got.length} pushes`)
        assertLossError(it.error, `iterator ${k}`)
        assert.ok(it.at - killedAt < 1000, `iterator ${k} threw ${it.at - killedAt} ms after the kill`)
        assert.deepEqual(it.got, Array.from({ length: it.got.length }, (_, i) => i + 1), 'pushes before the loss arrive in order')
        assert.ok(it.got.length < 100)
        assertLossError(await rejection(it.call), `the call of iterator ${k}`)
      }
      assertLossError(lossErr, "'disconnect' argument")
      assert.equal(c.transport.pending, 0)
      assert.equal(c.state, 'reconnecting')
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test('reconnect: disconnect → reconnecting (backoff up to maxDelay) → connect; user and schema are restored', async () => {
    const victim = await startTarantool()
    const initialDelay = 40
    const maxDelay = 160
    const c = await connect(uri(victim), { reconnect: { initialDelay, maxDelay } })
    try {
      const events = recordEvents(c)
      const oldTransport = c.transport
      const fetchesBefore = c.schema.fetches
      assert.deepEqual(await c.eval('return box.session.user()'), ['tester'])

      await killAndWaitForLoss(victim, c)
      assert.equal(c.state, 'reconnecting')
      await sleep(1200) // server down: several attempts fail
      assert.equal(c.state, 'reconnecting')
      const reconnected = next(c, 'connect')
      await victim.start()
      await withTimeout(reconnected, 5000, "'connect' after the restart")

      const names = events.map((e) => e.name)
      assert.equal(names[0], 'disconnect')
      assert.equal(names[names.length - 1], 'connect')
      assert.equal(names.filter((n) => n === 'connect').length, 1)
      assert.ok(!names.includes('close'))
      const tries = events.filter((e) => e.name === 'reconnecting')
      assert.deepEqual(names, ['disconnect', ...tries.map(() => 'reconnecting'), 'connect'])
      assert.ok(tries.length >= 5, `only ${tries.length} attempts in 1.2 s`)
      assert.deepEqual(tries.map((e) => e.arg.attempt), tries.map((_, i) => i + 1), 'attempts count 1, 2, 3, …')

      const delays = tries.map((e) => e.arg.delay)
      for (const d of delays) assert.ok(Number.isFinite(d) && d > 0 && d <= maxDelay, `delay ${d} outside (0, ${maxDelay}]: ${delays}`)
      assert.ok(delays[0] <= initialDelay, `first delay ${delays[0]} > initialDelay: ${delays}`)
      // exponential growth while under the cap (the jitter never takes a delay below half its step)
      assert.ok(delays[1] >= delays[0] && delays[2] >= delays[1], `delays do not grow: ${delays}`)
      for (const d of delays.slice(3)) assert.ok(d >= maxDelay / 2, `delay ${d} after the cap is below maxDelay/2: ${delays}`)
      assert.ok(Math.max(...delays.slice(3)) > delays[0])
      // each attempt really waited its delay
      for (let k = 1; k < tries.length; k++) {
        const gap = tries[k].at - tries[k - 1].at
        assert.ok(gap >= delays[k - 1] - 2, `attempt ${k + 1} came ${gap} ms after attempt ${k}, its delay was ${delays[k - 1]}`)
      }
      assertLossError(events[0].arg, "'disconnect' argument")
      assert.equal(tries[0].arg.error, events[0].arg, 'the first attempt reports the loss')
      // (an attempt that lands while the restarted server bootstraps may fail authentication)
      for (const e of tries.slice(1)) {
        assert.ok(e.arg.error instanceof KharonError, `attempt ${e.arg.attempt}: ${e.arg.error}`)
      }
      assert.ok(tries.slice(1).some((e) => e.arg.error.code === 'ECONNREFUSED'))

      assert.equal(c.state, 'connected')
      assert.notEqual(c.transport, oldTransport)
      assert.equal(c.transport.closed, false)
      assert.deepEqual(await c.eval('return box.session.user()'), ['tester'], 'authenticated as the same user again')
      assert.ok(c.schema.fetches > fetchesBefore, 'the schema was not refetched')
      assert.deepEqual(await c.select('test', 'pk', [1]), [[1, 'hello', 42]])
      assert.deepEqual(await c.call('echo', ['back']), ['back'])
      assert.equal(c.queued, 0)
      assert.equal(c.transport.pending, 0)
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test('requests issued while disconnected are queued and complete after the restart; timeout and abort apply in the queue', async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim), { reconnect: { initialDelay: 20, maxDelay: 100 } })
    try {
      await killAndWaitForLoss(victim, c)
      assert.equal(c.state, 'reconnecting')

      const user = c.eval('return box.session.user(), ...', ['queued'])
      const byName = c.select('test', 'pk', [1])
      const withLongTimeout = c.call('sleep_then', [0.01, 'long timeout'], { timeout: 10000 })
      const pushing = c.eval('for i = 1, 3 do box.session.push(i * 10) end return "pushed"')
      const short = c.eval('return "short"', [], { timeout: 200 })
      const ac = new AbortController()
      const aborted = c.eval('return "aborted"', [], { signal: ac.signal })
      const shortT = track(short)
      const abortedT = track(aborted)
      await sleep(0) // select resolves its names first
      assert.equal(c.queued, 6)
      assert.equal(c.transport.pending, 0)

      await sleep(50)
      const reason = new Error('no longer needed')
      ac.abort(reason)
      assert.equal(c.queued, 5, 'the aborted request left the queue at once')
      const abortedAt = performance.now()
      const abortErr = await rejection(aborted)
      assert.ok(performance.now() - abortedAt < 50, 'the queued request did not reject at once on abort')
      assert.ok(abortErr instanceof AbortError, `${abortErr.name}: ${abortErr.message}`)
      assert.equal(abortErr.name, 'AbortError')
      assert.equal(abortErr.cause, reason)
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
      assert.equal(shortT.settled, false)

      const timeoutErr = await rejection(short)
      assert.ok(timeoutErr instanceof TimeoutError, `${timeoutErr.name}: ${timeoutErr.message}`)
      assert.equal(timeoutErr.code, 'ETIMEDOUT')
      assert.equal(c.queued, 4)
      assert.equal(c.state, 'reconnecting')
      await sleep(200)

      const reconnected = next(c, 'connect')
      await victim.start()
      const pushes = []
      for await (const v of pushing) pushes.push(v)
      assert.deepEqual(pushes, [10, 20, 30], 'pushes of a queued request')
      assert.deepEqual(await pushing, ['pushed'])
      assert.deepEqual(await user, ['tester', 'queued'])
      assert.deepEqual(await byName, [[1, 'hello', 42]])
      assert.deepEqual(await withLongTimeout, ['long timeout'])
      await withTimeout(reconnected, 5000, "'connect'")
      assert.equal(c.queued, 0)
      assert.equal(c.transport.pending, 0)
      await shortT.done
      await abortedT.done
      assert.ok(shortT.error instanceof TimeoutError && abortedT.error instanceof AbortError, 'settled once, with their own errors')
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test('requests in flight at the loss fail with ConnectionError and are not replayed after the reconnect', async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim), { reconnect: { initialDelay: 20, maxDelay: 100 } })
    try {
      // Side effects first, then a long sleep: a replay on the restarted server would show at once.
      let started
      const startedP = new Promise((resolve) => { started = resolve })
      const inFlight = c.eval(`
        rawset(_G, 'runs', (rawget(_G, 'runs') or 0) + 1)
        box.space.test:replace{777, 'ran'}
        box.session.push('started')
        require('fiber').sleep(30)
        return 'finished'`, [], { onPush: () => started() })
      const inFlightT = track(inFlight)
      await withTimeout(startedP, 2000, 'the in-flight eval to start')
      assert.deepEqual(await c.eval("return rawget(_G, 'runs')"), [1])

      const reconnected = next(c, 'connect')
      await victim.kill()
      await inFlightT.done
      assertLossError(inFlightT.error, 'the in-flight request')
      await victim.start()
      await withTimeout(reconnected, 5000, "'connect'")
      await sleep(300)
      assert.deepEqual(await c.eval("return rawget(_G, 'runs')"), [null], 'the in-flight request was sent again after the reconnect')
      assert.deepEqual(await c.select('test', 'pk', [777]), [], 'the in-flight request ran again after the reconnect')
      assert.equal(c.transport.pending, 0)
      assert.equal(c.queued, 0)
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  // From a 'disconnect' listener the connection is already lost: a request issued there must
  // be queued for the reconnect like any other issued while disconnected.
  test("a request issued inside a 'disconnect' listener is queued and completes after the restart", async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim), { reconnect: { initialDelay: 20, maxDelay: 100 } })
    try {
      let stateInListener = null
      let queuedInListener = null
      let issued = null
      c.once('disconnect', () => {
        stateInListener = c.state
        issued = track(c.eval('return ...', ['from the listener']))
        queuedInListener = c.queued
      })
      await killAndWaitForLoss(victim, c)
      await victim.start()
      await withTimeout(issued.done, 5000, 'the request issued in the listener')
      assert.equal(issued.error, undefined, `the request issued in the listener failed: ${issued.error && `${issued.error.code} ${issued.error.message}`}`)
      assert.deepEqual(issued.value, ['from the listener'])
      assert.equal(queuedInListener, 1, 'the request issued in the listener was not queued')
      assert.equal(stateInListener, 'reconnecting', "conn.state inside the 'disconnect' listener")
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test('offlineQueue: false — requests while disconnected fail at once with ERR_NOT_CONNECTED', async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim), { offlineQueue: false, reconnect: { initialDelay: 20, maxDelay: 50 } })
    try {
      const [lossErr] = await killAndWaitForLoss(victim, c)
      assert.equal(c.state, 'reconnecting')
      const started = performance.now()
      const errs = await Promise.all([c.call('echo', [1]), c.ping(), c.eval('return 1', [], { timeout: 5000 })].map(rejection))
      assert.ok(performance.now() - started < 100, 'did not fail at once')
      for (const err of errs) {
        assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'ERR_NOT_CONNECTED')
        assert.equal(err.cause, lossErr)
      }
      assert.equal(c.queued, 0)
      const reconnected = next(c, 'connect')
      await victim.start()
      await withTimeout(reconnected, 5000, "'connect'")
      assert.deepEqual(await c.call('echo', ['back']), ['back'])
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test('offlineQueueLimit: 2 — the third queued request fails with ERR_OFFLINE_QUEUE_FULL; the two queued complete', async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim), { offlineQueueLimit: 2, reconnect: { initialDelay: 20, maxDelay: 50 } })
    try {
      await killAndWaitForLoss(victim, c)
      const a = c.eval('return "a"')
      const b = c.eval('return "b"')
      const full = await rejection(c.eval('return "c"'))
      assert.ok(full instanceof ConnectionError, `${full.name}: ${full.message}`)
      assert.equal(full.code, 'ERR_OFFLINE_QUEUE_FULL')
      assert.equal(c.queued, 2)
      await victim.start()
      assert.deepEqual(await withTimeout(Promise.all([a, b]), 5000, 'queued requests'), [['a'], ['b']])
      assert.equal(c.queued, 0)
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test("reconnect: false — after the loss the connection is closed: 'close' is emitted, later requests fail", async () => {
    const victim = await startTarantool()
    const c = await connect(uri(victim), { reconnect: false })
    try {
      const events = recordEvents(c)
      const pending = c.call('sleep_then', [30, 'x'])
      await sleep(20)
      const closed = next(c, 'close')
      await victim.kill()
      await withTimeout(closed, 1000, "'close'")
      assertLossError(await rejection(pending), 'in-flight request')
      assert.equal(c.state, 'closed')
      assert.equal(c.closed, true)
      assert.deepEqual(events.map((e) => e.name), ['disconnect', 'close'])
      for (const err of await Promise.all([c.call('echo', [1]), c.ping(), c.select('test')].map(rejection))) {
        assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'ERR_CONNECTION_CLOSED')
      }
      assert.equal(c.queued, 0)
      // It does not come back when the server does.
      await victim.start()
      await sleep(300)
      assert.equal(c.state, 'closed')
      assert.deepEqual(events.map((e) => e.name), ['disconnect', 'close'])
      await c.close() // harmless
    } finally {
      c.destroy()
      await victim.stop()
    }
  })

  test("reconnect: { maxRetries: 2 } with the server down: 'error' after 2 attempts, queued requests fail, closed", async () => {
    const victim = await startTarantool()
    const opts = { reconnect: { maxRetries: 2, initialDelay: 20 } }
    const c = await connect(uri(victim), opts)
    const quiet = await connect(uri(victim), opts) // nobody listens for 'error' on this one
    try {
      const events = recordEvents(c)
      const errors = []
      c.on('error', (err) => {
        events.push({ name: 'error', arg: err })
        errors.push(err)
      })
      const gaveUp = next(c, 'error')
      const quietClosed = next(quiet, 'close')
      // queued as soon as the first attempt is announced, well before the last one fails
      let queued
      let queuedCount
      let quietQueued
      c.once('reconnecting', () => {
        queued = [c.eval('return 1'), c.call('echo', [2], { timeout: 10000 })]
        queuedCount = c.queued
      })
      quiet.once('reconnecting', () => { quietQueued = quiet.eval('return 3') })
      await killAndWaitForLoss(victim, c)
      assert.equal(queuedCount, 2)

      const err = await withTimeout(gaveUp, 3000, "'error'")
      assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ECONNREFUSED')
      assert.match(err.message, /2 attempts/)
      assert.ok(err.cause instanceof ConnectionError)
      assert.equal(errors.length, 1)
      const names = events.map((e) => e.name)
      assert.deepEqual(names, ['disconnect', 'reconnecting', 'reconnecting', 'error', 'close'])
      assert.deepEqual(events.filter((e) => e.name === 'reconnecting').map((e) => e.arg.attempt), [1, 2])
      for (const q of await Promise.all(queued.map(rejection))) {
        assert.ok(q instanceof ConnectionError, `${q.name}: ${q.message}`)
        assert.equal(q.code, 'ECONNREFUSED')
      }
      assert.equal(c.queued, 0)
      assert.equal(c.state, 'closed')
      const later = await rejection(c.ping())
      assert.equal(later.code, 'ERR_CONNECTION_CLOSED')

      // Without an 'error' listener giving up is not an uncaught error: it just closes.
      await withTimeout(quietClosed, 3000, "'close' without an 'error' listener")
      assert.equal(quiet.state, 'closed')
      assert.ok((await rejection(quietQueued)) instanceof ConnectionError)
    } finally {
      c.destroy()
      quiet.destroy()
      await victim.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// closing

describe('closing', TIMEOUT, () => {
  test("close() waits for in-flight requests and pushes, which resolve; 'close' is emitted once", async () => {
    const c = await connect(uri(server))
    let closeEvents = 0
    c.on('close', () => closeEvents++)
    const slow = c.call('sleep_then', [0.3, 'slow'])
    const fast = c.call('sleep_then', [0.05, 'fast'])
    const pushing = c.call('push_slowly', [3, 0.05])
    const pushed = (async () => {
      const got = []
      for await (const v of pushing) got.push(v)
      return got
    })()
    const started = performance.now()
    const closing = c.close()
    assert.equal(c.state, 'closing')
    assert.equal(c.close(), closing, 'a second close() returns the same promise')
    const refused = await rejection(c.call('echo', [1]))
    assert.equal(refused.code, 'ERR_CONNECTION_CLOSED')
    assert.equal(closeEvents, 0)
    await closing
    assert.ok(performance.now() - started >= 280, 'close() did not wait for the slow request')
    assert.deepEqual(await slow, ['slow'])
    assert.deepEqual(await fast, ['fast'])
    assert.deepEqual(await pushed, [1, 2, 3])
    assert.deepEqual(await pushing, ['done'])
    assert.equal(c.state, 'closed')
    assert.equal(c.transport.closed, true)
    assert.equal(closeEvents, 1)
    c.destroy()
    await c.close()
    assert.equal(closeEvents, 1)
  })

  test('close({ timeout: 50 }) fails a slow request with ERR_CONNECTION_CLOSED; a quick one still resolves', async () => {
    const c = await connect(uri(server))
    const slow = track(c.call('sleep_then', [3, 'slow']))
    const quick = c.call('sleep_then', [0.01, 'quick'])
    const started = performance.now()
    await c.close({ timeout: 50 })
    const took = performance.now() - started
    assert.ok(took >= 45 && took < 1000, `close took ${took} ms`)
    assert.deepEqual(await quick, ['quick'])
    await slow.done
    assert.ok(slow.error instanceof ConnectionError, `${slow.error}`)
    assert.equal(slow.error.code, 'ERR_CONNECTION_CLOSED')
    assert.equal(c.state, 'closed')
  })

  test('destroy() fails in-flight requests and push iterators at once', async () => {
    const c = await connect(uri(server))
    let closeEvents = 0
    c.on('close', () => closeEvents++)
    const pending = track(c.call('sleep_then', [5, 'x']))
    const pushing = c.call('push_slowly', [100, 0.02])
    const it = { got: [], error: null }
    it.done = (async () => {
      try {
        for await (const v of pushing) it.got.push(v)
      } catch (err) {
        it.error = err
      }
    })()
    await waitFor(() => it.got.length >= 2, 3000, 'pushes')
    c.destroy()
    assert.equal(c.state, 'closed')
    assert.equal(closeEvents, 1, "'close' is emitted synchronously")
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(pending.settled, true, 'the pending request was not failed at once')
    await it.done
    assert.equal(pending.error.code, 'ERR_CONNECTION_CLOSED')
    assert.ok(it.error instanceof ConnectionError)
    assert.equal(it.error.code, 'ERR_CONNECTION_CLOSED')
    assert.equal(c.transport.pending, 0)
    await c.close()
    assert.equal(closeEvents, 1)
  })

  test('close() or destroy() while reconnecting fails the queued requests and stops reconnecting', async () => {
    const victim = await startTarantool()
    const a = await connect(uri(victim), { reconnect: { initialDelay: 20, maxDelay: 50 } })
    const b = await connect(uri(victim), { reconnect: { initialDelay: 20, maxDelay: 50 } })
    try {
      const eventsA = recordEvents(a)
      const eventsB = recordEvents(b)
      await killAndWaitForLoss(victim, a, b)
      const queuedA = [a.eval('return 1'), a.call('echo', [2], { timeout: 10000 }), a.ping()]
      const queuedB = [b.eval('return 1'), b.call('echo', [2], { signal: new AbortController().signal })]
      assert.equal(a.queued, 3)
      const closing = a.close()
      b.destroy()
      await withTimeout(closing, 1000, 'close() while reconnecting')
      for (const err of await Promise.all([...queuedA, ...queuedB].map(rejection))) {
        assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'ERR_CONNECTION_CLOSED')
      }
      assert.equal(a.state, 'closed')
      assert.equal(b.state, 'closed')
      assert.equal(a.queued + b.queued, 0)
      const triesA = eventsA.filter((e) => e.name === 'reconnecting').length
      const triesB = eventsB.filter((e) => e.name === 'reconnecting').length
      await victim.start()
      await sleep(300)
      for (const [events, tries] of [[eventsA, triesA], [eventsB, triesB]]) {
        assert.equal(events.filter((e) => e.name === 'reconnecting').length, tries, 'kept reconnecting after close')
        assert.ok(!events.some((e) => e.name === 'connect'), 'reconnected after close')
        assert.equal(events.filter((e) => e.name === 'close').length, 1)
      }
    } finally {
      a.destroy()
      b.destroy()
      await victim.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// what keeps Node alive

/** Spawns `node fixtures/<name> port`; lines of stdout arrive through `onLine`. */
function spawnFixture(name, port) {
  const child = spawn(process.execPath, [path.join(FIXTURES, name), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const r = { child, stdout: '', stderr: '', exited: false, code: null, signal: null, exitAt: 0 }
  const waiters = []
  child.stdout.on('data', (d) => {
    r.stdout += d
    for (const w of [...waiters]) {
      if (r.stdout.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  })
  child.stderr.on('data', (d) => { r.stderr += d })
  r.exit = new Promise((resolve) => child.on('close', (code, signal) => {
    Object.assign(r, { exited: true, code, signal, exitAt: performance.now() })
    resolve()
  }))
  r.waitFor = (text, ms) => withTimeout(new Promise((resolve) => {
    if (r.stdout.includes(text)) resolve()
    else waiters.push({ text, resolve })
  }), ms, `fixture ${name} to print '${text}' (stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)})`)
  r.kill = () => { if (!r.exited) child.kill('SIGKILL') }
  return r
}

describe('event loop', TIMEOUT, () => {
  test('an idle client whose server died does not keep the process alive while it reconnects', async () => {
    const victim = await startTarantool()
    const r = spawnFixture('resilience-idle-after-loss.js', victim.port)
    try {
      await r.waitFor('ready', 10000)
      const killedAt = performance.now()
      await victim.kill()
      await withTimeout(r.exit, 5000, 'the child to exit by itself').catch((err) => {
        assert.fail(`${err.message}; stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`)
      })
      assert.equal(r.signal, null)
      assert.equal(r.code, 0, `stderr: ${r.stderr}`)
      assert.ok(r.exitAt - killedAt < 5000)
      const lines = r.stdout.trim().split('\n')
      assert.deepEqual(lines.slice(0, 2), ['["one call"]', 'ready'])
      assert.equal(lines[lines.length - 1], 'exit reconnecting', 'the child should exit while still reconnecting')
      assert.ok(lines.includes('disconnect ConnectionError'), `the child never saw the loss: ${r.stdout}`)
      assert.ok(lines.some((l) => l.startsWith('reconnecting 1')), `the child never tried to reconnect: ${r.stdout}`)
    } finally {
      r.kill()
      await victim.stop()
    }
  })

  test('a request queued while disconnected keeps the process alive until the server is back', async () => {
    const victim = await startTarantool()
    const r = spawnFixture('resilience-queued-until-restart.js', victim.port)
    try {
      await r.waitFor('ready', 10000)
      await victim.kill()
      await r.waitFor('queued 1', 5000)
      await sleep(1000)
      assert.equal(r.exited, false, `the child exited while its request was queued: ${r.stdout} ${r.stderr}`)
      await victim.start()
      await withTimeout(r.exit, 5000, 'the child to finish after the restart').catch((err) => {
        assert.fail(`${err.message}; stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`)
      })
      assert.equal(r.signal, null)
      assert.equal(r.code, 0, `stderr: ${r.stderr}`)
      assert.deepEqual(r.stdout.trim().split('\n'), ['ready', 'queued 1', '["after restart","tester"]'])
    } finally {
      r.kill()
      await victim.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// credentials

describe('passwords never leak', TIMEOUT, () => {
  const PASSWORD = 'Zq9-kharon-DISTINCTIVE-pa55word-7Xw'
  const SHOWN = { depth: 10, showHidden: true }

  function assertHidden(what, ...texts) {
    for (const text of texts) {
      assert.equal(typeof text, 'string')
      assert.ok(!text.includes(PASSWORD), `${what} contains the password: ${text}`)
      assert.ok(!text.includes(encodeURIComponent(PASSWORD)), `${what} contains the encoded password`)
    }
  }

  function errorTexts(err) {
    return [
      String(err), err.message, err.stack || '', util.inspect(err, SHOWN),
      JSON.stringify(err), JSON.stringify(err, Object.getOwnPropertyNames(err)),
      JSON.stringify(err.cause === undefined ? null : String(err.cause)),
    ]
  }

  test('a wrong password: the errors of connect() and Transport.connect() do not contain it', async () => {
    const attempts = [
      ['URI', () => connect(`tester:${PASSWORD}@${HOST}:${server.port}`)],
      ['tarantool:// URI', () => connect(`tarantool://tester:${encodeURIComponent(PASSWORD)}@${HOST}:${server.port}`)],
      ['options object', () => connect({ host: HOST, port: server.port, user: 'tester', password: PASSWORD })],
      ['client options', () => connect({ host: HOST, port: server.port }, { user: 'tester', password: PASSWORD })],
      ['Transport.connect', () => Transport.connect({ host: HOST, port: server.port, user: 'tester', password: PASSWORD })],
      ['credentials', () => connect({ host: HOST, port: server.port, credentials: new Credentials('tester', PASSWORD) })],
    ]
    for (const [what, attempt] of attempts) {
      const err = await rejection(attempt())
      assert.ok(err instanceof TarantoolError, `${what}: ${err.name}: ${err.message}`)
      assert.equal(err.code, 'ER_PASSWORD_MISMATCH', what)
      assertHidden(what, ...errorTexts(err))
    }
  })

  test('the TypeError for an unparsable URI does not contain the password', async () => {
    for (const bad of [
      `tester:${PASSWORD}@no port here`,
      `tester:${PASSWORD}@${HOST}:notaport`,
      `tarantool://tester:${PASSWORD}@`,
      `tester:${PASSWORD}@${HOST}:${server.port}/extra`,
    ]) {
      const err = await rejection(connect(bad))
      assert.ok(err instanceof TypeError, `${bad}: ${err.name}: ${err.message}`)
      assertHidden(`the error for ${bad}`, ...errorTexts(err))
    }
  })

  test('Credentials, a connection and its transport do not show the password, before and after a reconnect', async () => {
    const creds = new Credentials('tester', PASSWORD)
    assertHidden('Credentials', util.inspect(creds, SHOWN), JSON.stringify(creds) || '', String(creds))

    const victim = await startTarantool()
    const c = await connect(uri(victim)) // tester / secret
    const d = await connect({ host: HOST, port: victim.port, credentials: new Credentials('tester', 'secret') })
    try {
      const noSecret = (what, text) => assert.ok(!text.includes('secret'), `${what} contains the password: ${text}`)
      const inspectAll = (label) => {
        for (const [what, x] of [['conn', c], ['conn.transport', c.transport], ['credentials conn', d], ['credentials transport', d.transport]]) {
          const shown = util.inspect(x, SHOWN)
          assert.ok(shown.length > 20, `${what}: util.inspect shows almost nothing: ${shown}`)
          noSecret(`${label}: util.inspect(${what})`, shown)
        }
      }
      inspectAll('connected')
      const errors = []
      c.on('disconnect', (e) => errors.push(e))
      c.on('reconnecting', (e) => errors.push(e.error))
      const reconnected = next(c, 'connect')
      await killAndWaitForLoss(victim, c)
      inspectAll('reconnecting')
      await victim.start()
      await withTimeout(reconnected, 5000, "'connect'")
      inspectAll('reconnected')
      assert.deepEqual(await c.eval('return box.session.user()'), ['tester'])
      for (const e of errors) for (const text of errorTexts(e)) noSecret('a reconnect error', text)
    } finally {
      c.destroy()
      d.destroy()
      await victim.stop()
    }
  })
})
