'use strict'

// The first connect as a service starting next to its server needs it (issue 26): connect by
// port, wait for a server that is not up yet (waitForServer), a reconnect strategy instead of
// the backoff numbers. Against the real server named by TARANTOOL.

const { test, describe, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { connect, ConnectionError, TarantoolError } = require('..')
const { TarantoolServer, startTarantool, stopAll, freePort } = require('./helpers/tarantool')
const { rejection, sleep, withTimeout, next } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }

after(stopAll)

function laterServer(port) {
  return new TarantoolServer({ port, dir: fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-test-')) })
}

describe('connect(port) and connect(port, host)', TIMEOUT, () => {
  test('take a port, as Transport.connect does, with the client options after it', async () => {
    const server = await startTarantool()
    try {
      const byPort = await connect(server.port, { user: 'tester', password: 'secret' })
      assert.deepEqual(await byPort.call('echo', [1]), [1])
      await byPort.close()
      const byHost = await connect(server.port, '127.0.0.1', { user: 'tester', password: 'secret', timeout: 1000 })
      assert.deepEqual(await byHost.call('echo', ['x']), ['x'])
      await byHost.close()
      await assert.rejects(connect(server.port, '127.0.0.1', 5), TypeError)
      await assert.rejects(connect(true), TypeError)
    } finally {
      await server.stop()
    }
  })
})

describe('waitForServer', TIMEOUT, () => {
  test('without it, a first connect to nothing rejects at once', async () => {
    const port = await freePort()
    const started = performance.now()
    const err = await rejection(connect(`127.0.0.1:${port}`))
    assert.ok(err instanceof ConnectionError)
    assert.equal(err.code, 'ECONNREFUSED')
    assert.ok(performance.now() - started < 2000)
  })

  test('retries until the server comes up, then serves', async () => {
    const port = await freePort()
    const server = laterServer(port)
    try {
      const attempts = []
      const connecting = connect(`tester:secret@127.0.0.1:${port}`, {
        waitForServer: 30000,
        reconnect: { strategy: (attempt, error) => { attempts.push([attempt, error.code]); return 50 } },
      })
      await sleep(400)
      await server.start()
      const conn = await withTimeout(connecting, 30000, 'connect once the server is up')
      assert.deepEqual(await conn.call('echo', [7]), [7])
      assert.ok(attempts.length >= 2, `retried (${attempts.length} attempts)`)
      assert.deepEqual(attempts[0], [1, 'ECONNREFUSED'])
      assert.ok(attempts.every(([n], i) => n === i + 1), 'attempts counted from 1')
      await conn.close()
    } finally {
      await server.stop()
    }
  })

  test('gives up at its deadline with the last reason, and says where', async () => {
    const port = await freePort()
    const started = performance.now()
    const err = await rejection(connect(`127.0.0.1:${port}`, { waitForServer: 500, reconnect: { initialDelay: 20, maxDelay: 50 } }))
    const took = performance.now() - started
    assert.ok(err instanceof ConnectionError)
    assert.equal(err.code, 'ECONNREFUSED')
    assert.match(err.message, new RegExp(`no Tarantool at 127\\.0\\.0\\.1:${port} within 500 ms`))
    assert.equal(err.cause.code, 'ECONNREFUSED')
    assert.equal(err.port, port)
    assert.ok(took >= 450 && took < 5000, `took ${took} ms`)
  })

  test('wrong credentials reject at once: a server is there', async () => {
    const server = await startTarantool()
    try {
      const started = performance.now()
      const err = await rejection(connect(`tester:wrong@127.0.0.1:${server.port}`, { waitForServer: 20000 }))
      assert.ok(err instanceof TarantoolError)
      assert.match(err.message, /authentication failed/)
      assert.equal(err.port, server.port)
      assert.ok(performance.now() - started < 5000)
    } finally {
      await server.stop()
    }
  })

  test('a strategy that returns null gives up, even before the deadline', async () => {
    const port = await freePort()
    const err = await rejection(connect(`127.0.0.1:${port}`, { waitForServer: 30000, reconnect: { strategy: (attempt) => (attempt < 3 ? 10 : null) } }))
    assert.match(err.message, /gave up reconnecting after 2 attempts/)
    assert.equal(err.code, 'ECONNREFUSED')
  })
})

describe('reconnect: { strategy }', TIMEOUT, () => {
  test('sets each delay of a reconnect, and null gives up (error, then close)', async () => {
    const server = await startTarantool()
    const calls = []
    const conn = await connect(`tester:secret@127.0.0.1:${server.port}`, {
      reconnect: { strategy: (attempt, error) => { calls.push({ attempt, code: error.code }); return attempt < 3 ? 20 : null } },
    })
    const delays = []
    conn.on('reconnecting', ({ delay }) => delays.push(delay))
    const gaveUp = next(conn, 'error')
    await server.stop()
    const err = await withTimeout(gaveUp, 20000, "'error' when the strategy gives up")
    assert.match(err.message, /gave up reconnecting after 2 attempts/)
    assert.deepEqual(delays, [20, 20])
    assert.deepEqual(calls.map((c) => c.attempt), [1, 2, 3])
    assert.equal(conn.state, 'closed')
  })

  test('a strategy that is not a function is a TypeError', async () => {
    await assert.rejects(connect('127.0.0.1:1', { reconnect: { strategy: 5 } }), TypeError)
  })
})
