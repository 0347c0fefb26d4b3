'use strict'

// The raw transport against a real Tarantool: connecting, request/response matching by SYNC,
// errors, argument checks, closing, a dead server, and how requests leave the process.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')

const { Transport, Response, IPROTO, ConnectionError, TarantoolError, TimeoutError, ProtocolError } = require('..')
const { startTarantool, stopAll, freePort, serverVersion, atLeast } = require('./helpers/tarantool')
const { rejection, withTimeout } = require('./helpers/wait')
const { callBody, evalBody, decode, data } = require('./helpers/msgpack')

const HOST = '127.0.0.1'
const TIMEOUT = { timeout: 60000 } // for each test and hook: nothing here may hang the run
let server
let unixServer

before(async () => {
  ;[server, unixServer] = await Promise.all([startTarantool(), startTarantool({ unix: true })])
}, TIMEOUT)

after(stopAll, TIMEOUT)

function connect(extra = {}) {
  return Transport.connect({ host: HOST, port: server.port, ...extra })
}

/** callback-style request as a promise of [err, body]. */
function requestCb(t, type, body) {
  return new Promise((resolve) => t.request(type, body, (err, b) => resolve([err, b])))
}

async function echo(t, ...args) {
  return data(await t.request(IPROTO.CALL, callBody('echo', args)))
}

// ---------------------------------------------------------------------------------------------
// connecting

test('connect(port, host) resolves to a Transport that answers', TIMEOUT, async () => {
  const t = await Transport.connect(server.port, HOST)
  try {
    assert.ok(t instanceof Transport)
    assert.equal(t.closed, false)
    assert.equal(t.serverVersion, serverVersion().release, 'the greeting names the version of the binary')
    assert.deepEqual(await echo(t, 'number+host'), ['number+host'])
  } finally {
    await t.close()
  }
})

test('connect(port) defaults host to localhost', TIMEOUT, async () => {
  const t = await Transport.connect(server.port)
  try {
    assert.deepEqual(await echo(t, 'localhost'), ['localhost'])
  } finally {
    await t.close()
  }
})

test('connect({ host, port, connectTimeout }) resolves', TIMEOUT, async () => {
  const t = await Transport.connect({ host: HOST, port: server.port, connectTimeout: 5000 })
  try {
    assert.deepEqual(await echo(t, 'options'), ['options'])
  } finally {
    await t.close()
  }
})

test('connect(port, host, callback) calls back with the transport', TIMEOUT, async () => {
  const t = await new Promise((resolve, reject) => {
    const ret = Transport.connect(server.port, HOST, (err, transport) => (err ? reject(err) : resolve(transport)))
    assert.equal(ret, undefined, 'callback form returns nothing')
  })
  try {
    assert.ok(t instanceof Transport)
    assert.deepEqual(await echo(t, 'callback'), ['callback'])
  } finally {
    await t.close()
  }
})

test('connect(options, callback) calls back with the transport', TIMEOUT, async () => {
  const t = await new Promise((resolve, reject) => {
    Transport.connect({ host: HOST, port: server.port }, (err, transport) => (err ? reject(err) : resolve(transport)))
  })
  try {
    assert.deepEqual(await echo(t, 'options+callback'), ['options+callback'])
  } finally {
    await t.close()
  }
})

test('connect({ path }) uses a unix socket', TIMEOUT, async () => {
  const t = await Transport.connect({ path: unixServer.socketPath })
  try {
    assert.deepEqual(await echo(t, 'unix'), ['unix'])
  } finally {
    await t.close()
  }
})

test('connect with user tester / secret authenticates', TIMEOUT, async () => {
  const t = await connect({ user: 'tester', password: 'secret' })
  try {
    const who = data(await t.request(IPROTO.EVAL, evalBody('return box.session.user()')))
    assert.deepEqual(who, ['tester'])
  } finally {
    await t.close()
  }
})

test('connect with a wrong password rejects with ER_PASSWORD_MISMATCH and hides the password', TIMEOUT, async () => {
  const password = 'hunter2-very-secret'
  const err = await rejection(connect({ user: 'tester', password }))
  assert.ok(err instanceof TarantoolError, `got ${err && err.name}: ${err && err.message}`)
  assert.equal(err.code, 'ER_PASSWORD_MISMATCH')
  assert.equal(err.errcode, 47)
  assert.equal(typeof err.message, 'string')
  assert.ok(err.message.length > 0)
  assert.ok(!err.message.includes(password), `message leaks the password: ${err.message}`)
  assert.ok(!JSON.stringify(err.serverStack).includes(password), 'serverStack leaks the password')
  assert.ok(!String(err.stack).includes(password), 'stack leaks the password')
})

test('wrong password through the callback form calls back with the error', TIMEOUT, async () => {
  const err = await new Promise((resolve) => {
    Transport.connect({ host: HOST, port: server.port, user: 'tester', password: 'nope' }, (e, t) => {
      assert.equal(t, undefined)
      resolve(e)
    })
  })
  assert.ok(err instanceof TarantoolError)
  assert.equal(err.code, 'ER_PASSWORD_MISMATCH')
})

test('connecting to a closed port rejects with ConnectionError ECONNREFUSED', TIMEOUT, async () => {
  const port = await freePort()
  const err = await rejection(Transport.connect(port, HOST))
  assert.ok(err instanceof ConnectionError, `got ${err && err.name}`)
  assert.equal(err.code, 'ECONNREFUSED')
  assert.equal(err.name, 'ConnectionError')

  const viaCallback = await new Promise((resolve) => Transport.connect(port, HOST, (e) => resolve(e)))
  assert.ok(viaCallback instanceof ConnectionError)
  assert.equal(viaCallback.code, 'ECONNREFUSED')
})

// ---------------------------------------------------------------------------------------------
// requests and responses

test('ping answers with a Buffer body (empty map), never null', TIMEOUT, async () => {
  const t = await connect()
  try {
    const [err, body] = await requestCb(t, IPROTO.PING, '')
    assert.equal(err, null)
    assert.ok(Buffer.isBuffer(body), 'callback body is a Buffer')
    if (body.length > 0) assert.deepEqual(decode(body), {})

    const viaPromise = await t.request(IPROTO.PING, '')
    assert.ok(Buffer.isBuffer(viaPromise), 'promise body is a Buffer')
    if (viaPromise.length > 0) assert.deepEqual(decode(viaPromise), {})

    // omitted body, callback as the second argument
    const omitted = await new Promise((resolve, reject) => t.request(IPROTO.PING, (e, b) => (e ? reject(e) : resolve(b))))
    assert.ok(Buffer.isBuffer(omitted))

    const nullBody = await t.request(IPROTO.PING, null)
    assert.ok(Buffer.isBuffer(nullBody))
  } finally {
    await t.close()
  }
})

test('call echo round trip via callback and via promise', TIMEOUT, async () => {
  const t = await connect()
  try {
    const args = [1, 'two', [3, 4], { five: 5 }, null, true, -7, 1.5]
    const [err, body] = await requestCb(t, IPROTO.CALL, callBody('echo', args))
    assert.equal(err, null)
    assert.ok(Buffer.isBuffer(body))
    assert.deepEqual(data(body), args)

    const viaPromise = await t.request(IPROTO.CALL, callBody('echo', args))
    assert.deepEqual(data(viaPromise), args)

    // a Uint8Array body that is not a Buffer
    const u8 = new Uint8Array(callBody('echo', ['u8']))
    assert.deepEqual(data(await t.request(IPROTO.CALL, u8)), ['u8'])

    // A Response is a native promise: .then / .catch / .finally, instanceof Promise and Response
    const response = t.request(IPROTO.CALL, callBody('echo', ['native']))
    assert.ok(response instanceof Promise && response instanceof Response)
    assert.deepEqual(data(await response), ['native'])
    assert.ok(!(Promise.resolve() instanceof Response))
    let finallyRan = false
    const value = await t.request(IPROTO.CALL, callBody('echo', ['then'])).then((b) => data(b)).finally(() => { finallyRan = true })
    assert.deepEqual(value, ['then'])
    assert.equal(finallyRan, true)
  } finally {
    await t.close()
  }
})

test('an error response becomes a TarantoolError with the server fields', TIMEOUT, async () => {
  const t = await connect()
  try {
    const err = await rejection(t.request(IPROTO.CALL, callBody('no_such_function', [])))
    assert.ok(err instanceof TarantoolError, `got ${err && err.name}`)
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'TarantoolError')
    assert.equal(err.errcode, 33)
    assert.equal(err.code, 'ER_NO_SUCH_PROC')
    assert.equal(err.message, "Procedure 'no_such_function' is not defined")
    assert.ok(Array.isArray(err.serverStack))
    assert.ok(err.serverStack.length >= 1)
    assert.equal(err.serverStack[0].type, 'ClientError')
    assert.equal(err.serverStack[0].code, 33)
    assert.equal(err.serverStack[0].message, "Procedure 'no_such_function' is not defined")

    // the same through a callback; the connection keeps working afterwards
    const [cbErr, cbBody] = await requestCb(t, IPROTO.CALL, callBody('no_such_function', []))
    assert.ok(cbErr instanceof TarantoolError)
    assert.equal(cbErr.code, 'ER_NO_SUCH_PROC')
    assert.equal(cbBody, undefined)
    assert.deepEqual(await echo(t, 'still alive'), ['still alive'])

    // a Lua error() raised by the function
    const lua = await rejection(t.request(IPROTO.CALL, callBody('push_then_error', [0])))
    assert.ok(lua instanceof TarantoolError)
    assert.equal(lua.code, 'ER_PROC_LUA')
    assert.match(lua.message, /failed after pushes/)
  } finally {
    await t.close()
  }
})

test('responses completing out of order reach their own callbacks', TIMEOUT, async () => {
  const t = await connect()
  try {
    const order = []
    const issue = (delay, value) => new Promise((resolve, reject) => {
      t.request(IPROTO.CALL, callBody('sleep_then', [delay, value]), (err, body) => {
        if (err) return reject(err)
        order.push(value)
        resolve(data(body))
      })
    })
    const results = await Promise.all([issue(0.45, 'slow'), issue(0.05, 'fast'), issue(0.25, 'middle')])
    assert.deepEqual(results, [['slow'], ['fast'], ['middle']])
    assert.deepEqual(order, ['fast', 'middle', 'slow'], 'they completed in server order, not issue order')

    // promise form, many at once with varied delays
    const delays = [0.3, 0.0, 0.2, 0.1, 0.25, 0.05, 0.15]
    const values = await Promise.all(delays.map((d, i) => t.request(IPROTO.CALL, callBody('sleep_then', [d, `v${i}`])).then(data)))
    assert.deepEqual(values, delays.map((_, i) => [`v${i}`]))
  } finally {
    await t.close()
  }
})

test('pending counts requests awaiting their final response', TIMEOUT, async () => {
  const t = await connect()
  try {
    assert.equal(t.pending, 0)
    const a = t.request(IPROTO.CALL, callBody('sleep_then', [0.2, 'a']))
    assert.equal(t.pending, 1)
    let bDone = false
    t.request(IPROTO.PING, '', () => { bDone = true })
    assert.equal(t.pending, 2)
    const c = t.request(IPROTO.CALL, callBody('pushes', [3]))
    assert.equal(t.pending, 3)
    await c
    assert.equal(bDone, true)
    assert.equal(t.pending, 1, 'only the sleeping request is left')
    await a
    assert.equal(t.pending, 0)
    await rejection(t.request(IPROTO.CALL, callBody('no_such_function')))
    assert.equal(t.pending, 0, 'an error response also ends the request')
  } finally {
    await t.close()
  }
})

test('nextSync increments with every request and is settable', TIMEOUT, async () => {
  const t = await connect()
  try {
    const first = t.nextSync
    assert.equal(typeof first, 'number')
    t.request(IPROTO.PING, '')
    assert.equal(t.nextSync, first + 1)
    const r = t.request(IPROTO.PING, '')
    assert.equal(t.nextSync, first + 2)
    await r
    t.nextSync = 1000
    assert.equal(t.nextSync, 1000)
    assert.deepEqual(await echo(t, 'at 1000'), ['at 1000'])
    assert.equal(t.nextSync, 1001)
  } finally {
    await t.close()
  }
})

test('nextSync wraps from 4294967295 to 0', TIMEOUT, async () => {
  const t = await connect()
  try {
    t.nextSync = 4294967295
    assert.equal(t.nextSync, 4294967295)
    const top = t.request(IPROTO.CALL, callBody('echo', ['top']))
    assert.equal(t.nextSync, 0, 'wrapped after the largest u32')
    const zero = t.request(IPROTO.CALL, callBody('echo', ['zero']))
    assert.equal(t.nextSync, 1)
    assert.deepEqual(data(await top), ['top'])
    assert.deepEqual(data(await zero), ['zero'])
  } finally {
    await t.close()
  }
})

test('nextSync skips ids still pending (also across the wrap)', TIMEOUT, async () => {
  const t = await connect()
  try {
    // A slow request holds SYNC 5; asking for 5 again must give 6.
    t.nextSync = 5
    const slow = t.request(IPROTO.CALL, callBody('sleep_then', [0.3, 'held 5']))
    assert.equal(t.nextSync, 6)
    t.nextSync = 5
    assert.equal(t.nextSync, 6, '5 is in use, so the next request gets 6')
    const quick = t.request(IPROTO.CALL, callBody('echo', ['got 6']))
    assert.equal(t.nextSync, 7)
    assert.deepEqual(data(await quick), ['got 6'])
    assert.deepEqual(data(await slow), ['held 5'])
    // once 5 is free it can be used again
    t.nextSync = 5
    assert.equal(t.nextSync, 5)

    // Across the wrap: 0 is held, 4294967295 is taken next, and then 0 must be skipped.
    t.nextSync = 0
    const held0 = t.request(IPROTO.CALL, callBody('sleep_then', [0.3, 'held 0']))
    assert.equal(t.nextSync, 1)
    t.nextSync = 4294967295
    const top = t.request(IPROTO.CALL, callBody('echo', ['top']))
    assert.equal(t.nextSync, 1, 'wrapped past the pending 0')
    const one = t.request(IPROTO.CALL, callBody('echo', ['one']))
    assert.equal(t.nextSync, 2)
    assert.deepEqual(data(await top), ['top'])
    assert.deepEqual(data(await one), ['one'])
    assert.deepEqual(data(await held0), ['held 0'])

    // A run of pending ids is skipped as a whole.
    t.nextSync = 100
    const run = [0.3, 0.3, 0.3].map((d, i) => t.request(IPROTO.CALL, callBody('sleep_then', [d, `run${i}`])))
    t.nextSync = 100
    assert.equal(t.nextSync, 103)
    assert.deepEqual(data(await t.request(IPROTO.CALL, callBody('echo', ['103']))), ['103'])
    assert.deepEqual((await Promise.all(run)).map(data), [['run0'], ['run1'], ['run2']])
  } finally {
    await t.close()
  }
})

// Pending requests sit in a table slot picked by the SYNC's low bits (lib/sync-table.js).
test('a SYNC whose table slot is taken is skipped; thousands in flight each get their own response', TIMEOUT, async () => {
  const t = await connect()
  try {
    t.nextSync = 7
    const slow = t.request(IPROTO.CALL, callBody('sleep_then', [0.3, 'held 7']))
    t.nextSync = 7 + 1024
    assert.equal(t.nextSync, 7 + 1025, 'the slot of 7 + 1024 is held by 7')
    const beside = t.request(IPROTO.CALL, callBody('echo', ['beside']))
    assert.deepEqual(data(await beside), ['beside'])
    // More than the table holds at first: it grows while they are in flight, and again
    // while the slow one still holds its slot.
    const many = Array.from({ length: 5000 }, (_, i) => t.request(IPROTO.CALL, callBody('echo', [i])))
    assert.equal(t.pending, 5001)
    const bodies = await Promise.all(many)
    bodies.forEach((body, i) => assert.deepEqual(data(body), [i]))
    assert.deepEqual(data(await slow), ['held 7'])
    assert.equal(t.pending, 0)
    assert.deepEqual(data(await t.request(IPROTO.CALL, callBody('echo', ['after']))), ['after'])
  } finally {
    await t.close()
  }
})

test('the first request on an idle connection leaves at once, then a run in one tick leaves 512 at a time', TIMEOUT, async () => {
  const t = await connect()
  try {
    const before = t.bytesSent
    const run = [t.request(IPROTO.CALL, callBody('echo', [0]))]
    const first = t.bytesSent - before
    assert.ok(first > 0, 'the request on an idle connection left before the tick ends')
    assert.equal(t.writableLength, 0)
    for (let i = 1; i < 512; i++) run.push(t.request(IPROTO.CALL, callBody('echo', [i])))
    assert.equal(t.bytesSent - before, first, 'under 512 more requests wait for the end of the tick')
    const waiting = t.writableLength
    run.push(t.request(IPROTO.CALL, callBody('echo', [512])))
    assert.ok(t.bytesSent - before - first > waiting, 'the 512th after the first sent all 512 at once')
    assert.ok(t.writableLength <= t.bytesSent - before)
    for (let i = 513; i < 700; i++) run.push(t.request(IPROTO.CALL, callBody('echo', [i])))
    const sentEarly = t.bytesSent
    const bodies = await Promise.all(run)
    assert.ok(t.bytesSent > sentEarly, 'the rest left at the end of the tick')
    bodies.forEach((body, i) => assert.deepEqual(data(body), [i]))
  } finally {
    await t.close()
  }
})

// A request given up on (timeout) still has its response on the way: until it arrives, its
// SYNC must not go to a new request, or the new one gets the old one's response.
test('a timed-out request does not hand its late response to a new request with the same SYNC', TIMEOUT, async () => {
  const t = await connect()
  try {
    t.nextSync = 50
    const old = t.request(IPROTO.CALL, callBody('sleep_then', [0.4, 'old']), { timeout: 50 })
    const err = await rejection(old)
    assert.ok(err instanceof TimeoutError, `got ${err && err.name}`)
    assert.equal(t.pending, 0)
    t.nextSync = 50
    const fresh = t.request(IPROTO.CALL, callBody('sleep_then', [0.8, 'new']))
    assert.deepEqual(data(await fresh), ['new'], 'the new request got the timed-out request\'s late response')
  } finally {
    await t.close()
  }
})

test('string (latin1 binary) bodies work', TIMEOUT, async () => {
  const t = await connect()
  try {
    const text = 'héllo wörld ✓'
    const bin = callBody('echo', [text, 12345]).toString('latin1')
    assert.equal(typeof bin, 'string')
    assert.ok(/[\u0080-\u00ff]/.test(bin), 'the string carries bytes above 0x7f')
    assert.deepEqual(data(await t.request(IPROTO.CALL, bin)), [text, 12345])
    const [err, body] = await requestCb(t, IPROTO.CALL, bin)
    assert.equal(err, null)
    assert.deepEqual(data(body), [text, 12345])
    // a body with all 256 byte values inside a msgpack string
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const hdr = Buffer.from([0x82, 0x22, 0xa4, ...Buffer.from('echo'), 0x21, 0x91, 0xc5, 0x01, 0x00])
    const raw = Buffer.concat([hdr, all])
    const back = await t.request(IPROTO.CALL, raw.toString('latin1'))
    // Before 3.0, Lua turns the bin into a string and echoes it as str 16 (0xda 0x01 0x00 + the
    // 256 bytes); from 3.0 it is a varbinary and comes back as bin 16 (0xc5 0x01 0x00 + the bytes).
    const echoedAs = atLeast(3, 0) ? [0xc5, 0x01, 0x00] : [0xda, 0x01, 0x00]
    assert.ok(back.includes(Buffer.concat([Buffer.from(echoedAs), all])), 'all 256 byte values came back intact')
  } finally {
    await t.close()
  }
})

test('a burst of 100,000 calls issued in one synchronous loop all complete correctly', TIMEOUT, async () => {
  const t = await connect()
  try {
    const N = 100000
    let done = 0
    let wrong = 0
    let firstError = null
    const all = new Promise((resolve) => {
      for (let i = 0; i < N; i++) {
        t.request(IPROTO.CALL, callBody('echo', [i]), (err, body) => {
          if (err) firstError = firstError || err
          else if (data(body)[0] !== i) wrong++
          if (++done === N) resolve()
        })
      }
    })
    assert.equal(t.pending, N)
    await withTimeout(all, 30000, 'burst')
    assert.equal(firstError, null)
    assert.equal(wrong, 0)
    assert.equal(done, N)
    assert.equal(t.pending, 0)
  } finally {
    await t.close()
  }
})

// ---------------------------------------------------------------------------------------------
// closing

test('close() rejects what is pending with ERR_CONNECTION_CLOSED; later requests fail alike', TIMEOUT, async () => {
  const t = await connect()
  const closeEvents = []
  t.on('close', (err) => closeEvents.push(err))
  const viaPromise = t.request(IPROTO.CALL, callBody('sleep_then', [5, 'never']))
  const viaCallback = requestCb(t, IPROTO.CALL, callBody('sleep_then', [5, 'never']))
  assert.equal(t.pending, 2)
  const closing = t.close()
  assert.ok(closing instanceof Promise)
  await closing
  assert.equal(t.closed, true)
  assert.equal(t.pending, 0)

  const e1 = await rejection(viaPromise)
  assert.ok(e1 instanceof ConnectionError)
  assert.equal(e1.code, 'ERR_CONNECTION_CLOSED')
  const [e2, body2] = await viaCallback
  assert.ok(e2 instanceof ConnectionError)
  assert.equal(e2.code, 'ERR_CONNECTION_CLOSED')
  assert.equal(body2, undefined)

  assert.equal(closeEvents.length, 1, "'close' is emitted once")
  assert.ok(closeEvents[0] instanceof ConnectionError)
  assert.equal(closeEvents[0].code, 'ERR_CONNECTION_CLOSED')

  // later requests, both forms, fail the same way (asynchronously)
  let syncCalled = false
  const later = new Promise((resolve) => t.request(IPROTO.PING, '', (err, b) => { syncCalled = true; resolve([err, b]) }))
  assert.equal(syncCalled, false, 'the callback is not called synchronously')
  const [e3] = await later
  assert.ok(e3 instanceof ConnectionError)
  assert.equal(e3.code, 'ERR_CONNECTION_CLOSED')
  const e4 = await rejection(t.request(IPROTO.CALL, callBody('echo', [1])))
  assert.ok(e4 instanceof ConnectionError)
  assert.equal(e4.code, 'ERR_CONNECTION_CLOSED')
  assert.equal(t.pending, 0)

  // close() again is harmless and does not emit again
  await t.close()
  assert.equal(closeEvents.length, 1)
})

test('requests issued in the same tick as close() fail with ERR_CONNECTION_CLOSED', TIMEOUT, async () => {
  const t = await connect()
  const a = t.request(IPROTO.CALL, callBody('echo', ['a']))
  t.close()
  const b = t.request(IPROTO.CALL, callBody('echo', ['b']))
  for (const err of [await rejection(a), await rejection(b)]) {
    assert.ok(err instanceof ConnectionError)
    assert.equal(err.code, 'ERR_CONNECTION_CLOSED')
  }
})

test('server killed: every pending request rejects with ConnectionError within a second and close is emitted', TIMEOUT, async () => {
  const victim = await startTarantool()
  try {
    const t = await Transport.connect(victim.port, HOST)
    const closed = new Promise((resolve) => t.once('close', resolve))
    assert.deepEqual(await echo(t, 'before'), ['before'])
    const pending = []
    for (let i = 0; i < 20; i++) pending.push(t.request(IPROTO.CALL, callBody('sleep_then', [30, i])))
    const cbPending = requestCb(t, IPROTO.CALL, callBody('sleep_then', [30, 'cb']))
    assert.equal(t.pending, 21)
    // let the requests reach the server first
    await new Promise((resolve) => setTimeout(resolve, 100))
    await victim.kill()
    const killedAt = Date.now()
    const errors = await withTimeout(Promise.all(pending.map(rejection)), 1000, 'pending rejections')
    const [cbErr] = await withTimeout(cbPending, 1000, 'callback rejection')
    const closeErr = await withTimeout(closed, 1000, "'close' event")
    assert.ok(Date.now() - killedAt <= 1000)
    for (const err of [...errors, cbErr]) {
      assert.ok(err instanceof ConnectionError, `got ${err && err.name}: ${err && err.message}`)
      assert.equal(typeof err.code, 'string')
      assert.ok(err.code.length > 0)
    }
    assert.ok(closeErr instanceof ConnectionError)
    assert.equal(t.closed, true)
    assert.equal(t.pending, 0)
    const after = await rejection(t.request(IPROTO.PING, ''))
    assert.ok(after instanceof ConnectionError)
  } finally {
    await victim.stop()
  }
})

// ---------------------------------------------------------------------------------------------
// misbehaving peers (a fake server written here)

const GREETING = Buffer.concat([
  Buffer.from('Tarantool 2.6.0 (Binary) 3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2'.padEnd(63) + '\n'),
  Buffer.from('QK2HoFZGXTXBq2vFj7soCsHqTo6PGTF575ssUBAJLAI='.padEnd(63) + '\n'),
])

/** A TCP server running `onClient(socket)`; returns { port, sockets, close() }. */
async function fakeServer(onClient) {
  const sockets = new Set()
  const srv = net.createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    onClient(sock)
  })
  await new Promise((resolve) => srv.listen(0, HOST, resolve))
  return {
    port: srv.address().port,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => srv.close(resolve))
    },
  }
}

/** Request frames in `buf`: [{ type, sync }] of each whole one (prefix 0xce + u32). */
function requestFrames(buf) {
  const out = []
  let p = 0
  while (p + 5 <= buf.length) {
    const size = buf.readUInt32BE(p + 1)
    if (p + 5 + size > buf.length) break
    const header = decode(buf.subarray(p + 5, p + 5 + size))
    out.push({ type: header[0], sync: header[1] })
    p += 5 + size
  }
  return { frames: out, rest: buf.subarray(p) }
}

test('connectTimeout against a server that never greets rejects with TimeoutError', TIMEOUT, async () => {
  const silent = await fakeServer(() => {})
  try {
    const started = Date.now()
    const err = await rejection(Transport.connect({ host: HOST, port: silent.port, connectTimeout: 200 }))
    assert.ok(err instanceof TimeoutError, `got ${err && err.name}: ${err && err.message}`)
    assert.equal(err.code, 'ETIMEDOUT')
    assert.ok(Date.now() - started >= 150, 'did not give up before the timeout')
  } finally {
    await silent.close()
  }
})

test('a peer that is not Tarantool fails connect with ProtocolError', TIMEOUT, async () => {
  const http = await fakeServer((sock) => sock.write('HTTP/1.1 400 Bad Request\r\n'.padEnd(128, ' ')))
  try {
    const err = await rejection(Transport.connect(http.port, HOST))
    assert.ok(err instanceof ProtocolError, `got ${err && err.name}: ${err && err.message}`)
    assert.equal(err.code, 'ERR_PROTOCOL')
  } finally {
    await http.close()
  }
})

/** A header-only response frame: { REQUEST_TYPE: 0, SYNC: sync }, no body map at all. */
function bodilessResponse(sync) {
  const frame = Buffer.from([0x82, 0x00, 0x00, 0x01, 0xce, 0, 0, 0, 0])
  frame.writeUInt32BE(sync, 5)
  return Buffer.concat([Buffer.from([frame.length]), frame])
}

/** A fake Tarantool: greets, answers every request with a bodiless OK; `special(sync)` may override. */
function fakeTarantool(special = () => null) {
  let inbound = Buffer.alloc(0)
  return fakeServer((sock) => {
    sock.write(GREETING)
    sock.on('data', (d) => {
      const { frames, rest } = requestFrames(Buffer.concat([inbound, d]))
      inbound = rest
      const out = []
      for (const { sync } of frames) out.push(special(sync) || bodilessResponse(sync))
      if (out.length > 0) sock.write(Buffer.concat(out))
    })
  })
}

const GARBAGE = Buffer.from([0xc1, 0x00, 0x00]) // 0xc1 is never valid MessagePack

test('a response without a body gives an empty Buffer, never null', TIMEOUT, async () => {
  const fake = await fakeTarantool()
  try {
    const t = await Transport.connect(fake.port, HOST)
    const [err, body] = await requestCb(t, IPROTO.PING, '')
    assert.equal(err, null)
    assert.ok(Buffer.isBuffer(body), `body is ${body}`)
    assert.equal(body.length, 0)
    const viaPromise = await t.request(IPROTO.PING)
    assert.ok(Buffer.isBuffer(viaPromise))
    assert.equal(viaPromise.length, 0)
    await t.close()
  } finally {
    await fake.close()
  }
})

test('a malformed frame fails pending requests with ProtocolError and closes', TIMEOUT, async () => {
  const fake = await fakeTarantool((sync) => (sync === 666 ? GARBAGE : null))
  try {
    const t = await Transport.connect(fake.port, HOST)
    const closed = new Promise((resolve) => t.once('close', resolve))
    assert.equal((await t.request(IPROTO.PING)).length, 0)
    t.nextSync = 666
    const perr = await rejection(t.request(IPROTO.PING, ''))
    assert.ok(perr instanceof ProtocolError, `got ${perr && perr.name}: ${perr && perr.message}`)
    assert.equal(perr.code, 'ERR_PROTOCOL')
    const cerr = await withTimeout(closed, 1000, "'close' event")
    assert.ok(cerr instanceof ProtocolError)
    assert.equal(t.closed, true)
    assert.equal(t.pending, 0)
    const later = await rejection(t.request(IPROTO.PING))
    assert.ok(later instanceof ConnectionError || later instanceof ProtocolError)
  } finally {
    await fake.close()
  }
})

// Whole, valid responses that arrive in the same read as a malformed frame after them must
// still be delivered: otherwise a request's outcome depends on how TCP segmented the bytes.
test('responses before a malformed frame in the same segment are still delivered', TIMEOUT, async () => {
  const fake = await fakeTarantool((sync) => (sync === 666 ? GARBAGE : null))
  try {
    const t = await Transport.connect(fake.port, HOST)
    // both requests leave in one write, so the fake answers them in one write:
    // [valid response to 665][garbage]
    t.nextSync = 665
    const before = t.request(IPROTO.PING, '')
    const poisoned = t.request(IPROTO.PING, '')
    const perr = await rejection(poisoned)
    assert.ok(perr instanceof ProtocolError)
    const outcome = await before.then((b) => b, (e) => e)
    assert.ok(Buffer.isBuffer(outcome), `the complete response to 665 was dropped: ${outcome && outcome.name}: ${outcome && outcome.message}`)
    assert.equal(outcome.length, 0)
  } finally {
    await fake.close()
  }
})

// close() called from a callback while the same delivery still holds responses for other
// requests: each of those must be settled exactly once (with the close error or its response).
test('close() inside a callback settles the other requests of the same delivery exactly once', TIMEOUT, async () => {
  const fake = await fakeTarantool()
  try {
    const t = await Transport.connect(fake.port, HOST)
    const calls = { a: [], b: [], c: [] }
    let viaPromise = 0
    const done = new Promise((resolve) => {
      // all three leave in one write, so the fake answers them in one write (one delivery)
      t.request(IPROTO.PING, '', (err, body) => {
        calls.a.push(err || body)
        t.close()
        setTimeout(resolve, 200)
      })
      t.request(IPROTO.PING, '', (err, body) => calls.b.push(err || body))
      t.request(IPROTO.PING, '').then(() => viaPromise++, () => viaPromise++)
      t.request(IPROTO.PING, '', (err, body) => calls.c.push(err || body))
    })
    await done
    assert.equal(calls.a.length, 1)
    assert.equal(calls.b.length, 1, `b's callback ran ${calls.b.length} times: ${calls.b.map((x) => (x instanceof Error ? x.code : 'body')).join(', ')}`)
    assert.equal(calls.c.length, 1, `c's callback ran ${calls.c.length} times`)
    assert.equal(viaPromise, 1)
    assert.equal(t.pending, 0)
  } finally {
    await fake.close()
  }
})

test('a response larger than maxFrameSize fails with ProtocolError and ends the connection', TIMEOUT, async () => {
  const t = await connect({ maxFrameSize: 1024 })
  const closed = new Promise((resolve) => t.once('close', resolve))
  assert.deepEqual(await echo(t, 'small'), ['small'])
  const err = await rejection(t.request(IPROTO.CALL, callBody('echo', ['x'.repeat(4096)])))
  assert.ok(err instanceof ProtocolError, `got ${err && err.name}: ${err && err.message}`)
  assert.equal(err.code, 'ERR_PROTOCOL')
  assert.match(err.message, /maxFrameSize/)
  assert.ok((await withTimeout(closed, 1000, "'close' event")) instanceof ProtocolError)
  assert.equal(t.closed, true)
})

// ---------------------------------------------------------------------------------------------
// argument checks

test('connect() refuses bad arguments by rejecting, and a bad callback by throwing', TIMEOUT, async () => {
  const port = server.port
  const typeErrors = [
    [undefined],
    [null],
    [true],
    [() => {}],
    [{}],
    [{ host: HOST }],
    [{ port: 'abc' }],
    [{ port, host: 42 }],
    [{ path: '' }],
    [{ path: 42 }],
    [{ port, user: 42 }],
    [{ port, user: 'tester', password: 42 }],
    [{ port, connectTimeout: 'soon' }],
    [{ port, maxFrameSize: 'big' }],
    [{ port, pushHighWaterMark: 'x' }],
    [port, HOST, 'not a function'],
    [port, HOST, 42],
  ]
  // A bad callback throws (nothing to report to); other bad arguments reject the promise.
  for (const args of typeErrors) {
    const what = `connect(${args.map(String).join(', ')})`
    if (args.length === 3) assert.throws(() => Transport.connect(...args), TypeError, what)
    else await assert.rejects(Transport.connect(...args), TypeError, what)
  }
  for (const bad of [70000, 0, -1, 65536, 1.5, NaN]) {
    await assert.rejects(Transport.connect(bad, HOST), RangeError, `connect(${bad})`)
    await assert.rejects(Transport.connect({ port: bad, host: HOST }), RangeError, `connect({port: ${bad}})`)
  }
  // The native side indexes frames with 32-bit offsets: nothing above 2 GiB is accepted.
  for (const bad of [2 ** 31 + 1, 2 ** 32 - 1, 15]) {
    await assert.rejects(Transport.connect({ port, host: HOST, maxFrameSize: bad }), RangeError, `maxFrameSize ${bad}`)
  }
  assert.throws(() => new Transport(), TypeError)
  assert.throws(() => new Transport({}, {}, {}), TypeError)
})

test('request() refuses bad type, body and options by rejecting, and a bad callback by throwing', TIMEOUT, async () => {
  const t = await connect()
  try {
    const body = callBody('echo', [1])
    const cases = [
      () => t.request(),
      () => t.request('64', ''),
      () => t.request(null, ''),
      () => t.request({}, ''),
      () => t.request(IPROTO.PING, 42),
      () => t.request(IPROTO.PING, {}),
      () => t.request(IPROTO.PING, [0x80]),
      () => t.request(IPROTO.PING, true),
      () => t.request(IPROTO.PING, new ArrayBuffer(1)),
      () => t.request(IPROTO.CALL, body, 'options'),
      () => t.request(IPROTO.CALL, body, 42),
      () => t.request(IPROTO.CALL, body, { onPush: 'no' }),
      () => t.request(IPROTO.CALL, body, { highWaterMark: 'lots' }),
    ]
    for (const [i, fn] of cases.entries()) {
      const refused = fn()
      await assert.rejects(refused, TypeError, `case ${i}: ${fn}`)
      // A refused Response iterates like any other: its pushes reject with the same error.
      await assert.rejects(refused.pushes().next(), TypeError, `case ${i}: pushes()`)
    }
    const badCallbacks = [
      () => t.request(IPROTO.CALL, body, {}, 'not a function'),
      () => t.request(IPROTO.CALL, body, undefined, 42),
      () => t.request(IPROTO.CALL, body, null, {}),
    ]
    for (const [i, fn] of badCallbacks.entries()) assert.throws(fn, TypeError, `bad callback ${i}: ${fn}`)
    assert.equal(t.pending, 0, 'nothing was sent by a rejected call')
    assert.deepEqual(await echo(t, 'after bad calls'), ['after bad calls'])

    // pushes() checks its option and may be iterated only once
    const r = t.request(IPROTO.CALL, callBody('pushes', [1]))
    assert.throws(() => r.pushes({ timeout: 'x' }), TypeError)
    r.pushes()
    assert.throws(() => r.pushes(), TypeError)
    await r
  } finally {
    await t.close()
  }
})

test('nextSync rejects values that are not a u32 (RangeError)', TIMEOUT, async () => {
  const t = await connect()
  try {
    for (const bad of [-1, 4294967296, 1.5, NaN, Infinity]) {
      assert.throws(() => { t.nextSync = bad }, RangeError, `nextSync = ${bad}`)
    }
    const before = t.nextSync
    assert.throws(() => { t.nextSync = -1 }, RangeError)
    assert.equal(t.nextSync, before, 'a rejected value changes nothing')
  } finally {
    await t.close()
  }
})

// The documented convention: a wrong *type* is a TypeError, an out-of-range *number* a
// RangeError (port 70000). Collected in one test so a failure lists every place that does not
// follow it.
test('argument errors follow the convention: out-of-range numbers RangeError, wrong types TypeError', TIMEOUT, async () => {
  const t = await connect()
  const mismatches = []
  // Setters and bad callbacks throw; what returns a promise rejects.
  const expect = async (what, Cls, fn) => {
    let ret
    try {
      ret = fn()
    } catch (err) {
      if (!(err instanceof Cls)) mismatches.push(`${what}: ${err.name} instead of ${Cls.name}`)
      return
    }
    if (ret === undefined || typeof ret.then !== 'function') return mismatches.push(`${what}: did not throw`)
    try {
      const made = await ret
      mismatches.push(`${what}: did not fail`)
      if (made && typeof made.close === 'function') await made.close()
    } catch (err) {
      if (!(err instanceof Cls)) mismatches.push(`${what}: ${err.name} instead of ${Cls.name}`)
    }
  }
  try {
    const port = server.port
    const body = callBody('echo', [1])
    // out-of-range numbers
    await expect('request(-1)', RangeError, () => t.request(-1, body))
    await expect('request(2**32)', RangeError, () => t.request(2 ** 32, body))
    await expect('request(CALL, body, { highWaterMark: -1 })', RangeError, () => t.request(IPROTO.CALL, body, { highWaterMark: -1 }))
    await expect('connect({ connectTimeout: -1 })', RangeError, () => Transport.connect({ port, connectTimeout: -1 }))
    await expect('connect({ maxFrameSize: -1 })', RangeError, () => Transport.connect({ port, maxFrameSize: -1 }))
    await expect('connect({ pushHighWaterMark: -1 })', RangeError, () => Transport.connect({ port, pushHighWaterMark: -1 }))
    await expect('connect(70000)', RangeError, () => Transport.connect(70000))
    await expect('request(CALL, body, { timeout: -1 })', RangeError, () => t.request(IPROTO.CALL, body, { timeout: -1 }))
    // wrong types
    await expect("nextSync = '5'", TypeError, () => { t.nextSync = '5' })
    await expect('nextSync = null', TypeError, () => { t.nextSync = null })
    await expect("request('1')", TypeError, () => t.request('1', body))
    // connect(options, callback?): a second argument that is not a function is a wrong type
    await expect("connect({ port }, 'not a function')", TypeError, () => Transport.connect({ port, host: HOST }, 'not a function'))
    assert.deepEqual(mismatches, [])
  } finally {
    await t.close()
  }
})

// ---------------------------------------------------------------------------------------------
// batching: what one tick issues leaves in one write

test('1,000 requests issued in one tick leave in a few writes', TIMEOUT, async () => {
  const clientChunks = []
  const proxy = net.createServer((client) => {
    client.setNoDelay(true)
    const upstream = net.connect(server.port, HOST)
    upstream.setNoDelay(true)
    client.on('data', (d) => {
      clientChunks.push(d.length)
      upstream.write(d)
    })
    upstream.on('data', (d) => client.write(d))
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise((resolve) => proxy.listen(0, HOST, resolve))
  const t = await Transport.connect(proxy.address().port, HOST)
  try {
    // whatever the handshake sent (nothing without auth before 2.10) is not counted
    assert.deepEqual(await echo(t, 'warm up'), ['warm up'])
    clientChunks.length = 0

    const N = 1000
    const bodies = []
    for (let i = 0; i < N; i++) bodies.push(callBody('echo', [i, 'x'.repeat(i % 50)]))
    const expectedBytes = bodies.reduce((n, b) => n + b.length + 5 + 9, 0) // size prefix + header
    const results = []
    for (let i = 0; i < N; i++) results.push(t.request(IPROTO.CALL, bodies[i]).then(data))
    const values = await Promise.all(results)
    for (let i = 0; i < N; i++) assert.deepEqual(values[i], [i, 'x'.repeat(i % 50)])

    const bytes = clientChunks.reduce((a, b) => a + b, 0)
    assert.ok(bytes >= expectedBytes - N * 4, `proxy saw ${bytes} bytes for ~${expectedBytes}`)
    assert.ok(clientChunks.length <= 10, `1,000 requests reached the proxy in ${clientChunks.length} reads: ${clientChunks.join(',')}`)

    // and one lone request is one read
    clientChunks.length = 0
    assert.deepEqual(await echo(t, 'lone'), ['lone'])
    assert.equal(clientChunks.length, 1)
  } finally {
    await t.close()
    await new Promise((resolve) => proxy.close(resolve))
  }
})

test('the native write function takes only a write handle and a Buffer, and says when the connection has ended', TIMEOUT, async () => {
  const native = require('../binding.js')
  const writeFrames = native.frameWriter()
  const conn = await native.connect({ host: HOST, port: server.port }, undefined, () => {})
  const handle = conn.createWriteHandle()
  const ping = Buffer.from([0xce, 0, 0, 0, 5, 0x82, 0x00, 0x40, 0x01, 0x07])
  try {
    for (const args of [[{}, ping], [1, ping], [undefined, ping], [handle, 'frames'], [handle, [0xce, 0]], [handle]]) {
      assert.throws(() => writeFrames(...args), TypeError, `writeFrames(${args.map((a) => typeof a).join(', ')})`)
    }
    assert.equal(writeFrames(handle, ping), 0, 'the kernel took the PING at once')
    assert.equal(writeFrames(handle, Buffer.alloc(0)), 0)
  } finally {
    conn.close()
  }
  assert.equal(writeFrames(handle, ping), -1, 'a write after close is refused')
})
