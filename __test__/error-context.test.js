'use strict'

// Errors say where and what (issue 26): a connection error names its address (in the message
// and as host/port or path, never a password); a peer that is not a Tarantool is told apart
// from a refused port; a timeout names its request; a server's graceful shutdown has its own
// code; `callerStack` shows where a failed request was issued; kharon's own requests are marked
// internal in traces.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { connect, ConnectionError, TimeoutError, ProtocolError } = require('..')
const { startTarantool, stopAll, freePort, atLeast } = require('./helpers/tarantool')
const { rejection, withTimeout, next } = require('./helpers/wait')
const { startProxy } = require('./helpers/proxy')

const TIMEOUT = { timeout: 60000 }

after(stopAll)

/** A TCP peer on 127.0.0.1 that does `onSocket(socket)` with each connection; closed by `close()`. */
async function peer(onSocket) {
  const sockets = new Set()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s)).on('error', () => {})
    onSocket(s)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

const line = (text) => `${text.padEnd(63)}\n`
const GREETING = line('Tarantool 2.6.0 (Binary) b618f79b-80cc-47b3-96f4-d7df5302b4e0') + line(Buffer.alloc(32, 7).toString('base64'))

function assertWhere(err, port, host = '127.0.0.1') {
  assert.equal(err.host, host)
  assert.equal(err.port, port)
  assert.ok(err.message.includes(`${host}:${port}`), `the message names ${host}:${port}: ${err.message}`)
}

describe('connect failures name the address and what went wrong', TIMEOUT, () => {
  test('a refused port', async () => {
    const port = await freePort()
    const err = await rejection(connect(`tester:hunter2@127.0.0.1:${port}`))
    assert.ok(err instanceof ConnectionError)
    assert.equal(err.code, 'ECONNREFUSED')
    assertWhere(err, port)
    assert.ok(!err.message.includes('hunter2') && !JSON.stringify(err).includes('hunter2'))
  })

  test('a host name that does not resolve', async () => {
    const err = await rejection(connect('no-such-host.invalid:3301'))
    assert.ok(err instanceof ConnectionError)
    assert.equal(err.code, 'ENOTFOUND')
    assertWhere(err, 3301, 'no-such-host.invalid')
  })

  test('a unix socket that is not there', async () => {
    const socket = path.join(os.tmpdir(), `kharon-none-${process.pid}.sock`)
    const err = await rejection(connect({ path: socket }))
    assert.ok(err instanceof ConnectionError)
    assert.equal(err.path, socket)
    assert.ok(err.message.includes(socket), err.message)
  })

  test('a peer that never greets is not a Tarantool: no greeting within connectTimeout', async () => {
    const silent = await peer(() => {})
    try {
      const err = await rejection(connect(`127.0.0.1:${silent.port}`, { connectTimeout: 300 }))
      assert.ok(err instanceof TimeoutError)
      assert.equal(err.code, 'ETIMEDOUT')
      assert.equal(err.message, `no Tarantool greeting from 127.0.0.1:${silent.port} within 300 ms`)
      assertWhere(err, silent.port)
    } finally {
      await silent.close()
    }
  })

  test('a peer that greets but never answers AUTH', async () => {
    const mute = await peer((s) => s.write(GREETING))
    try {
      const err = await rejection(connect(`tester:secret@127.0.0.1:${mute.port}`, { connectTimeout: 300 }))
      assert.ok(err instanceof TimeoutError)
      assert.match(err.message, /greeted but did not answer the handshake \(ID, AUTH\) within 300 ms/)
      assertWhere(err, mute.port)
    } finally {
      await mute.close()
    }
  })

  test('a peer that sends something else than a greeting (an HTTP server, say)', async () => {
    const http = await peer((s) => s.write(`HTTP/1.1 400 Bad Request\r\n${' '.repeat(200)}\r\n`))
    try {
      const err = await rejection(connect(`127.0.0.1:${http.port}`, { connectTimeout: 2000 }))
      assert.ok(err instanceof ProtocolError, `${err.name}: ${err.message}`)
      assertWhere(err, http.port)
    } finally {
      await http.close()
    }
  })
})

describe('on a real server', TIMEOUT, () => {
  let server
  let conn
  before(async () => {
    server = await startTarantool()
    conn = await connect(`tester:secret@127.0.0.1:${server.port}`, { reconnect: false })
  }, TIMEOUT)
  after(async () => {
    conn?.destroy()
    await server?.stop()
  }, TIMEOUT)

  test('a TimeoutError names its request: the function, the space, the SQL cut short', async () => {
    const call = await rejection(conn.call('sleep_then', [1, 'late'], { timeout: 50 }))
    assert.ok(call instanceof TimeoutError)
    assert.equal(call.message, "request timed out after 50 ms (call 'sleep_then')")
    // Answers held back by a proxy: every request times out.
    const proxy = await startProxy(() => server.port)
    const held = await connect(`tester:secret@127.0.0.1:${proxy.port}`)
    try {
      proxy.hold()
      const sql = `SELECT 1 WHERE ${'1 = 1 AND '.repeat(20)}1 = 1`
      const execute = await rejection(held.execute(sql, [], { timeout: 20 }))
      assert.equal(execute.message, `request timed out after 20 ms (execute '${sql.slice(0, 60)}…')`)
      const select = await rejection(held.select('test', 'primary', [], { timeout: 20 }))
      assert.equal(select.message, "request timed out after 20 ms (select 'test')")
      const ping = await rejection(held.ping({ timeout: 20 }))
      assert.equal(ping.message, 'request timed out after 20 ms (ping)')
      // A name not in the cache makes the request wait for a schema refetch (held too): the
      // wait counts against its timeout, as does its signal.
      const started = performance.now()
      const refetching = await rejection(held.upsert('no_such_space', { a: 1 }, [], { timeout: 50 }))
      assert.equal(refetching.message, "request timed out after 50 ms (upsert 'no_such_space')")
      assert.ok(performance.now() - started < 1000)
      const aborted = await rejection(held.upsert('no_such_space', { a: 1 }, [], { signal: AbortSignal.timeout(30) }))
      assert.equal(aborted.code, 'ABORT_ERR')
    } finally {
      held.destroy()
      proxy.close()
    }
  })

  test('callerStack: a failed request shows the line that issued it; without it, it does not', async () => {
    const plain = await rejection(conn.call('no_such_function'))
    assert.ok(!plain.stack.includes(__filename), plain.stack)
    const traced = await connect(`tester:secret@127.0.0.1:${server.port}`, { callerStack: true })
    try {
      const err = await rejection(traced.call('no_such_function'))
      assert.equal(err.code, 'ER_NO_SUCH_PROC')
      assert.ok(err.stack.startsWith(`TarantoolError: ${err.message}\n`), err.stack)
      assert.ok(err.stack.includes(__filename), err.stack)
      assert.ok(!err.stack.includes(path.join(__dirname, '..', 'lib')), `no kharon frames: ${err.stack}`)
      // Requests failed together by one loss get each its own copy, with its own stack.
      const [a, b] = await Promise.all([rejection(traced.call('sleep_then', [5, 1])), rejection(traced.eval('return require("fiber").sleep(5)')), traced.destroy()])
      assert.equal(a.code, 'ERR_CONNECTION_CLOSED')
      assert.equal(b.code, 'ERR_CONNECTION_CLOSED')
      assert.notEqual(a, b)
      assert.ok(a instanceof ConnectionError && a.stack.includes(__filename))
    } finally {
      traced.destroy()
    }
  })

  test('a connection lost names its server', async () => {
    const doomed = await startTarantool()
    const c = await connect(`tester:secret@127.0.0.1:${doomed.port}`, { reconnect: false })
    const lost = next(c, 'disconnect')
    await doomed.stop()
    const err = await withTimeout(lost, 10000, "'disconnect'")
    assertWhere(err, doomed.port)
    const after = await rejection(c.ping())
    assert.equal(after.code, 'ERR_CONNECTION_CLOSED')
    assertWhere(after, doomed.port)
    assert.equal(after.cause, err, 'the cause is the loss')
  })

  test("kharon's own requests (schema fetches) are marked internal in traces; the caller's are not", async () => {
    const seen = []
    const channel = dc.tracingChannel('kharon:request')
    const handlers = { start: (ctx) => seen.push({ type: ctx.type, name: ctx.name, internal: ctx.internal }), end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
    channel.subscribe(handlers)
    try {
      const c = await connect(`tester:secret@127.0.0.1:${server.port}`)
      await c.call('echo', [1])
      await c.close()
    } finally {
      channel.unsubscribe(handlers)
    }
    const schema = seen.filter((s) => s.type === 'select')
    assert.deepEqual(schema.map((s) => [s.name, s.internal]), [[281, true], [289, true]])
    assert.deepEqual(seen.filter((s) => s.type === 'call'), [{ type: 'call', name: 'echo', internal: false }])
  })
})

describe("a server's graceful shutdown", TIMEOUT, () => {
  test('2.10+: the connection ends with ERR_SERVER_SHUTDOWN, not the code of a client-side close', async (t) => {
    if (!atLeast(2, 10)) return t.skip('needs graceful shutdown (box.shutdown, 2.10+)')
    const server = await startTarantool()
    const conn = await connect(`tester:secret@127.0.0.1:${server.port}`, { reconnect: false })
    try {
      const shutdown = next(conn, 'shutdown')
      const lost = next(conn, 'disconnect')
      await server.kill('SIGTERM')
      await withTimeout(shutdown, 10000, "'shutdown'")
      const err = await withTimeout(lost, 10000, "'disconnect'")
      assert.ok(err instanceof ConnectionError)
      assert.equal(err.code, 'ERR_SERVER_SHUTDOWN')
      assertWhere(err, server.port)
      const later = await rejection(conn.ping())
      assert.equal(later.code, 'ERR_CONNECTION_CLOSED')
      assert.equal(later.cause.code, 'ERR_SERVER_SHUTDOWN')
    } finally {
      conn.destroy()
      await server.stop()
    }
  })
})
