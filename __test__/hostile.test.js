'use strict'

// Hostile input. A scripted fake peer — a real Tarantool never sends this — greets like
// Tarantool 2.6, reads the client's request frames and answers with crafted bytes: frames
// announced larger than maxFrameSize, invalid MessagePack, headers that are not maps, frames
// cut off by a close, bad greetings, responses for SYNCs nobody sent. Each must fail only the
// connection it arrived on, with a ProtocolError (or be ignored, for unknown SYNCs), while a
// connection to a real Tarantool keeps working during and after. Last, a fuzz of the JS
// MessagePack decoder and hand-made hostile extension payloads.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')

const { connect, Transport, IPROTO, Extension, ProtocolError, ConnectionError } = require('..')
const { encode: mpEncode, decode: mpDecode } = require('../lib/msgpack')
const { startTarantool, stopAll } = require('./helpers/tarantool')
const { next, rejection, sleep, withTimeout } = require('./helpers/wait')
const { encode, decode, callBody } = require('./helpers/msgpack')

const HOST = '127.0.0.1'
const TIMEOUT = { timeout: 120000 } // for each suite and hook: nothing here may hang the run
let server // a real Tarantool
let real // a client connection to it, used throughout

before(async () => {
  server = await startTarantool()
  real = await connect(`tester:secret@${HOST}:${server.port}`)
}, TIMEOUT)

after(async () => {
  if (real) real.destroy()
  await stopAll()
}, TIMEOUT)

function assertProtocolError(err, what) {
  assert.ok(err instanceof ProtocolError, `${what}: expected ProtocolError, got ${err && err.name}: ${err && err.message}`)
  assert.equal(err.name, 'ProtocolError')
  assert.equal(err.code, 'ERR_PROTOCOL', what)
}

/**
 * Runs `fn` while the real connection is kept busy (4 loops of echo calls, each checking its
 * answer), then checks that none of them failed and that the connection still answers.
 */
async function whileRealConnectionWorks(fn) {
  let stop = false
  let ok = 0
  const failures = []
  const loop = async (k) => {
    for (let i = 0; !stop; i++) {
      try {
        const v = await real.call('echo', [k, i])
        if (v[0] !== k || v[1] !== i) failures.push(`loop ${k}: sent ${i}, got ${JSON.stringify(v)}`)
        else ok++
      } catch (err) {
        failures.push(`loop ${k}: ${err.name}: ${err.message}`)
      }
      if (i % 50 === 49) await sleep(1)
    }
  }
  const loops = [0, 1, 2, 3].map(loop)
  try {
    await fn()
  } finally {
    stop = true
    await Promise.all(loops)
  }
  assert.deepEqual(failures.slice(0, 5), [], 'the real connection failed while the fake peer misbehaved')
  assert.ok(ok > 0, 'the real connection made no progress')
  assert.deepEqual(await real.call('echo', ['still fine']), ['still fine'])
  assert.equal(real.state, 'connected')
}

// ---------------------------------------------------------------------------------------------
// the scripted fake peer — a real Tarantool never sends this

function greetingBytes(line1, line2) {
  return Buffer.concat([Buffer.from(line1.padEnd(63) + '\n'), Buffer.from(line2.padEnd(63) + '\n')])
}

const GREETING = greetingBytes(
  `Tarantool 2.6.0 (Binary) ${crypto.randomUUID()}`,
  crypto.randomBytes(32).toString('base64'),
)

function u32(n) {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

/** A response header map: { REQUEST_TYPE: status, SYNC: sync, SCHEMA_VERSION: 1 }. */
function header(sync, status = 0) {
  return Buffer.concat([Buffer.from([0x83, 0x00, 0xce]), u32(status), Buffer.from([0x01, 0xce]), u32(sync), Buffer.from([0x05, 0x01])])
}

/** A whole frame: 0xce + u32 size, then the parts. */
function frame(...parts) {
  const payload = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([0xce]), u32(payload.length), payload])
}

/** A body { DATA: value }. */
function dataBody(value) {
  return encode(new Map([[IPROTO.DATA, value]]))
}

function okResponse(sync, value) {
  return frame(header(sync), dataBody(value))
}

/**
 * Parses request frames as the JS layer writes them: 0xce + u32 size, then the header map
 * { 0x00: type, 0x01: 0xce + u32 sync } and the body. Returns { requests, rest }.
 */
function parseRequests(buf) {
  const requests = []
  let p = 0
  while (p + 5 <= buf.length) {
    assert.equal(buf[p], 0xce, 'request frames start with 0xce')
    const size = buf.readUInt32BE(p + 1)
    if (p + 5 + size > buf.length) break
    let h = p + 5
    assert.equal(buf[h++], 0x82, 'the request header is a 2-entry map')
    assert.equal(buf[h++], 0x00)
    let type = buf[h++]
    if (type === 0xcc) type = buf[h++]
    else if (type === 0xcd) { type = buf.readUInt16BE(h); h += 2 }
    assert.equal(buf[h++], 0x01)
    assert.equal(buf[h++], 0xce, 'the SYNC is written as 0xce + u32')
    const sync = buf.readUInt32BE(h)
    h += 4
    const body = buf.subarray(h, p + 5 + size)
    let fields = null
    try {
      fields = body.length > 0 ? decode(body) : {}
    } catch {}
    requests.push({ type, sync, fields })
    p += 5 + size
  }
  return { requests, rest: buf.subarray(p) }
}

/** What a request would get from a cooperative server: SELECT → [], CALL/EVAL → the args. */
function normalAnswer(req) {
  if (req.type === IPROTO.PING) return frame(header(req.sync))
  if (req.type === IPROTO.CALL || req.type === IPROTO.EVAL) return okResponse(req.sync, req.fields?.[IPROTO.TUPLE] ?? [])
  return okResponse(req.sync, [])
}

/**
 * Starts a scripted fake peer. For connection number `index` (0, 1, …) it sends
 * `greeting(index)` (default: a valid 2.6 greeting; a Buffer, or null to send nothing), then
 * for each request calls `script(req, ctx)`; `ctx` = { index, sock, answer(req) }. The script
 * returns the bytes to write, or undefined to answer as a cooperative server would; it may
 * also write to or end `ctx.sock` itself and return null.
 */
async function fakePeer(script = () => undefined, greeting = () => GREETING) {
  const conns = []
  const srv = net.createServer((sock) => {
    const index = conns.length
    const c = { index, sock, written: 0, requests: [], closed: null }
    c.closed = new Promise((resolve) => sock.on('close', resolve))
    conns.push(c)
    sock.on('error', () => {})
    const write = (bytes) => {
      if (sock.destroyed || sock.writableEnded) return
      c.written += bytes.length
      sock.write(bytes)
    }
    const g = greeting(index)
    if (g !== null) write(g)
    let inbound = Buffer.alloc(0)
    sock.on('data', (d) => {
      const { requests, rest } = parseRequests(Buffer.concat([inbound, d]))
      inbound = rest
      for (const req of requests) {
        c.requests.push(req)
        const out = script(req, { index, sock, write, answer: normalAnswer })
        if (out === undefined) write(normalAnswer(req))
        else if (out !== null) write(out)
      }
    })
  })
  await new Promise((resolve) => srv.listen(0, HOST, resolve))
  return {
    port: srv.address().port,
    conns,
    close: () => {
      for (const c of conns) c.sock.destroy()
      return new Promise((resolve) => srv.close(resolve))
    },
  }
}

function isCallTo(req, name) {
  return req.type === IPROTO.CALL && req.fields?.[IPROTO.FUNCTION_NAME] === name
}

// What a misbehaving peer answers to the call 'poison' with, by case.
const POISON = {
  'an announced frame larger than maxFrameSize (1,000,000 > 1024), bytes never sent': (sync) =>
    Buffer.concat([Buffer.from([0xce]), u32(1000000), header(sync)]),
  'a body that is 0xc1 (never valid MessagePack)': (sync) => frame(header(sync), Buffer.from([0xc1])),
  'a body map holding 0xc1': (sync) => frame(header(sync), Buffer.from([0x81, 0x30, 0xc1])),
  'a body whose string runs past the end of the frame': (sync) => frame(header(sync), Buffer.from([0x81, 0x30, 0xa5, 0x61, 0x62])),
  'bytes after the body': (sync) => frame(header(sync), dataBody([1]), Buffer.from([0x01, 0x02])),
  'a header that is an array': (sync) => frame(Buffer.from([0x93, 0x00, 0xce]), u32(sync), Buffer.from([0x01]), dataBody([1])),
  'a header that is a string': (sync) => frame(Buffer.from([0xa3, 0x61, 0x62, 0x63]), dataBody([1])),
  'a header map announcing more pairs than the frame holds': (sync) => frame(Buffer.from([0x8f, 0x00, 0x00, 0x01, 0xce]), u32(sync)),
  'a SYNC that is a string': () => frame(Buffer.from([0x82, 0x00, 0x00, 0x01, 0xa1, 0x31]), dataBody([1])),
  'a SYNC beyond u32': () => frame(Buffer.from([0x82, 0x00, 0x00, 0x01, 0xcf, 0x01, 0, 0, 0, 0, 0, 0, 0]), dataBody([1])),
  'a size prefix that is not an unsigned integer': () => Buffer.from([0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]),
}

describe('scripted fake peer — a real Tarantool never sends this: raw Transport', TIMEOUT, () => {
  test('(a) a frame announced larger than maxFrameSize fails the request at once, before its bytes come', async () => {
    await whileRealConnectionWorks(async () => {
      const peer = await fakePeer((req) => {
        if (isCallTo(req, 'poison')) return POISON[Object.keys(POISON)[0]](req.sync)
        if (isCallTo(req, 'sleepy')) return null // never answered
        return undefined
      })
      try {
        const t = await Transport.connect({ host: HOST, port: peer.port, maxFrameSize: 1024 })
        const closed = next(t, 'close')
        const other = t.request(IPROTO.CALL, callBody('sleepy', []), { timeout: 60000 })
        const started = performance.now()
        const err = await withTimeout(rejection(t.request(IPROTO.CALL, callBody('poison', []))), 2000, 'the rejection')
        assert.ok(performance.now() - started < 1000, 'not rejected quickly')
        assertProtocolError(err, 'oversized frame')
        assert.match(err.message, /1000000|maxFrameSize/)
        assertProtocolError(await rejection(other), 'another request on the same connection')
        assertProtocolError(await withTimeout(closed, 1000, "'close'"), "'close'")
        assert.equal(t.closed, true)
        assert.equal(t.pending, 0)
        assert.ok(peer.conns[0].written < 300, `the peer sent ${peer.conns[0].written} bytes`)
        // the client drops the connection: the peer sees its socket close
        await withTimeout(peer.conns[0].closed, 1000, 'the client to close the socket')
        const later = await rejection(t.request(IPROTO.PING))
        assert.ok(later instanceof ConnectionError || later instanceof ProtocolError)
      } finally {
        await peer.close()
      }
    })
  })

  for (const [what, poison] of Object.entries(POISON).slice(1)) {
    test(`(b, c) ${what}: ProtocolError, the connection closes`, async () => {
      await whileRealConnectionWorks(async () => {
        const peer = await fakePeer((req) => (isCallTo(req, 'poison') ? poison(req.sync) : undefined))
        try {
          const t = await Transport.connect({ host: HOST, port: peer.port })
          const closed = next(t, 'close')
          assert.deepEqual(decode(await t.request(IPROTO.CALL, callBody('fine', [1, 2])))[IPROTO.DATA], [1, 2])
          const waiting = t.request(IPROTO.PING, '', { timeout: 60000 })
          const err = await withTimeout(rejection(t.request(IPROTO.CALL, callBody('poison', []))), 2000, 'the rejection')
          assertProtocolError(err, what)
          // the ping was answered before the poison arrived, or fails with the same error
          const ping = await waiting.then((b) => b, (e) => e)
          assert.ok(Buffer.isBuffer(ping) || ping instanceof ProtocolError, `ping: ${ping}`)
          assertProtocolError(await withTimeout(closed, 1000, "'close'"), "'close'")
          assert.equal(t.closed, true)
          assert.equal(t.pending, 0)
          await withTimeout(peer.conns[0].closed, 1000, 'the client to close the socket')
        } finally {
          await peer.close()
        }
      })
    })
  }

  test('(d) a frame cut off by the peer closing the socket: ProtocolError', async () => {
    await whileRealConnectionWorks(async () => {
      const cuts = [
        (sync) => okResponse(sync, ['x'.repeat(100)]).subarray(0, 40), // half a frame
        (sync) => okResponse(sync, [1]).subarray(0, 3), // half the size prefix
        (sync) => okResponse(sync, [1]).subarray(0, 5), // the size prefix alone
      ]
      for (const [k, cut] of cuts.entries()) {
        const peer = await fakePeer((req, ctx) => {
          if (!isCallTo(req, 'poison')) return undefined
          ctx.write(cut(req.sync))
          ctx.sock.end()
          return null
        })
        try {
          const t = await Transport.connect({ host: HOST, port: peer.port })
          const closed = next(t, 'close')
          const err = await withTimeout(rejection(t.request(IPROTO.CALL, callBody('poison', []))), 2000, `cut ${k}`)
          assertProtocolError(err, `cut ${k}`)
          assertProtocolError(await withTimeout(closed, 1000, "'close'"), `'close' of cut ${k}`)
          assert.equal(t.pending, 0)
        } finally {
          await peer.close()
        }
      }
    })
  })

  test('(d) a reset by the peer in the middle of a response is ECONNRESET, as the OS reports it', async () => {
    await whileRealConnectionWorks(async () => {
      const peer = await fakePeer((req, ctx) => {
        if (!isCallTo(req, 'poison')) return undefined
        ctx.write(okResponse(req.sync, ['x'.repeat(100)]).subarray(0, 40))
        setTimeout(() => ctx.sock.resetAndDestroy(), 20)
        return null
      })
      try {
        const t = await Transport.connect({ host: HOST, port: peer.port })
        const closed = next(t, 'close')
        const err = await withTimeout(rejection(t.request(IPROTO.CALL, callBody('poison', []))), 2000, 'the reset')
        assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'ECONNRESET', err.message)
        assert.equal((await withTimeout(closed, 1000, "'close'")).code, 'ECONNRESET')
        assert.equal(t.pending, 0)
      } finally {
        await peer.close()
      }
    })
  })

  test('(e) a bad greeting fails connect with ProtocolError', async () => {
    let seed = 12345
    const random128 = Buffer.alloc(128)
    for (let i = 0; i < 128; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0
      random128[i] = seed >>> 24
    }
    const greetings = {
      'random bytes': random128,
      'an HTTP response': Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'.padEnd(128, ' ')),
      'a valid first line and a salt that is not base64': greetingBytes('Tarantool 2.6.0 (Binary) 3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2', '!!!! not base64 at all !!!!'),
      'a salt too short for chap-sha1': greetingBytes('Tarantool 2.6.0 (Binary) 3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2', 'AAAA'),
      '128 zero bytes': Buffer.alloc(128),
      'lines without newlines': Buffer.alloc(128, 0x41),
    }
    await whileRealConnectionWorks(async () => {
      for (const [what, bytes] of Object.entries(greetings)) {
        const peer = await fakePeer(undefined, () => bytes)
        try {
          // with and without authentication (which needs the salt)
          const errs = await Promise.all([
            rejection(Transport.connect({ host: HOST, port: peer.port, connectTimeout: 5000 })),
            rejection(Transport.connect({ host: HOST, port: peer.port, user: 'tester', password: 'secret', connectTimeout: 5000 })),
          ])
          if (what.startsWith('a valid first line') || what.startsWith('a salt')) {
            // without auth, the salt may go unused: connecting may succeed
            assertProtocolError(errs[1], `${what} (auth)`)
          } else {
            errs.forEach((err, i) => assertProtocolError(err, `${what} (${i ? 'auth' : 'no auth'})`))
          }
        } finally {
          await peer.close()
        }
      }
    })
  })

  test('(e) a greeting cut short by a close fails connect with a ConnectionError or ProtocolError', async () => {
    await whileRealConnectionWorks(async () => {
      const peer = await fakePeer(undefined, () => GREETING.subarray(0, 50))
      try {
        const connected = new Promise((resolve) => {
          const poll = () => (peer.conns.length > 0 ? resolve(peer.conns[0]) : setTimeout(poll, 5))
          poll()
        })
        const attempt = rejection(Transport.connect({ host: HOST, port: peer.port, connectTimeout: 5000 }))
        ;(await connected).sock.end()
        const err = await withTimeout(attempt, 2000, 'the failed connect')
        assert.ok(err instanceof ProtocolError || err instanceof ConnectionError, `${err.name}: ${err.message}`)
      } finally {
        await peer.close()
      }
    })
  })

  test('(f) responses and pushes for SYNCs nobody sent are ignored; the real request completes', async () => {
    await whileRealConnectionWorks(async () => {
      let firstSync = null
      const peer = await fakePeer((req) => {
        if (!isCallTo(req, 'real')) return undefined
        const stray = [
          okResponse(req.sync + 1000, ['unknown sync']),
          frame(header(0xfffffff0, IPROTO.CHUNK), dataBody(['push for nobody'])),
          frame(header(req.sync + 2000, 0x8000 | 33), encode(new Map([[IPROTO.ERROR_24, 'error for nobody']]))),
        ]
        // from the second request on: a second answer to the first, already answered, request
        if (firstSync === null) firstSync = req.sync
        else stray.push(okResponse(firstSync, ['duplicate of an answered request']))
        return Buffer.concat([...stray, okResponse(req.sync, ['right', req.sync])])
      })
      try {
        const t = await Transport.connect({ host: HOST, port: peer.port })
        const pushes = []
        const first = t.request(IPROTO.CALL, callBody('real', []), { onPush: (p) => pushes.push(p) })
        const firstBody = decode(await first)[IPROTO.DATA]
        assert.equal(firstBody[0], 'right')
        const second = decode(await t.request(IPROTO.CALL, callBody('real', [])))[IPROTO.DATA]
        assert.equal(second[0], 'right')
        assert.notEqual(second[1], firstBody[1])
        assert.deepEqual(pushes, [], 'a push for another SYNC reached the request')
        assert.equal(t.closed, false)
        assert.equal(t.pending, 0)
        assert.deepEqual(decode(await t.request(IPROTO.CALL, callBody('echo-like', ['after'])))[IPROTO.DATA], ['after'])
        await t.close()
      } finally {
        await peer.close()
      }
    })
  })
})

describe('scripted fake peer — a real Tarantool never sends this: the client', TIMEOUT, () => {
  for (const what of Object.keys(POISON).filter((k, i) => i < 4 || k.startsWith('a header that is an'))) {
    test(`${what}: the connection drops with ProtocolError and reconnects`, async () => {
      await whileRealConnectionWorks(async () => {
        // connection 0 misbehaves on 'poison'; the next ones behave
        const peer = await fakePeer((req, ctx) => (ctx.index === 0 && isCallTo(req, 'poison') ? POISON[what](req.sync) : undefined))
        const c = await connect({ host: HOST, port: peer.port, maxFrameSize: 1024 }, { reconnect: { initialDelay: 10, maxDelay: 50 } })
        try {
          const events = []
          for (const name of ['disconnect', 'reconnecting', 'connect', 'close']) c.on(name, (arg) => events.push([name, arg]))
          assert.deepEqual(await c.call('fine', ['before']), ['before'])
          const reconnected = next(c, 'connect')
          const err = await withTimeout(rejection(c.call('poison', [])), 2000, 'the rejection')
          assertProtocolError(err, what)
          await withTimeout(reconnected, 3000, "'connect' after the protocol error")
          assert.deepEqual(events.map((e) => e[0]), ['disconnect', 'reconnecting', 'connect'])
          assertProtocolError(events[0][1], "'disconnect' argument")
          assert.equal(c.state, 'connected')
          assert.deepEqual(await c.call('fine', ['after']), ['after'])
          assert.equal(peer.conns.length, 2)
        } finally {
          c.destroy()
          await peer.close()
        }
      })
    })
  }

  test('an onPush push that does not decode fails its request, not the process; the connection goes on', async () => {
    // A uuid extension of 8 bytes instead of 16: a well-formed frame whose value is not.
    const badUuid = Buffer.from([0x81, 0x30, 0x91, 0xd7, 0x02, 1, 2, 3, 4, 5, 6, 7, 8])
    const peer = await fakePeer((req) => (isCallTo(req, 'pushes') ? Buffer.concat([
      frame(header(req.sync, IPROTO.CHUNK), dataBody([1])),
      frame(header(req.sync, IPROTO.CHUNK), badUuid),
      frame(header(req.sync, IPROTO.CHUNK), dataBody([3])),
      okResponse(req.sync, ['done']),
    ]) : undefined))
    const c = await connect({ host: HOST, port: peer.port })
    try {
      const got = []
      const err = await rejection(c.call('pushes', [], { onPush: (v) => got.push(v) }))
      assert.equal(err.name, 'ProtocolError')
      assert.match(err.code, /^ERR_MSGPACK_/)
      assert.deepEqual(got, [1], 'pushes after the one that failed reached a failed request')
      assert.deepEqual(await c.call('echo', ['after']), ['after'])
      assert.equal(c.state, 'connected')
    } finally {
      c.destroy()
      await peer.close()
    }
  })

  test('a protocol error with reconnect: false closes the connection', async () => {
    await whileRealConnectionWorks(async () => {
      const peer = await fakePeer((req) => (isCallTo(req, 'poison') ? POISON['a body that is 0xc1 (never valid MessagePack)'](req.sync) : undefined))
      const c = await connect({ host: HOST, port: peer.port }, { reconnect: false })
      try {
        const events = []
        for (const name of ['disconnect', 'reconnecting', 'connect', 'close']) c.on(name, (arg) => events.push(name))
        const closed = next(c, 'close')
        assertProtocolError(await rejection(c.call('poison', [])), 'poison')
        await withTimeout(closed, 1000, "'close'")
        assert.equal(c.state, 'closed')
        assert.deepEqual(events, ['disconnect', 'close'])
        const later = await rejection(c.call('fine', []))
        assert.equal(later.code, 'ERR_CONNECTION_CLOSED')
        assert.equal(peer.conns.length, 1, 'reconnected although reconnect is false')
      } finally {
        c.destroy()
        await peer.close()
      }
    })
  })

  test('a bad greeting on reconnect is a failed attempt (ProtocolError); the next good one connects', async () => {
    await whileRealConnectionWorks(async () => {
      const peer = await fakePeer(
        (req, ctx) => {
          if (ctx.index === 0 && isCallTo(req, 'drop')) {
            ctx.sock.destroy()
            return null
          }
          return undefined
        },
        (index) => (index === 1 ? Buffer.from('HTTP/1.1 400 Bad Request\r\n'.padEnd(128, ' ')) : GREETING),
      )
      const c = await connect({ host: HOST, port: peer.port }, { reconnect: { initialDelay: 10, maxDelay: 50 } })
      try {
        const attempts = []
        c.on('reconnecting', (info) => attempts.push(info))
        const reconnected = next(c, 'connect')
        const dropped = await rejection(c.call('drop', []))
        assert.ok(dropped instanceof ConnectionError, `${dropped.name}: ${dropped.message}`)
        await withTimeout(reconnected, 3000, "'connect'")
        assert.ok(attempts.length >= 2, `${attempts.length} attempts`)
        assert.ok(attempts[0].error instanceof ConnectionError)
        assertProtocolError(attempts[1].error, 'the attempt that met the bad greeting')
        assert.deepEqual(await c.call('fine', ['back']), ['back'])
      } finally {
        c.destroy()
        await peer.close()
      }
    })
  })

  test('connect() to a peer with a bad greeting rejects with ProtocolError and does not retry', async () => {
    await whileRealConnectionWorks(async () => {
      const peer = await fakePeer(undefined, () => Buffer.alloc(128, 0x7a))
      try {
        assertProtocolError(await rejection(connect({ host: HOST, port: peer.port }, { reconnect: { initialDelay: 10 } })), 'connect')
        assertProtocolError(await rejection(connect(`u:p@${HOST}:${peer.port}`)), 'connect with a user')
        await sleep(100)
        assert.equal(peer.conns.length, 2, 'connect() retried a failed first connection')
      } finally {
        await peer.close()
      }
    })
  })

  test('an error response whose body is malformed still settles the request; the connection goes on', async () => {
    await whileRealConnectionWorks(async () => {
      const bodies = [
        new Map([[IPROTO.ERROR_24, 12345]]), // message that is not a string
        new Map([[IPROTO.ERROR, 'not a map']]),
        new Map([[IPROTO.ERROR, new Map([[0, 'not an array']])]]),
        new Map([[IPROTO.ERROR, new Map([[0, [null, 5, 'x']]])]]),
        new Map([[IPROTO.ERROR, new Map([[0, [new Map([[3, 7], [5, 'code as a string']])]]])]]),
        new Map(),
      ]
      let n = 0
      const peer = await fakePeer((req) => {
        if (!isCallTo(req, 'fails')) return undefined
        return frame(header(req.sync, 0x8000 | 32), encode(bodies[n++]))
      })
      const c = await connect({ host: HOST, port: peer.port })
      try {
        for (let i = 0; i < bodies.length; i++) {
          const err = await withTimeout(rejection(c.call('fails', [])), 2000, `malformed error body ${i}`)
          assert.ok(err instanceof Error, `body ${i}: ${err}`)
          assert.ok(['TarantoolError', 'ProtocolError'].includes(err.name), `body ${i}: ${err.name}: ${err.message}`)
          if (err.name === 'TarantoolError') assert.equal(c.state, 'connected')
          else await withTimeout(next(c, 'connect'), 3000, "'connect'")
        }
        assert.deepEqual(await c.call('fine', [1]), [1])
      } finally {
        c.destroy()
        await peer.close()
      }
    })
  })
})

// ---------------------------------------------------------------------------------------------
// the JS MessagePack decoder

describe('MessagePack decoder against hostile bytes', TIMEOUT, () => {
  test('20,000 random mutations of valid encodings: each decode returns or throws ProtocolError ERR_MSGPACK_*', async () => {
    const fixture = path.join(__dirname, 'fixtures', 'resilience-msgpack-fuzz.js')
    const r = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [fixture, '20000'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => { stdout += d })
      child.stderr.on('data', (d) => { stderr += d })
      const timer = setTimeout(() => child.kill('SIGKILL'), 60000)
      child.on('error', reject)
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, stdout, stderr })
      })
    })
    assert.equal(r.signal, null, `the fuzz run did not finish within 60 s (a decode hung?): ${r.stderr}`)
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout)
    assert.equal(report.iterations, 20000)
    assert.ok(report.returned > 1000 && (report.threw.ProtocolError || 0) > 1000, `mutations too mild or too wild: ${r.stdout}`)
    assert.deepEqual(report.bad, [], 'decode threw something other than a ProtocolError ERR_MSGPACK_*')
    assert.ok(report.maxMs < 5000, `one decode took ${report.maxMs} ms`)
  })

  // MP_ERROR (extension 3) payloads are decoded into TarantoolErrors; their fields come from
  // the peer and may have any type.
  test('hostile MP_ERROR payloads decode to a value or throw ProtocolError ERR_MSGPACK_*', () => {
    const payloads = [
      { 0: [{ 3: 'message', 5: 'code as a string' }] },
      { 0: [{ 3: 'message', 5: true }] },
      { 0: [{ 3: 'message', 5: { nested: 1 } }] },
      { 0: [{ 3: 'message', 5: -1 }] },
      { 0: [{ 3: 'message', 5: 2 ** 40 }] },
      { 0: [null] },
      { 0: [7, 'x'] },
      { 0: 'not an array' },
      { 1: [] },
      'not a map',
      null,
    ]
    for (const payload of payloads) {
      const bytes = mpEncode(new Extension(3, mpEncode(payload)))
      try {
        mpDecode(bytes)
      } catch (err) {
        assert.ok(err instanceof ProtocolError && /^ERR_MSGPACK_/.test(err.code),
          `decoding MP_ERROR ${JSON.stringify(payload)} (${bytes.toString('hex')}) threw ${err.constructor.name}: ${err.message}`)
      }
    }
  })

  // Tarantool decimals have at most 38 digits (the encoder refuses more); a 9-byte decimal with
  // a scale of 2^29 must not make the decoder build a 512 MB string.
  test('a decimal with an absurd scale is refused, not expanded', () => {
    for (const scale of [0x1fffffe0]) {
      // ext8, length 6, type 1 (decimal): scale as 0xce + u32, then one BCD byte (digit 1, sign +)
      const bytes = Buffer.from([0xc7, 6, 1, 0xce, 0, 0, 0, 0, 0x1c])
      bytes.writeUInt32BE(scale, 4)
      let outcome
      try {
        outcome = String(mpDecode(bytes))
      } catch (err) {
        assert.ok(err instanceof ProtocolError && /^ERR_MSGPACK_/.test(err.code), `${err.constructor.name}: ${err.message}`)
        continue
      }
      assert.ok(outcome.length <= 1000,
        `a ${bytes.length}-byte decimal with scale ${scale} decoded into a ${outcome.length}-character number`)
    }
  })
})
