'use strict'

// How the server's bytes are cut into TCP segments must not matter. A proxy between kharon and
// Tarantool re-cuts the server -> client stream: one byte per write, everything held and sent
// in one write, or split into two writes at every possible position.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')

const { Transport, IPROTO, TarantoolError } = require('..')
const { startTarantool, stopAll, serverVersion } = require('./helpers/tarantool')
const { sleep } = require('./helpers/wait')
const { callBody, evalBody, data } = require('./helpers/msgpack')

const HOST = '127.0.0.1'
const GREETING_LEN = 128
const TIMEOUT = { timeout: 60000 } // for each test and hook: nothing here may hang the run
let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

/** Length of the whole IPROTO frame at the start of `buf`, or 0 if it is not all there. */
function frameLength(buf) {
  if (buf.length < 1) return 0
  const b = buf[0]
  let prefix
  let size
  if (b <= 0x7f) { prefix = 1; size = b }
  else if (b === 0xcc) { prefix = 2; if (buf.length < 2) return 0; size = buf[1] }
  else if (b === 0xcd) { prefix = 3; if (buf.length < 3) return 0; size = buf.readUInt16BE(1) }
  else if (b === 0xce) { prefix = 5; if (buf.length < 5) return 0; size = buf.readUInt32BE(1) }
  else throw new Error(`unexpected frame prefix 0x${b.toString(16)}`)
  return buf.length >= prefix + size ? prefix + size : 0
}

/**
 * A TCP proxy to Tarantool. Client -> server bytes pass as they come. Server -> client bytes
 * are re-cut according to `proxy.mode`:
 *   'bytewise' one byte per socket.write, paced by a timer (`pace: 'timer'`, ~1 ms) or
 *              setImmediate (`pace: 'immediate'`), so they arrive as separate segments;
 *   'hold'     once `proxy.holding` is set, hold whole frames until `proxy.holdFrames` have
 *              arrived, then send them in a single write;
 *   'split'    like hold, but send the held bytes in two writes cut at `proxy.splitAt`, a
 *              few ms apart;
 *   'pass'     forward as received.
 * In hold and split modes, what comes before `proxy.holding` is set passes as received: the
 * greeting and the replies to whatever the client sends while it connects (AUTH, and on 2.10+
 * the ID that negotiates the protocol). A test sets it once connect() has resolved.
 * `proxy.writes` counts the writes made towards the client.
 */
async function startProxy(mode, options = {}) {
  const proxy = {
    mode,
    pace: options.pace || 'timer',
    holdFrames: options.holdFrames || 1,
    holding: false,
    splitAt: 0,
    writes: 0,
    bytesToClient: 0,
    flushes: [],
    sockets: new Set(),
  }
  const srv = net.createServer((client) => {
    client.setNoDelay(true)
    const upstream = net.connect(server.port, HOST)
    upstream.setNoDelay(true)
    proxy.sockets.add(client)
    proxy.sockets.add(upstream)
    const queue = [] // bytewise: buffers still to trickle out
    let pumping = false
    let held = Buffer.alloc(0)
    let heldFrames = 0
    let heldBytes = 0 // bytes of `held` that are whole frames

    const write = (buf) => {
      proxy.writes++
      proxy.bytesToClient += buf.length
      client.write(buf)
    }
    const later = (fn) => (proxy.pace === 'immediate' ? setImmediate(fn) : setTimeout(fn, 1))
    const pump = () => {
      if (client.destroyed) return
      while (queue.length > 0 && queue[0].length === 0) queue.shift()
      if (queue.length === 0) {
        pumping = false
        return
      }
      const head = queue[0]
      write(head.subarray(0, 1))
      queue[0] = head.subarray(1)
      later(pump)
    }
    const countFrames = () => {
      for (;;) {
        const len = frameLength(held.subarray(heldBytes))
        if (len === 0) break
        heldBytes += len
        heldFrames++
      }
    }
    const flushHeld = () => {
      const out = held.subarray(0, heldBytes)
      const frames = heldFrames
      held = held.subarray(heldBytes)
      heldBytes = 0
      heldFrames = 0
      countFrames()
      proxy.flushes.push({ frames, bytes: out.length })
      if (proxy.mode === 'split' && proxy.splitAt > 0 && proxy.splitAt < out.length) {
        write(out.subarray(0, proxy.splitAt))
        setTimeout(() => write(out.subarray(proxy.splitAt)), 3)
      } else {
        write(out)
      }
    }

    upstream.on('data', (chunk) => {
      if (proxy.mode === 'bytewise') {
        queue.push(chunk)
        if (!pumping) {
          pumping = true
          later(pump)
        }
        return
      }
      if (proxy.mode === 'pass' || !proxy.holding) {
        write(chunk)
        return
      }
      held = Buffer.concat([held, chunk])
      countFrames()
      if (heldFrames >= proxy.holdFrames) flushHeld()
    })
    client.on('data', (d) => upstream.write(d))
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
  })
  await new Promise((resolve) => srv.listen(0, HOST, resolve))
  proxy.port = srv.address().port
  proxy.close = () => {
    for (const s of proxy.sockets) s.destroy()
    return new Promise((resolve) => srv.close(resolve))
  }
  return proxy
}

async function call(t, name, ...args) {
  return data(await t.request(IPROTO.CALL, callBody(name, args)))
}

// ---------------------------------------------------------------------------------------------

test('one byte per segment: greeting, auth, calls, a long string and pushes', TIMEOUT, async () => {
  const proxy = await startProxy('bytewise', { pace: 'timer' })
  let t
  try {
    t = await Transport.connect({ host: HOST, port: proxy.port, user: 'tester', password: 'secret' })
    assert.ok(proxy.writes >= GREETING_LEN, `greeting and auth came in ${proxy.writes} writes`)
    assert.equal(proxy.writes, proxy.bytesToClient, 'one byte per write')
    assert.equal(t.serverVersion, serverVersion().release, 'the greeting names the version of the binary')

    assert.deepEqual(await call(t, 'echo', 'hello', 1, [2, 3]), ['hello', 1, [2, 3]])
    const who = data(await t.request(IPROTO.EVAL, evalBody('return box.session.user()')))
    assert.deepEqual(who, ['tester'])

    // several calls in flight at once, their responses trickling in byte by byte
    const many = await Promise.all(Array.from({ length: 5 }, (_, i) => call(t, 'echo', i, `v${i}`)))
    assert.deepEqual(many, Array.from({ length: 5 }, (_, i) => [i, `v${i}`]))

    // an error response cut into bytes
    await assert.rejects(t.request(IPROTO.CALL, callBody('no_such_function')), (err) => {
      assert.ok(err instanceof TarantoolError)
      assert.equal(err.code, 'ER_NO_SUCH_PROC')
      assert.equal(err.serverStack[0].type, 'ClientError')
      return true
    })

    // pushes: 5 push frames then the final response, all byte by byte
    const pushes = []
    const r = t.request(IPROTO.CALL, callBody('pushes', [5]))
    for await (const chunk of r) pushes.push(data(chunk))
    assert.deepEqual(pushes, [[1], [2], [3], [4], [5]])
    assert.deepEqual(data(await r), ['done'])

    // pushes then an error
    const got = []
    const failing = t.request(IPROTO.CALL, callBody('push_then_error', [3]))
    await assert.rejects(async () => {
      for await (const chunk of failing) got.push(data(chunk))
    }, (err) => err instanceof TarantoolError && /failed after pushes/.test(err.message))
    assert.deepEqual(got, [[1], [2], [3]])

    // a long string: ~3 KB of response, one byte per write (faster pace for this one)
    proxy.pace = 'immediate'
    const long = Array.from({ length: 3000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('')
    const before = proxy.writes
    assert.deepEqual(await call(t, 'echo', long), [long])
    assert.ok(proxy.writes - before > 3000, `the long response came in ${proxy.writes - before} writes`)
    assert.equal(proxy.writes, proxy.bytesToClient, 'still one byte per write')

    // callbacks while byte-by-byte
    const cb = await new Promise((resolve, reject) => {
      t.request(IPROTO.CALL, callBody('echo', ['callback']), (err, body) => (err ? reject(err) : resolve(data(body))))
    })
    assert.deepEqual(cb, ['callback'])
    assert.equal(t.pending, 0)
  } finally {
    if (t) await t.close()
    await proxy.close()
  }
})

test('one byte per segment without auth: the greeting alone, then ping', TIMEOUT, async () => {
  const proxy = await startProxy('bytewise', { pace: 'timer' })
  let t
  try {
    t = await Transport.connect(proxy.port, HOST)
    const body = await t.request(IPROTO.PING, '')
    assert.ok(Buffer.isBuffer(body))
    assert.deepEqual(await call(t, 'echo', 'x'), ['x'])
    assert.equal(proxy.writes, proxy.bytesToClient)
  } finally {
    if (t) await t.close()
    await proxy.close()
  }
})

test('200 responses held and sent in one write all reach the right callbacks', TIMEOUT, async () => {
  const N = 200
  const proxy = await startProxy('hold', { holdFrames: N })
  let t
  try {
    t = await Transport.connect(proxy.port, HOST)
    const handshakeWrites = proxy.writes // the greeting, and the replies to the handshake if any
    assert.ok(handshakeWrites >= 1, 'the greeting came through')
    proxy.holding = true
    const results = new Array(N)
    let errors = 0
    const all = new Promise((resolve) => {
      let done = 0
      for (let i = 0; i < N; i++) {
        const payload = `r${i}:` + 'y'.repeat((i * 37) % 300)
        t.request(IPROTO.CALL, callBody('echo', [i, payload]), (err, body) => {
          if (err) errors++
          else results[i] = data(body)
          if (++done === N) resolve()
        })
      }
    })
    await all
    assert.equal(errors, 0)
    for (let i = 0; i < N; i++) assert.deepEqual(results[i], [i, `r${i}:` + 'y'.repeat((i * 37) % 300)], `response ${i}`)
    assert.equal(proxy.flushes.length, 1)
    assert.equal(proxy.flushes[0].frames, N, 'all 200 responses were sent together')
    assert.equal(proxy.writes - handshakeWrites, 1, 'after the handshake, one write of every response')
  } finally {
    if (t) await t.close()
    await proxy.close()
  }
})

test('held batches mixing pushes, errors, big and small responses, out of order', TIMEOUT, async () => {
  const proxy = await startProxy('hold', { holdFrames: 1 })
  let t
  try {
    t = await Transport.connect(proxy.port, HOST)
    proxy.holding = true
    // frames expected: pushes(3) = 4 frames, error = 1, big echo = 1, 5 small echoes = 5,
    // push_big(2, 70000) = 3 frames (over 64 KB: the other delivery path)
    proxy.holdFrames = 4 + 1 + 1 + 5 + 3
    const big = 'B'.repeat(100000)
    const pushes = []
    const withPushes = t.request(IPROTO.CALL, callBody('pushes', [3]), {
      onPush: (chunk, ctx) => pushes.push([ctx, data(chunk)]),
      onPushCtx: 'ctx',
    })
    const failing = t.request(IPROTO.CALL, callBody('no_such_function'))
    const bigEcho = t.request(IPROTO.CALL, callBody('echo', [big]))
    const small = Array.from({ length: 5 }, (_, i) => t.request(IPROTO.CALL, callBody('echo', [i])))
    const bigPushes = t.request(IPROTO.CALL, callBody('push_big', [2, 70000]))

    assert.deepEqual(data(await withPushes), ['done'])
    assert.deepEqual(pushes, [['ctx', [1]], ['ctx', [2]], ['ctx', [3]]])
    await assert.rejects(failing, (err) => err instanceof TarantoolError && err.errcode === 33)
    assert.deepEqual(data(await bigEcho), [big])
    assert.deepEqual(await Promise.all(small.map((r) => r.then(data))), [[0], [1], [2], [3], [4]])
    const bigChunks = []
    for await (const chunk of bigPushes) bigChunks.push(data(chunk)[0])
    assert.deepEqual(data(await bigPushes), [2])
    assert.equal(bigChunks.length, 2)
    for (const s of bigChunks) assert.equal(s, 'x'.repeat(70000))
    assert.equal(proxy.flushes.length, 1, `flushes: ${JSON.stringify(proxy.flushes)}`)
    assert.equal(proxy.flushes[0].frames, 14)
  } finally {
    if (t) await t.close()
    await proxy.close()
  }
})

test('three responses split into two writes at every byte position', TIMEOUT, async () => {
  const proxy = await startProxy('split', { holdFrames: 3 })
  let t
  try {
    t = await Transport.connect(proxy.port, HOST)
    const handshakeWrites = proxy.writes
    proxy.holding = true
    // the first round is not split: it tells the length of the responses' bytes
    proxy.splitAt = 0
    const issue = (k) => Promise.all([
      t.request(IPROTO.CALL, callBody('echo', [`first ${k}`])).then(data),
      t.request(IPROTO.CALL, callBody('pushes', [1])).then(data),
      t.request(IPROTO.CALL, callBody('echo', ['x'.repeat(40)])).then(data),
    ])
    // pushes(1) is 2 frames, so hold 4 frames
    proxy.holdFrames = 4
    await issue(-1)
    const total = proxy.flushes[0].bytes
    assert.ok(total > 60)
    for (let k = 1; k < total; k++) {
      proxy.splitAt = k
      const [a, b, c] = await issue(k)
      assert.deepEqual(a, [`first ${k}`], `split at ${k}`)
      assert.deepEqual(b, ['done'], `split at ${k}`)
      assert.deepEqual(c, ['x'.repeat(40)], `split at ${k}`)
    }
    // every flush held exactly the four frames, and from the 2nd on, was cut in two
    assert.equal(proxy.flushes.length, total)
    assert.ok(proxy.flushes.every((f) => f.frames === 4))
    assert.ok(proxy.writes - handshakeWrites >= 1 + 2 * (total - 1), `${proxy.writes - handshakeWrites} writes after the handshake`)
  } finally {
    if (t) await t.close()
    await proxy.close()
  }
})
