'use strict'

// Re-entrancy against a real Tarantool: code kharon calls out to (tracing subscribers, onPush,
// AbortSignal listeners, 'drain', 'disconnect', 'reconnecting' and 'shutdown' listeners,
// watcher callbacks, Transport callbacks) may issue requests, close the connection or throw,
// and every other request still gets its own answer. For each entry point: a request made in
// the callback is answered; a connection destroyed there fails everything pending with
// ERR_CONNECTION_CLOSED and stays closed; a throw is an uncaught exception, as Node makes one
// from a subscriber or an event callback (seen from outside: fixtures/reentrancy-throws.js),
// and kharon goes on.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')

const { connect, Transport, IPROTO } = require('..')
const { startTarantool, stopAll, atLeast, freePort } = require('./helpers/tarantool')
const { startProxy } = require('./helpers/proxy')
const { runFixture } = require('./helpers/fixture')
const { callBody, data } = require('./helpers/msgpack')
const { next, sleep, withTimeout, waitFor } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 } // for each suite and hook: nothing here may hang the run
const RECONNECT = { reconnect: { initialDelay: 20, maxDelay: 100 } }
// Longer than a reconnect of RECONNECT takes: a connection that stayed closed this long stays closed.
const RECONNECT_WOULD_HAVE_COME = 400
const CLOSED = 'ERR_CONNECTION_CLOSED'

let server // never killed

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

const uri = (port) => `tester:secret@127.0.0.1:${port}`

/** The value `promise` resolves to, or the code of the error it rejects with. */
const outcome = (promise) => promise.then((v) => v, (err) => err.code)

/** `fn`, run the first time only: a request it makes may call it again. */
function once(fn) {
  let done = false
  return (...args) => {
    if (done) return
    done = true
    fn(...args)
  }
}

/** A connection for this test, destroyed after it. */
async function open(t, options) {
  const conn = await connect(uri(server.port), options)
  t.after(() => conn.destroy())
  return conn
}

/** A connection through a proxy whose links the test drops: { conn, proxy, target (the port it forwards to) }. */
async function openProxied(t, options = RECONNECT) {
  const link = { target: server.port }
  const proxy = await startProxy(() => ({ host: '127.0.0.1', port: link.target }))
  const conn = await connect(uri(proxy.port), options)
  t.after(async () => {
    conn.destroy()
    await proxy.close()
  })
  return Object.assign(link, { conn, proxy })
}

/** Subscribes `handlers` to the kharon:request TracingChannel for this test. */
function trace(t, handlers) {
  const channel = dc.tracingChannel('kharon:request')
  channel.subscribe(handlers)
  t.after(() => channel.unsubscribe(handlers))
}

/** Subscribes `fn` to the plain channel `name` for this test. */
function subscribe(t, name, fn) {
  dc.subscribe(name, fn)
  t.after(() => dc.unsubscribe(name, fn))
}

/** How many times `conn` emits `event` from now: { count }. */
function count(conn, event) {
  const seen = { count: 0 }
  conn.on(event, () => seen.count++)
  return seen
}

/** A call in flight (sleep_then) while the callback runs. */
const inFlight = (conn, seconds = 0.05) => outcome(conn.call('sleep_then', [seconds, 'BEFORE']))

/** Checks `conn` was destroyed for good: a reconnect would have come by now, and did not. */
async function assertStaysClosed(conn, closes, connects) {
  await sleep(RECONNECT_WOULD_HAVE_COME)
  assert.equal(conn.state, 'closed')
  assert.equal(closes.count, 1, "'close' once")
  if (connects !== undefined) assert.equal(connects.count, 0, 'no reconnect')
  assert.equal(await outcome(conn.call('echo', ['AFTER'])), CLOSED)
}

/**
 * Runs fixtures/reentrancy-throws.js, whose callback at `entry` throws once; checks the throw
 * was the process's one uncaught exception and returns what the fixture saw.
 */
async function throwsAt(entry) {
  const r = await runFixture('reentrancy-throws.js', [server.port, entry], 30000)
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.thrown, true, 'the callback ran')
  assert.deepEqual(out.uncaught, [`thrown by ${entry}`], 'the throw is an uncaught exception, once')
  return out
}

/** What fixtures/reentrancy-throws.js reports when the requests around the throw were answered. */
const ANSWERED = { before: ['BEFORE'], after: ['AFTER'], state: 'connected' }

describe('kharon:request subscribers', TIMEOUT, () => {
  // The request a subscriber is told of: a failing one for `error`.
  const callee = (event) => (event === 'error' ? 'no_such_function' : 'echo')
  const answer = (event) => (event === 'error' ? 'ER_NO_SUCH_PROC' : ['TOLD'])

  for (const event of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) {
    describe(event, () => {
      test('a request the subscriber makes is answered, and the one it was told of keeps its own answer', async (t) => {
        const conn = await open(t)
        const before = inFlight(conn)
        let inner = null
        // A start subscriber's request reuses the encoder that holds the body of the request it
        // is told of, before that body is sent.
        trace(t, { [event]: once(() => { inner = outcome(conn.call('echo', ['INNER'])) }) })
        assert.deepEqual(await outcome(conn.call(callee(event), ['TOLD'])), answer(event))
        assert.deepEqual(await inner, ['INNER'])
        assert.deepEqual(await before, ['BEFORE'])
        assert.deepEqual(await conn.call('echo', ['AFTER']), ['AFTER'])
      })

      test('a subscriber that destroys the connection: what is pending fails with ERR_CONNECTION_CLOSED', async (t) => {
        const conn = await open(t)
        const closes = count(conn, 'close')
        const before = inFlight(conn, 0.5)
        trace(t, { [event]: once(() => conn.destroy()) })
        const told = outcome(conn.call(callee(event), ['TOLD']))
        // Told before the answer came (start, end), the request fails; told of it, it keeps it.
        const settled = event !== 'start' && event !== 'end'
        assert.deepEqual(await told, settled ? answer(event) : CLOSED)
        assert.equal(await before, CLOSED)
        await assertStaysClosed(conn, closes)
      })

      test('a subscriber that throws: an uncaught exception; every request is answered', async () => {
        const out = await throwsAt(`kharon:request ${event}`)
        assert.deepEqual(out, { ...out, ...ANSWERED, told: answer(event) })
      })
    })
  }

  test('told of a request a lost connection failed, a subscriber\'s request waits for the reconnect', async (t) => {
    const { conn, proxy } = await openProxied(t)
    let inner = null
    trace(t, { asyncEnd: once(() => { inner = outcome(conn.call('echo', ['INNER'])) }) })
    const lost = inFlight(conn, 1)
    proxy.dropAll()
    assert.equal(await lost, 'ECONNRESET')
    assert.deepEqual(await withTimeout(inner, 5000, "the subscriber's request"), ['INNER'])
    assert.equal(conn.state, 'connected')
  })

  // The queue fails what waits in it; a subscriber told of that must not queue anew behind it.
  const ends = {
    'destroy()': (conn) => conn.destroy(),
    'close()': (conn) => conn.close(),
    'reconnecting giving up': () => {},
  }
  for (const [how, end] of Object.entries(ends)) {
    test(`while ${how} fails the offline queue, a subscriber's request is refused, not left waiting`, async (t) => {
      const gaveUp = how === 'reconnecting giving up'
      const reconnect = gaveUp ? { initialDelay: 20, maxDelay: 20, maxRetries: 2 } : { initialDelay: 60000 }
      const link = await openProxied(t, { reconnect })
      const { conn, proxy } = link
      const lost = next(conn, 'disconnect')
      // Nothing answers the reconnect attempts.
      link.target = await freePort()
      proxy.dropAll()
      await withTimeout(lost, 5000, "'disconnect'")
      let inner = null
      trace(t, { error: once(() => { inner = outcome(conn.call('echo', ['INNER'])) }) })
      const queued = outcome(conn.call('echo', ['QUEUED']))
      end(conn)
      assert.equal(await withTimeout(queued, 5000, 'the queued request'), gaveUp ? 'ECONNRESET' : CLOSED)
      assert.equal(await withTimeout(inner, 1000, "the subscriber's request"), CLOSED)
      assert.equal(conn.state, 'closed')
    })
  }
})

describe('kharon:connect, kharon:disconnect, kharon:reconnect subscribers; disconnect and reconnecting listeners', TIMEOUT, () => {
  // Arms `fn` to run once when the link of `proxy` drops: at the entry point's first call.
  const entries = {
    'kharon:connect': (t, conn, proxy, fn) => subscribe(t, 'kharon:connect', (msg) => {
      if (msg.port === proxy.port && msg.attempt > 0 && msg.error === undefined) fn()
    }),
    'kharon:disconnect': (t, conn, proxy, fn) => subscribe(t, 'kharon:disconnect', (msg) => msg.port === proxy.port && fn()),
    'kharon:reconnect': (t, conn, proxy, fn) => subscribe(t, 'kharon:reconnect', (msg) => msg.port === proxy.port && fn()),
    disconnect: (t, conn, proxy, fn) => conn.on('disconnect', fn),
    reconnecting: (t, conn, proxy, fn) => conn.on('reconnecting', fn),
  }
  const answered = { queued: ['QUEUED'], after: ['AFTER'], state: 'connected' }

  for (const [entry, arm] of Object.entries(entries)) {
    describe(entry, () => {
      test('a request made there waits for the reconnect and is answered', async (t) => {
        const { conn, proxy } = await openProxied(t)
        let inner = null
        arm(t, conn, proxy, once(() => { inner = outcome(conn.call('echo', ['INNER'])) }))
        const lost = inFlight(conn, 1)
        const back = next(conn, 'connect')
        proxy.dropAll()
        assert.equal(await lost, 'ECONNRESET')
        await withTimeout(back, 5000, "'connect'")
        assert.deepEqual(await withTimeout(inner, 5000, 'the request made there'), ['INNER'])
        assert.deepEqual(await conn.call('echo', ['AFTER']), ['AFTER'])
      })

      test('destroying the connection there: it stays closed, and what waited fails with ERR_CONNECTION_CLOSED', async (t) => {
        const { conn, proxy } = await openProxied(t)
        const closes = count(conn, 'close')
        const connects = count(conn, 'connect')
        let queued = null
        // Registered first: the request waits for the reconnect (or is refused once closed).
        conn.once('disconnect', () => { queued = outcome(conn.call('echo', ['QUEUED'])) })
        arm(t, conn, proxy, once(() => conn.destroy()))
        proxy.dropAll()
        await withTimeout(next(conn, 'close'), 5000, "'close'")
        assert.equal(await queued, CLOSED)
        await assertStaysClosed(conn, closes, connects)
      })

      test('a throw there: an uncaught exception; the connection comes back and answers', async () => {
        const out = await throwsAt(entry)
        assert.deepEqual(out, { ...out, ...answered })
      })
    })
  }

  test("a 'reconnecting' listener that throws after a failed attempt: an uncaught exception, not a rejection", async () => {
    const out = await throwsAt('reconnecting, after a failed attempt')
    assert.deepEqual(out, { ...out, ...answered })
  })
})

describe("'shutdown' listeners", TIMEOUT, () => {
  test('a throw there: an uncaught exception; the connection still closes itself once idle', async () => {
    const out = await throwsAt('shutdown')
    assert.deepEqual(out, { ...out, closedByClient: true, fast: true, state: 'closed' })
  })
})

describe('onPush', TIMEOUT, () => {
  test('a request made there is answered; the call gets every push and its own answer', async (t) => {
    const conn = await open(t)
    const before = inFlight(conn)
    const pushes = []
    let inner = null
    const told = await conn.call('pushes', [3], {
      onPush(v) {
        pushes.push(v)
        if (v === 2) inner = outcome(conn.call('echo', ['INNER']))
      },
    })
    assert.deepEqual(told, ['done'])
    assert.deepEqual(pushes, [1, 2, 3])
    assert.deepEqual(await inner, ['INNER'])
    assert.deepEqual(await before, ['BEFORE'])
  })

  test('destroying the connection there: no push after it; what is pending fails with ERR_CONNECTION_CLOSED', async (t) => {
    const conn = await open(t)
    const closes = count(conn, 'close')
    const before = inFlight(conn, 0.5)
    const pushes = []
    const told = outcome(conn.call('pushes', [3], {
      onPush(v) {
        pushes.push(v)
        if (v === 2) conn.destroy()
      },
    }))
    assert.equal(await told, CLOSED)
    assert.equal(await before, CLOSED)
    assert.deepEqual(pushes, [1, 2])
    await assertStaysClosed(conn, closes)
  })

  test('aborting its own request there: no push after the rejection, for a call and a Transport callback', async (t) => {
    const conn = await open(t)
    const ac = new AbortController()
    const pushes = []
    const told = outcome(conn.call('pushes', [5], {
      signal: ac.signal,
      onPush(v) {
        pushes.push(v)
        if (v === 2) ac.abort()
      },
    }))
    assert.equal(await told, 'ABORT_ERR')
    // The other pushes came in the same read: a next request's answer comes after them.
    assert.deepEqual(await conn.call('echo', ['AFTER']), ['AFTER'])
    assert.deepEqual(pushes, [1, 2])
    const raw = await Transport.connect({ port: server.port, host: '127.0.0.1' })
    t.after(() => raw.close())
    const rawAc = new AbortController()
    const seen = []
    await new Promise((resolve) => {
      raw.request(IPROTO.CALL, callBody('pushes', [5]), {
        signal: rawAc.signal,
        onPush(chunk) {
          seen.push(data(chunk)[0])
          if (seen.length === 2) rawAc.abort()
        },
      }, (err) => {
        seen.push(err.code)
        resolve()
      })
    })
    await new Promise((resolve) => raw.request(IPROTO.PING, resolve))
    assert.deepEqual(seen, [1, 2, 'ABORT_ERR'])
  })

  test('a throw there: an uncaught exception; the call gets every push and its answer', async () => {
    const out = await throwsAt('onPush')
    assert.deepEqual(out, { ...out, ...ANSWERED, told: ['done'], pushes: [1, 2, 3] })
  })
})

describe('AbortSignal abort listeners', TIMEOUT, () => {
  test('a request made there is answered, one with the aborted signal is refused; a late answer goes nowhere', async (t) => {
    const conn = await open(t)
    const before = inFlight(conn)
    const ac = new AbortController()
    const told = outcome(conn.call('sleep_then', [0.1, 'TOLD'], { signal: ac.signal }))
    let inner = null
    let again = null
    ac.signal.addEventListener('abort', () => {
      inner = outcome(conn.call('echo', ['INNER']))
      again = outcome(conn.call('echo', ['AGAIN'], { signal: ac.signal }))
    })
    ac.abort()
    assert.equal(await told, 'ABORT_ERR')
    assert.deepEqual(await inner, ['INNER'])
    assert.equal(await again, 'ABORT_ERR')
    assert.deepEqual(await before, ['BEFORE'])
    // The aborted call's answer has come by now.
    await sleep(150)
    assert.deepEqual(await conn.call('echo', ['AFTER']), ['AFTER'])
  })

  for (const first of ['kharon', 'the listener']) {
    test(`destroying the connection there (${first} told first): what is pending fails with ERR_CONNECTION_CLOSED`, async (t) => {
      const conn = await open(t)
      const closes = count(conn, 'close')
      const before = inFlight(conn, 0.5)
      const ac = new AbortController()
      const destroy = () => conn.destroy()
      if (first !== 'kharon') ac.signal.addEventListener('abort', destroy)
      const told = outcome(conn.call('sleep_then', [0.5, 'TOLD'], { signal: ac.signal }))
      if (first === 'kharon') ac.signal.addEventListener('abort', destroy)
      ac.abort()
      assert.equal(await told, first === 'kharon' ? 'ABORT_ERR' : CLOSED)
      assert.equal(await before, CLOSED)
      await assertStaysClosed(conn, closes)
    })
  }

  test('a throw there: an uncaught exception; the request is aborted, the others answered', async () => {
    const out = await throwsAt('abort')
    assert.deepEqual(out, { ...out, ...ANSWERED, told: 'ABORT_ERR' })
  })
})

describe("'drain' listeners", TIMEOUT, () => {
  // With maxWriteQueue at its least (1 KiB), a 2 KB call is refused and 'drain' follows.
  const DRAINING = { maxWriteQueue: 1024 }
  const tooBig = (conn) => outcome(conn.call('echo', ['x'.repeat(2000)]))

  test('a request made there is answered', async (t) => {
    const conn = await open(t, DRAINING)
    const before = inFlight(conn)
    const drained = new Promise((resolve) => conn.once('drain', () => resolve(outcome(conn.call('echo', ['INNER'])))))
    assert.equal(await tooBig(conn), 'ERR_WRITE_QUEUE_FULL')
    assert.deepEqual(await withTimeout(drained, 5000, "'drain'"), ['INNER'])
    assert.deepEqual(await before, ['BEFORE'])
  })

  test('destroying the connection there: what is pending fails with ERR_CONNECTION_CLOSED', async (t) => {
    const conn = await open(t, DRAINING)
    const closes = count(conn, 'close')
    const before = inFlight(conn, 0.5)
    const drained = next(conn, 'drain')
    conn.once('drain', () => conn.destroy())
    assert.equal(await tooBig(conn), 'ERR_WRITE_QUEUE_FULL')
    await withTimeout(drained, 5000, "'drain'")
    assert.equal(await before, CLOSED)
    await assertStaysClosed(conn, closes)
  })

  test("a throw there: an uncaught exception; a later refusal is followed by 'drain' again", async () => {
    const out = await throwsAt('drain')
    assert.deepEqual(out, { ...out, ...ANSWERED, told: ['ERR_WRITE_QUEUE_FULL', 'ERR_WRITE_QUEUE_FULL'] })
  })
})

describe('watcher callbacks', { ...TIMEOUT, skip: atLeast(2, 10) ? false : "needs 'watchers' (Tarantool 2.10+)" }, () => {
  let keys = 0

  /** A Watcher on `conn` of a fresh key with `callback`, and `broadcast(value)` through `by`, for this test. */
  function watch(t, conn, callback, by = conn) {
    const key = `reentrancy-${++keys}`
    const w = conn.watch(key, callback)
    t.after(() => w.close())
    return { w, broadcast: (v) => by.eval('box.broadcast(...)', [key, v]) }
  }

  test('a request made there is answered', async (t) => {
    const conn = await open(t)
    const before = inFlight(conn)
    let inner = null
    const { broadcast } = watch(t, conn, (v) => {
      if (v === 'v1') inner = outcome(conn.call('echo', ['INNER']))
    })
    await broadcast('v1')
    await waitFor(() => inner !== null, 5000, 'the value reaches the callback')
    assert.deepEqual(await inner, ['INNER'])
    assert.deepEqual(await before, ['BEFORE'])
  })

  test('destroying the connection there: the Watcher closes; what is pending fails with ERR_CONNECTION_CLOSED', async (t) => {
    const conn = await open(t)
    const other = await open(t)
    const closes = count(conn, 'close')
    const before = inFlight(conn, 0.5)
    const { w, broadcast } = watch(t, conn, (v) => {
      if (v === 'v1') conn.destroy()
    }, other)
    await broadcast('v1')
    assert.equal(await withTimeout(before, 5000, 'the call in flight'), CLOSED)
    assert.ok(w.closed)
    await assertStaysClosed(conn, closes)
  })

  test('a throw there: an uncaught exception; later values still come', async () => {
    const out = await throwsAt('watcher')
    assert.deepEqual(out, { ...out, ...ANSWERED, told: ['v1', 'v2'] })
  })
})

describe('Transport request callbacks', TIMEOUT, () => {
  /** A raw Transport for this test, and `ask(name, args)`: a CALL in callback mode, as a promise of its data or error code. */
  async function raw(t) {
    const tr = await Transport.connect({ port: server.port, host: '127.0.0.1' })
    t.after(() => tr.close())
    const ask = (name, args, then = () => {}) => new Promise((resolve) => {
      tr.request(IPROTO.CALL, callBody(name, args), (err, body) => {
        resolve(err === null ? data(body) : err.code)
        then()
      })
    })
    return { tr, ask }
  }

  test('a request made there is answered', async (t) => {
    const { ask } = await raw(t)
    const before = ask('sleep_then', [0.05, 'BEFORE'])
    let inner = null
    assert.deepEqual(await ask('echo', ['TOLD'], () => { inner = ask('echo', ['INNER']) }), ['TOLD'])
    assert.deepEqual(await inner, ['INNER'])
    assert.deepEqual(await before, ['BEFORE'])
  })

  test('closing the transport there: what is pending fails with ERR_CONNECTION_CLOSED', async (t) => {
    const { tr, ask } = await raw(t)
    const before = ask('sleep_then', [0.5, 'BEFORE'])
    let inner = null
    assert.deepEqual(await ask('echo', ['TOLD'], () => {
      tr.close()
      inner = ask('echo', ['INNER'])
    }), ['TOLD'])
    assert.equal(await before, CLOSED)
    assert.equal(await inner, CLOSED)
    assert.equal(tr.pending, 0)
  })

  test('a throw there: an uncaught exception; every request is answered', async () => {
    const out = await throwsAt('Transport callback')
    assert.deepEqual(out, { ...out, ...ANSWERED, told: ['TOLD'], state: 'open' })
  })
})

test('a getter on an argument that makes a request while the body is encoded: both get their own answers', TIMEOUT, async () => {
  const conn = await connect(uri(server.port))
  try {
    let inner = null
    const arg = {
      get value() {
        inner = conn.call('echo', ['INNER'])
        return 'OUTER'
      },
    }
    const outer = await conn.call('echo', [arg, 'tail'])
    assert.deepEqual(outer, [{ value: 'OUTER' }, 'tail'])
    assert.deepEqual(await inner, ['INNER'])
  } finally {
    await conn.close()
  }
})
