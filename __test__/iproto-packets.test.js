'use strict'

// Server-initiated packets (issue 27). Only OK, an error (0x8000 | code) and CHUNK (a push)
// answer a request; any other packet, or one for a SYNC no request waits for, is unsolicited:
// counted in stats().unsolicited and emitted as 'iproto' on the Transport and the Connection,
// never taken for an answer. What kharon itself sends and gives up on is not unsolicited: the
// late answer to a request that timed out, the answer to a heartbeat PING, to a WATCH on 2.6.
//
// The real server runs __test__/iproto-server.lua, whose functions send packets of their own
// with box.iproto.send and answer a custom request type with box.iproto.override: those tests
// need 2.11+ and skip on older servers. The scripted peer speaks the greeting and replies itself
// (as constants.test.js's framing test does), so its tests run whatever the server.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')

const { connect, connectPool, Transport, IPROTO, TimeoutError } = require('..')
const { startTarantool, stopAll, atLeast } = require('./helpers/tarantool')
const { sleep, next, rejection, withTimeout, waitFor } = require('./helpers/wait')
const { encode, decode, packets, callBody } = require('./helpers/msgpack')

const SCRIPT = path.join(__dirname, 'iproto-server.lua')
const TIMEOUT = { timeout: 120000 } // for each suite and hook: nothing here may hang the run
const NEEDS_SEND = atLeast(2, 11) ? false : 'needs box.iproto.send (2.11+)'
const NEEDS_OVERRIDE = atLeast(2, 11) ? false : 'needs box.iproto.override (2.11+)'
const CUSTOM = 0x100 // the type iproto-server.lua overrides
const UNKNOWN = 0x100 // a type no server answers with
const NOBODY = 0xfffffff0 // a SYNC no request has
const ERROR_33 = 0x8000 | 33 // ER_NO_SUCH_PROC

let server

before(async () => {
  server = await startTarantool({ script: SCRIPT })
}, TIMEOUT)

after(stopAll, TIMEOUT)

const uri = () => `127.0.0.1:${server.port}`

/** Every 'iproto' packet `emitter` emits from now. */
function collect(emitter) {
  const seen = []
  emitter.on('iproto', (packet) => seen.push(packet))
  return seen
}

/** A round trip on `conn` (Connection or Transport): whatever the server sent before is in. */
function roundTrip(conn) {
  return conn instanceof Transport ? conn.request(IPROTO.PING) : conn.ping()
}

// ---------------------------------------------------------------------------------------------
// a real server, 2.11+: packets sent by box.iproto.send

describe('box.iproto.send: packets the server sends of its own', { ...TIMEOUT, skip: NEEDS_SEND }, () => {
  test("a CHUNK with a pending call's SYNC is a push of that call", async () => {
    const conn = await connect(uri())
    try {
      const seen = collect(conn)
      const call = conn.call('send_packet', [IPROTO.CHUNK, null, ['pushed'], 'final'])
      const pushes = []
      for await (const push of call) pushes.push(push)
      assert.deepEqual(pushes, ['pushed'])
      const [value] = await call
      assert.equal(value, 'final')
      assert.deepEqual(seen, [])
      const stats = conn.stats()
      assert.equal(stats.pushes, 1)
      assert.equal(stats.unsolicited, 0)
    } finally {
      conn.destroy()
    }
  })

  test("an unknown type with a pending call's SYNC goes to 'iproto'; the call gets its real answer", async () => {
    const conn = await connect(uri())
    try {
      const seen = collect(conn)
      const [value, sync] = await conn.call('send_packet', [UNKNOWN, null, ['fake'], 'real'])
      assert.equal(value, 'real', 'the packet was taken for the answer')
      assert.equal(seen.length, 1)
      const [packet] = seen
      assert.equal(packet.type, UNKNOWN)
      assert.equal(packet.sync, sync)
      assert.equal(typeof packet.schemaVersion, 'number')
      assert.deepEqual(packet.body, { [IPROTO.DATA]: ['fake'] })
      assert.equal(Object.getPrototypeOf(packet.body), Object.prototype)
      assert.equal(packet.raw, undefined)
      assert.equal(conn.stats().unsolicited, 1)
      assert.equal(conn.stats().pending, 0)
    } finally {
      conn.destroy()
    }
  })

  test("packets with a SYNC nobody waits for (OK, error, CHUNK, unknown, no body) go to 'iproto'", async () => {
    const conn = await connect(uri())
    try {
      const seen = collect(conn)
      for (const type of [0, ERROR_33, IPROTO.CHUNK, UNKNOWN]) {
        assert.deepEqual((await conn.call('send_packet', [type, NOBODY, [`for nobody: ${type}`], 'answered']))[0], 'answered')
      }
      assert.deepEqual(await conn.call('send_bare', [0x200, 77]), [true])
      assert.deepEqual(seen.map((p) => [p.type, p.sync, p.body]), [
        [0, NOBODY, { [IPROTO.DATA]: ['for nobody: 0'] }],
        [ERROR_33, NOBODY, { [IPROTO.DATA]: [`for nobody: ${ERROR_33}`] }],
        [IPROTO.CHUNK, NOBODY, { [IPROTO.DATA]: [`for nobody: ${IPROTO.CHUNK}`] }],
        [UNKNOWN, NOBODY, { [IPROTO.DATA]: [`for nobody: ${UNKNOWN}`] }],
        [0x200, 77, undefined],
      ])
      const stats = conn.stats()
      assert.equal(stats.unsolicited, 5)
      assert.equal(stats.pushes, 0)
      assert.equal(stats.errors, 0)
      assert.equal(conn.state, 'connected')
    } finally {
      conn.destroy()
    }
  })

  test("the Transport emits 'iproto' too, and counts what nobody listens to", async () => {
    const conn = await connect(uri())
    try {
      const onTransport = collect(conn.transport)
      await conn.call('send_packet', [UNKNOWN, NOBODY, ['both'], 'x'])
      const onConnection = collect(conn)
      await conn.call('send_packet', [UNKNOWN, NOBODY, ['both again'], 'x'])
      assert.deepEqual(onTransport.map((p) => p.body[IPROTO.DATA][0]), ['both', 'both again'])
      assert.deepEqual(onConnection.map((p) => p.body[IPROTO.DATA][0]), ['both again'])
      // The same packet object on both.
      assert.equal(onConnection[0], onTransport[1])
      conn.transport.removeAllListeners('iproto')
      conn.removeAllListeners('iproto')
      await conn.call('send_packet', [UNKNOWN, NOBODY, ['nobody listens'], 'x'])
      assert.equal(conn.transport.unsolicitedCount, 3)
      assert.equal(conn.stats().unsolicited, 3)

      const t = await Transport.connect(server.port, '127.0.0.1')
      try {
        const seen = collect(t)
        const answer = decode(await t.request(IPROTO.CALL, callBody('send_packet', [UNKNOWN, null, ['raw'], 'raw answer'])))
        assert.equal(answer[IPROTO.DATA][0], 'raw answer')
        assert.deepEqual(seen.map((p) => [p.type, p.sync, p.body]), [[UNKNOWN, answer[IPROTO.DATA][1], { [IPROTO.DATA]: ['raw'] }]])
        assert.equal(t.unsolicitedCount, 1)
      } finally {
        await t.close()
      }
    } finally {
      conn.destroy()
    }
  })

  test("'iproto' is forwarded across reconnects, and the count kept", async () => {
    const conn = await connect(uri(), { reconnect: { initialDelay: 10, maxDelay: 50 } })
    try {
      const seen = collect(conn)
      await conn.call('send_packet', [UNKNOWN, NOBODY, ['first connection'], 'x'])
      const back = next(conn, 'reconnect')
      // As when the socket drops: the Connection reconnects on a new transport.
      conn.transport.close()
      await withTimeout(back, 10000, "'reconnect'")
      await conn.call('send_packet', [UNKNOWN, NOBODY, ['second connection'], 'x'])
      assert.deepEqual(seen.map((p) => p.body[IPROTO.DATA][0]), ['first connection', 'second connection'])
      const stats = conn.stats()
      assert.equal(stats.reconnects, 1)
      assert.equal(stats.unsolicited, 2)
      await conn.close()
      assert.equal(conn.stats().unsolicited, 2, 'kept once closed')
    } finally {
      conn.destroy()
    }
  })

  test('pool.stats() counts them per instance and in total', async () => {
    const pool = await connectPool([uri()], { checkInterval: 60000 })
    try {
      await pool.call('send_packet', [UNKNOWN, NOBODY, ['to the pool'], 'x'])
      await pool.call('send_packet', [0, NOBODY, ['to the pool'], 'x'])
      const { instances, total } = pool.stats()
      assert.equal(instances[uri()].unsolicited, 2)
      assert.equal(total.unsolicited, 2)
    } finally {
      await pool.close()
    }
  })
})

describe('box.iproto.override: custom request types', { ...TIMEOUT, skip: NEEDS_OVERRIDE }, () => {
  test('transport.request(0x100, body) reaches the override and gets its answer', async () => {
    const conn = await connect(uri())
    try {
      const seen = collect(conn)
      const body = encode(new Map([[IPROTO.TUPLE, [1, 'two']]]))
      const answer = decode(await conn.transport.request(CUSTOM, body))
      assert.deepEqual(answer[IPROTO.DATA], ['custom', CUSTOM, [1, 'two']])
      // In callback mode too, and without a body.
      const bare = await new Promise((resolve, reject) => {
        conn.transport.request(CUSTOM, (err, b) => (err ? reject(err) : resolve(decode(b))))
      })
      assert.deepEqual(bare[IPROTO.DATA], ['custom', CUSTOM, null])
      assert.deepEqual(seen, [])
      assert.equal(conn.stats().unsolicited, 0)
    } finally {
      conn.destroy()
    }
  })

  test('a type the server does not override fails with ER_UNKNOWN_REQUEST_TYPE', async () => {
    const t = await Transport.connect(server.port, '127.0.0.1')
    try {
      const err = await rejection(t.request(0x1234))
      assert.equal(err.code, 'ER_UNKNOWN_REQUEST_TYPE')
      assert.equal(t.closed, false)
    } finally {
      await t.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// a real server, any version: what kharon sends and gives up on is not unsolicited

describe('answers kharon expects are not unsolicited', TIMEOUT, () => {
  test('the late answer to a request that timed out is dropped without a trace', async () => {
    const conn = await connect(uri())
    try {
      const seen = collect(conn)
      const err = await rejection(conn.call('sleep_then', [0.1, 'late'], { timeout: 10 }))
      assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`)
      await sleep(200)
      await roundTrip(conn)
      assert.deepEqual(seen, [])
      assert.equal(conn.stats().unsolicited, 0)
    } finally {
      conn.destroy()
    }
  })

  test("the answers to the heartbeat's PINGs are dropped", async () => {
    const t = await Transport.connect({ port: server.port, host: '127.0.0.1', heartbeat: { interval: 50, timeout: 5000, idle: true } })
    try {
      const seen = collect(t)
      // A PING after 50 ms of silence; its answer comes before that of the round trip after it.
      await waitFor(() => t.bytesSent > 0, 5000, "the heartbeat's PING")
      await roundTrip(t)
      assert.deepEqual(seen, [])
      assert.equal(t.unsolicitedCount, 0)
      assert.equal(t.closed, false)
    } finally {
      await t.close()
    }
  })

  test('a WATCH sent as such: what the server sends back (EVENT; before 2.10, an error) is dropped', async () => {
    // conn.watch() refuses a server without watchers; a reconnect to one re-sends the WATCHes.
    const t = await Transport.connect(server.port, '127.0.0.1')
    try {
      const seen = collect(t)
      t._notify(IPROTO.WATCH, encode(new Map([[IPROTO.EVENT_KEY, 'kharon.iproto.test']])))
      await roundTrip(t)
      assert.deepEqual(seen, [])
      assert.equal(t.unsolicitedCount, 0)
    } finally {
      await t.close()
    }
  })

  test('watching a key: the EVENTs are no unsolicited packets', { skip: atLeast(2, 10) ? false : 'needs watchers (2.10+)' }, async () => {
    const conn = await connect(uri())
    try {
      const seen = collect(conn)
      const watcher = conn.watch('kharon.iproto.test', () => {})
      await sleep(100)
      watcher.close()
      await sleep(50)
      await roundTrip(conn)
      assert.deepEqual(seen, [])
      assert.equal(conn.stats().unsolicited, 0)
    } finally {
      conn.destroy()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// the scripted peer — it runs whatever the server: these hold on 2.6 as well

/** A frame: size prefix, {REQUEST_TYPE: type, SYNC: sync, SCHEMA_VERSION: 1}, then `body` (bytes). */
function frame(type, sync, body = Buffer.alloc(0)) {
  const header = encode(new Map([[0x00, type], [0x01, sync], [0x05, 1]]))
  const prefix = Buffer.alloc(5)
  prefix[0] = 0xce
  prefix.writeUInt32BE(header.length + body.length, 1)
  return Buffer.concat([prefix, header, body])
}

const dataBody = (value) => encode(new Map([[IPROTO.DATA, value]]))

/**
 * A scripted peer on 127.0.0.1: greets as Tarantool 2.6 (so no IPROTO_ID follows) and answers
 * each whole request frame with the frames `answer({ type, sync, body })` returns, in one write.
 */
async function scriptedPeer(answer) {
  const line = (text) => text.padEnd(63) + '\n'
  const greeting =
    line('Tarantool 2.6.0 (Binary) b618f79b-80cc-47b3-96f4-d7df5302b4e0') + line(Buffer.alloc(32, 7).toString('base64'))
  const sockets = new Set()
  const srv = net.createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    sock.write(greeting)
    let received = Buffer.alloc(0)
    let answered = 0
    sock.on('data', (d) => {
      received = Buffer.concat([received, d])
      const frames = packets(received)
      for (; answered < frames.length; answered++) {
        const { header, body } = frames[answered]
        sock.write(Buffer.concat(answer({ type: header[0x00], sync: header[0x01], body })))
      }
    })
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return {
    port: srv.address().port,
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => srv.close(resolve))
    },
  }
}

/** Runs `fn(transport)` on a Transport to a scripted peer answering with `answer`. */
async function withPeer(answer, fn) {
  const peer = await scriptedPeer(answer)
  let t
  try {
    t = await withTimeout(Transport.connect(peer.port, '127.0.0.1'), 5000, 'connect')
    return await fn(t, peer)
  } finally {
    if (t !== undefined) await withTimeout(t.close(), 5000, 'close')
    await peer.close()
  }
}

// Every PING is answered plainly; a CALL as `call(sync)` says.
const answering = (call) => (req) => (req.type === IPROTO.CALL ? call(req.sync) : [frame(0, req.sync, dataBody([]))])

describe('scripted peer', TIMEOUT, () => {
  test("scripted peer: an unknown type with a pending request's SYNC goes to 'iproto'; the request gets its real answer", async () => {
    const answer = answering((sync) => [frame(UNKNOWN, sync, dataBody(['fake'])), frame(0, sync, dataBody(['real']))])
    await withPeer(answer, async (t) => {
      const seen = collect(t)
      t.nextSync = 42
      const body = decode(await withTimeout(t.request(IPROTO.CALL, callBody('f')), 5000, 'the answer'))
      assert.deepEqual(body[IPROTO.DATA], ['real'])
      assert.deepEqual(seen, [{ type: UNKNOWN, sync: 42, schemaVersion: 1, body: { [IPROTO.DATA]: ['fake'] } }])
      assert.equal(t.unsolicitedCount, 1)
      assert.equal(t.pending, 0)
      // In callback mode, with nobody listening: counted, and the answer is still the real one.
      t.removeAllListeners('iproto')
      const again = await new Promise((resolve, reject) => {
        t.request(IPROTO.CALL, callBody('f'), (err, b) => (err ? reject(err) : resolve(decode(b))))
      })
      assert.deepEqual(again[IPROTO.DATA], ['real'])
      assert.equal(t.unsolicitedCount, 2)
      assert.equal(t.closed, false)
    })
  })

  test("scripted peer: OK, error, CHUNK and unknown packets for a SYNC nobody waits for go to 'iproto'", async () => {
    const answer = answering((sync) => [
      frame(0, NOBODY, dataBody(['ok'])),
      frame(ERROR_33, NOBODY, encode(new Map([[IPROTO.ERROR_24, 'error for nobody']]))),
      frame(IPROTO.CHUNK, NOBODY, dataBody(['push for nobody'])),
      frame(UNKNOWN, NOBODY),
      frame(0, sync, dataBody(['real'])),
    ])
    await withPeer(answer, async (t) => {
      const seen = collect(t)
      const pushes = []
      const body = decode(await t.request(IPROTO.CALL, callBody('f'), { onPush: (p) => pushes.push(p) }))
      assert.deepEqual(body[IPROTO.DATA], ['real'])
      assert.deepEqual(pushes, [])
      assert.deepEqual(seen.map((p) => [p.type, p.sync, p.body]), [
        [0, NOBODY, { [IPROTO.DATA]: ['ok'] }],
        [ERROR_33, NOBODY, { [IPROTO.ERROR_24]: 'error for nobody' }],
        [IPROTO.CHUNK, NOBODY, { [IPROTO.DATA]: ['push for nobody'] }],
        [UNKNOWN, NOBODY, undefined],
      ])
      assert.equal(t.pushCount, 0)
      assert.equal(t.unsolicitedCount, 4)
    })
  })

  test('scripted peer: a body that does not decode comes as its raw bytes, with the error', async () => {
    // {DATA: a decimal extension (fixext 1, type 1) whose only byte is its scale: no digits}
    const bad = Buffer.from([0x81, IPROTO.DATA, 0xd4, 0x01, 0x00])
    const answer = answering((sync) => [frame(UNKNOWN, sync, bad), frame(0, sync, dataBody(['real']))])
    await withPeer(answer, async (t) => {
      const seen = collect(t)
      const body = decode(await t.request(IPROTO.CALL, callBody('f')))
      assert.deepEqual(body[IPROTO.DATA], ['real'])
      assert.equal(seen.length, 1)
      const [packet] = seen
      assert.equal(packet.body, undefined)
      assert.ok(Buffer.isBuffer(packet.raw))
      assert.equal(packet.raw.toString('hex'), bad.toString('hex'))
      assert.equal(packet.error.name, 'ProtocolError')
      assert.match(packet.error.code, /^ERR_MSGPACK_/)
      // The bytes are the packet's own, not a view of a buffer the next read overwrites.
      await t.request(IPROTO.CALL, callBody('f'))
      assert.equal(packet.raw.toString('hex'), bad.toString('hex'))
    })
  })

  test("scripted peer: an 'iproto' listener that throws is an uncaught exception; the packets and the answer after it are delivered", async () => {
    const answer = answering((sync) => [
      frame(UNKNOWN, sync, dataBody(['first'])),
      frame(UNKNOWN, sync, dataBody(['second'])),
      frame(0, sync, dataBody(['real'])),
    ])
    const peer = await scriptedPeer(answer)
    try {
      // In a process of its own: an uncaught exception is seen only from outside a test.
      const child = `
        const { connect, Transport, IPROTO } = require(${JSON.stringify(path.join(__dirname, '..'))})
        const { callBody, decode } = require(${JSON.stringify(path.join(__dirname, 'helpers', 'msgpack'))})
        const uncaught = []
        process.on('uncaughtException', (err) => uncaught.push(err.message))
        ;(async () => {
          const t = await Transport.connect(${peer.port}, '127.0.0.1')
          const seen = []
          t.on('iproto', (p) => {
            seen.push(p.body[IPROTO.DATA][0])
            if (seen.length === 1) throw new Error('the listener threw')
          })
          const body = decode(await t.request(IPROTO.CALL, callBody('f')))
          await new Promise((resolve) => setImmediate(resolve))
          console.log(JSON.stringify({ uncaught, seen, answer: body[IPROTO.DATA], pending: t.pending, closed: t.closed }))
          await t.close()
        })().catch((err) => { console.error(err); process.exit(1) })
      `
      const out = await runNode(child, 30000)
      assert.equal(out.code, 0, out.stderr)
      assert.deepEqual(JSON.parse(out.stdout), {
        uncaught: ['the listener threw'],
        seen: ['first', 'second'],
        answer: ['real'],
        pending: 0,
        closed: false,
      })
    } finally {
      await peer.close()
    }
  })
})

/** `node -e code`: { code, stdout, stderr }; killed after `killAfter` ms. */
function runNode(code, killAfter) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfter)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer)
      resolve({ code: exitCode ?? signal, stdout, stderr })
    })
  })
}
