'use strict'

// Observability against a real Tarantool: the `kharon:request` TracingChannel, the
// connect/disconnect/reconnect channels, conn.stats() and pool.stats(), NODE_DEBUG=kharon log
// lines (in a child process), and the OpenTelemetry example built on the channel.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const net = require('node:net')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { SpanKind, SpanStatusCode } = require('@opentelemetry/api')

const { connect, connectPool, REQUEST_NAME_LIMIT, ConnectionError, TarantoolError, TimeoutError } = require('..')
const { instrument, RecordingTracerProvider } = require('../examples/opentelemetry')
const { startTarantool, stopAll, freePort } = require('./helpers/tarantool')
const { next, rejection, sleep, withTimeout, waitFor } = require('./helpers/wait')

const TIMEOUT = { timeout: 120000 } // for each suite and hook: nothing here may hang the run
const RECONNECT = { reconnect: { initialDelay: 50, maxDelay: 200 } }
const DEBUG_LOG = path.join(__dirname, 'fixtures', 'debug-log.js')
const TRACE_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error']
const CTX_KEYS = ['host', 'internal', 'name', 'port', 'pushes', 'serverVersion', 'sync', 'type']

let server // never killed
let second // the pool's other instance
let victim // killed and restarted

before(async () => {
  ;[server, second, victim] = await Promise.all([startTarantool(), startTarantool(), startTarantool()])
}, TIMEOUT)

const uri = (s) => `tester:secret@127.0.0.1:${s.port}`

/** Runs `fn` while recording every kharon:request event: { event, ctx, sync, pushes } as they were then. */
async function traced(fn) {
  const channel = dc.tracingChannel('kharon:request')
  const events = []
  const handlers = Object.fromEntries(TRACE_EVENTS.map((event) => [event, (ctx) => {
    events.push({ event, ctx, sync: ctx.sync, pushes: ctx.pushes })
  }]))
  channel.subscribe(handlers)
  try {
    await fn()
  } finally {
    channel.unsubscribe(handlers)
  }
  return events
}

/** The one context `events` are about, checked to be the same object throughout. */
function onlyContext(events) {
  const contexts = new Set(events.map((e) => e.ctx))
  assert.equal(contexts.size, 1, `events of ${contexts.size} requests`)
  return events[0].ctx
}

/** Records what the connect/disconnect/reconnect channels publish about `port` as { name, msg }. */
function recordChannels(port) {
  const messages = []
  const subscriptions = ['connect', 'disconnect', 'reconnect'].map((name) => [`kharon:${name}`, (msg) => {
    if (msg.port === port) messages.push({ name, msg })
  }])
  for (const [channel, fn] of subscriptions) dc.subscribe(channel, fn)
  const stop = () => {
    for (const [channel, fn] of subscriptions) dc.unsubscribe(channel, fn)
  }
  return { messages, stop }
}

/** JSON of `value` with Errors spelled out (message, code, cause), to search for leaks. */
function jsonOf(value) {
  return JSON.stringify(value, (_, v) => (v instanceof Error ? { name: v.name, message: v.message, code: v.code, cause: v.cause } : v))
}

function assertAllNumbers(stats) {
  for (const [key, v] of Object.entries(stats)) assert.equal(typeof v, 'number', `${key} is ${typeof v}`)
}

/** Kills `s` (SIGKILL), restarts it on its port, and waits for `conn` to reconnect. */
async function killAndRestart(s, conn) {
  const lost = next(conn, 'disconnect')
  await s.kill()
  await withTimeout(lost, 5000, "'disconnect' after the kill")
  const back = next(conn, 'connect')
  await s.start()
  await withTimeout(back, 30000, "'connect' after the restart")
}

describe('kharon:request TracingChannel', TIMEOUT, () => {
  let conn
  before(async () => {
    conn = await connect(uri(server))
  })
  after(() => conn?.destroy())

  test('a successful call: start, end, asyncStart, asyncEnd on one context with the documented keys only', async () => {
    const arg = 'distinctive-argument-7c3e'
    const events = await traced(async () => {
      assert.deepEqual(await conn.call('echo', [arg]), [arg])
    })
    assert.deepEqual(events.map((e) => e.event), ['start', 'end', 'asyncStart', 'asyncEnd'])
    const ctx = onlyContext(events)
    assert.deepEqual(Object.keys(ctx).sort(), CTX_KEYS)
    assert.equal(ctx.type, 'call')
    assert.equal(ctx.name, 'echo')
    assert.equal(ctx.host, server.host)
    assert.equal(ctx.port, server.port)
    assert.equal(ctx.pushes, 0)
    assert.equal(ctx.serverVersion, conn.transport.serverVersion)
    assert.ok(events[0].sync === null || typeof events[0].sync === 'number')
    assert.equal(typeof events[1].sync, 'number', 'sync by end')
    assert.equal(ctx.sync, events[1].sync)
    const json = jsonOf(ctx)
    assert.ok(!json.includes(arg), json)
    assert.ok(!json.includes('secret'), json)
  })

  test('a failed call: start, end, error, asyncStart, asyncEnd; ctx.error is the TarantoolError', async () => {
    let err
    const events = await traced(async () => {
      err = await rejection(conn.call('no_such_function'))
    })
    assert.deepEqual(events.map((e) => e.event), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    const ctx = onlyContext(events)
    assert.deepEqual(Object.keys(ctx).sort(), [...CTX_KEYS, 'error'].sort())
    assert.ok(ctx.error instanceof TarantoolError, `${ctx.error.name}: ${ctx.error.message}`)
    assert.equal(ctx.error, err)
    assert.equal(ctx.error.code, 'ER_NO_SUCH_PROC')
    assert.equal(ctx.name, 'no_such_function')
  })

  test('a push stream: asyncEnd sees every push counted', async () => {
    const got = []
    const events = await traced(async () => {
      for await (const x of conn.call('pushes', [5])) got.push(x)
    })
    assert.deepEqual(got, [1, 2, 3, 4, 5])
    assert.deepEqual(events.map((e) => e.event), ['start', 'end', 'asyncStart', 'asyncEnd'])
    assert.equal(onlyContext(events).name, 'pushes')
    assert.equal(events[0].pushes, 0)
    assert.equal(events.at(-1).pushes, 5)
  })

  test('pushes then an error: the error is published and the pushes counted', async () => {
    let err
    const events = await traced(async () => {
      err = await rejection(conn.call('push_then_error', [3]))
    })
    assert.deepEqual(events.map((e) => e.event), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    const ctx = onlyContext(events)
    assert.ok(err instanceof TarantoolError)
    assert.equal(ctx.error, err)
    assert.equal(ctx.pushes, 3)
  })

  test('a timeout: the error event carries the TimeoutError (ETIMEDOUT)', async () => {
    const events = await traced(async () => {
      await rejection(conn.call('sleep_then', [1, 1], { timeout: 50 }))
    })
    assert.deepEqual(events.map((e) => e.event), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    const ctx = onlyContext(events)
    assert.ok(ctx.error instanceof TimeoutError, `${ctx.error.name}: ${ctx.error.message}`)
    assert.equal(ctx.error.code, 'ETIMEDOUT')
  })

  test('a request on a stream has streamId; a plain one has no such key', async () => {
    const stream = conn.stream()
    const events = await traced(async () => {
      await stream.call('echo', ['on a stream'])
      await conn.call('echo', ['plain'])
    })
    const [onStream, plain] = [...new Set(events.map((e) => e.ctx))]
    assert.deepEqual(Object.keys(onStream).sort(), [...CTX_KEYS, 'streamId'].sort())
    assert.ok(Number.isInteger(onStream.streamId) && onStream.streamId > 0, `streamId ${onStream.streamId}`)
    assert.equal(onStream.streamId, stream.id)
    assert.ok(!('streamId' in plain))
  })

  test('execute: the name is the SQL cut to REQUEST_NAME_LIMIT characters', async () => {
    const sql = `SELECT ${Array.from({ length: 40 }, (_, i) => `${i} AS c${i}`).join(', ')}`
    assert.ok(sql.length > REQUEST_NAME_LIMIT)
    const events = await traced(async () => {
      assert.equal((await conn.execute(sql)).rows[0].length, 40)
    })
    const ctx = onlyContext(events)
    assert.equal(ctx.type, 'execute')
    assert.equal(ctx.name, sql.slice(0, REQUEST_NAME_LIMIT))
  })

  test('a select by space name is named by that name', async () => {
    const events = await traced(async () => {
      await conn.select('test', 'pk', [1])
    })
    const ctx = onlyContext(events)
    assert.equal(ctx.type, 'select')
    assert.equal(ctx.name, 'test')
  })

  test('a pool request is traced once, with the address of one of the pool instances', async () => {
    const pool = await connectPool([uri(server), uri(second)], { checkInterval: 60000 })
    try {
      const events = await traced(async () => {
        await pool.call('echo', ['pooled'])
      })
      const ctx = onlyContext(events.filter((e) => e.ctx.name === 'echo'))
      assert.equal(events.filter((e) => e.event === 'start' && e.ctx === ctx).length, 1)
      assert.equal(ctx.host, '127.0.0.1')
      assert.ok([server.port, second.port].includes(ctx.port), `port ${ctx.port}`)
    } finally {
      await pool.close()
    }
  })

  test('with nobody subscribed, nothing is published', async () => {
    const channel = dc.tracingChannel('kharon:request')
    // What kharon does with the five channels, subscribed or not: an unsubscribed channel
    // drops a publish, so only counting the calls shows whether tracing was off.
    const uses = []
    for (const event of TRACE_EVENTS) {
      for (const method of ['publish', 'runStores']) {
        channel[event][method] = function (...args) {
          uses.push(`${event}.${method}`)
          return Object.getPrototypeOf(this)[method].apply(this, args)
        }
      }
    }
    try {
      const seen = []
      const handlers = { start: (ctx) => seen.push(ctx.name) }
      channel.subscribe(handlers)
      await conn.call('echo', ['seen'])
      channel.unsubscribe(handlers)
      assert.ok(uses.includes('start.runStores'), `the count sees the channels kharon uses: ${uses}`)
      uses.length = 0
      await conn.call('echo', ['unseen'])
      await rejection(conn.call('no_such_function'))
      assert.deepEqual(uses, [])
      assert.deepEqual(seen, ['echo'])
    } finally {
      for (const event of TRACE_EVENTS) {
        delete channel[event].publish
        delete channel[event].runStores
      }
    }
  })
})

describe('kharon:connect, kharon:disconnect, kharon:reconnect', TIMEOUT, () => {
  const seen = [] // every message of this suite, searched for the password by the last test

  test('connect publishes the address, attempt 0, serverVersion and protocol; close() a disconnect with error null', async () => {
    const { messages, stop } = recordChannels(server.port)
    let conn
    try {
      conn = await connect(uri(server))
      await conn.close()
    } finally {
      stop()
      seen.push(...messages)
    }
    const address = { host: '127.0.0.1', port: server.port }
    assert.deepEqual(messages, [
      { name: 'connect', msg: { ...address, attempt: 0, serverVersion: conn.transport.serverVersion, protocol: conn.protocol } },
      { name: 'disconnect', msg: { ...address, error: null } },
    ])
  })

  test('a refused connect publishes attempt 0 with the error connect() rejects with', async () => {
    const port = await freePort()
    const { messages, stop } = recordChannels(port)
    let err
    try {
      err = await rejection(connect(`tester:secret@127.0.0.1:${port}`))
    } finally {
      stop()
      seen.push(...messages)
    }
    assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ECONNREFUSED')
    assert.deepEqual(messages, [{ name: 'connect', msg: { host: '127.0.0.1', port, attempt: 0, error: err } }])
  })

  test('a killed server: disconnect with the error, reconnect attempts, then connect with attempt >= 1', async () => {
    const conn = await connect(uri(victim), RECONNECT)
    const { messages, stop } = recordChannels(victim.port)
    try {
      await killAndRestart(victim, conn)
    } finally {
      stop()
      seen.push(...messages)
      conn.destroy()
    }
    const address = { host: '127.0.0.1', port: victim.port }
    const [lost, first, ...rest] = messages
    assert.equal(lost.name, 'disconnect')
    assert.deepEqual(Object.keys(lost.msg).sort(), ['error', 'host', 'port'])
    assert.ok(lost.msg.error instanceof ConnectionError, `${lost.msg.error}`)
    assert.equal(first.name, 'reconnect')
    assert.deepEqual({ ...first.msg, delay: 0 }, { ...address, attempt: 1, delay: 0, error: lost.msg.error })
    assert.equal(typeof first.msg.delay, 'number')
    const last = rest.pop()
    assert.equal(last.name, 'connect')
    assert.deepEqual(last.msg, { ...address, attempt: last.msg.attempt, serverVersion: conn.transport.serverVersion, protocol: conn.protocol })
    assert.ok(last.msg.attempt >= 1)
    // Between them, failed attempts: each a connect with its error, then the next reconnect.
    assert.equal(rest.length % 2, 0)
    for (let i = 0; i < rest.length; i += 2) {
      const attempt = i / 2 + 1
      assert.deepEqual(rest[i], { name: 'connect', msg: { ...address, attempt, error: rest[i].msg.error } })
      assert.ok(rest[i].msg.error instanceof Error)
      assert.equal(rest[i + 1].name, 'reconnect')
      assert.equal(rest[i + 1].msg.attempt, attempt + 1)
      assert.equal(rest[i + 1].msg.error, rest[i].msg.error)
    }
    assert.equal(last.msg.attempt, rest.length / 2 + 1)
  })

  test('no message carries the password', () => {
    assert.ok(seen.length >= 6)
    const json = jsonOf(seen)
    assert.ok(!json.includes('secret'), json)
  })
})

describe('conn.stats() and pool.stats()', TIMEOUT, () => {
  test('counts known traffic exactly; pending while a call runs; connectedSince since connect', async () => {
    const startedAt = Date.now()
    const conn = await connect(uri(server))
    try {
      const base = conn.stats()
      assertAllNumbers(base)
      assert.deepEqual(Object.keys(base).sort(), ['bytesReceived', 'bytesSent', 'connectedSince', 'errors', 'pending', 'pushes', 'reconnects', 'requests', 'timeouts', 'unsolicited', 'writableLength'])
      assert.equal(base.pending, 0)
      assert.ok(base.connectedSince >= startedAt && base.connectedSince <= Date.now(), `connectedSince ${base.connectedSince}`)
      for (let i = 0; i < 3; i++) await conn.call('echo', [i])
      await rejection(conn.call('no_such_function'))
      assert.ok((await rejection(conn.call('sleep_then', [1, 1], { timeout: 50 }))) instanceof TimeoutError)
      assert.deepEqual(await conn.call('pushes', [4]), ['done'])
      const running = conn.call('sleep_then', [0.2, 'late'])
      assert.equal(conn.stats().pending, 1)
      await running
      const s = conn.stats()
      assertAllNumbers(s)
      assert.equal(s.requests - base.requests, 7)
      assert.equal(s.errors - base.errors, 2)
      assert.equal(s.timeouts - base.timeouts, 1)
      assert.equal(s.pushes - base.pushes, 4)
      assert.equal(s.reconnects, 0)
      assert.ok(s.bytesSent > base.bytesSent)
      assert.ok(s.bytesReceived > base.bytesReceived)
      assert.equal(s.pending, 0)
      assert.equal(s.connectedSince, base.connectedSince)
    } finally {
      conn.destroy()
    }
  })

  test('a reconnect is counted and keeps the counts; after close() connectedSince is 0 and the counts stay', async () => {
    const conn = await connect(uri(victim), RECONNECT)
    try {
      await conn.call('pushes', [2])
      await rejection(conn.call('no_such_function'))
      const before = conn.stats()
      await killAndRestart(victim, conn)
      const back = conn.stats()
      assert.equal(back.reconnects, 1)
      // The schema is fetched again: two selects.
      assert.equal(back.requests, before.requests + 2)
      assert.equal(back.errors, before.errors)
      assert.equal(back.timeouts, before.timeouts)
      assert.equal(back.pushes, before.pushes)
      assert.ok(back.bytesSent > before.bytesSent)
      assert.ok(back.bytesReceived > before.bytesReceived)
      assert.ok(back.connectedSince >= before.connectedSince && back.connectedSince <= Date.now())
      await conn.call('echo', ['after the reconnect'])
      const open = conn.stats()
      await conn.close()
      const closed = conn.stats()
      assertAllNumbers(closed)
      assert.equal(closed.connectedSince, 0)
      assert.deepEqual({ ...closed, connectedSince: open.connectedSince }, open)
    } finally {
      conn.destroy()
    }
  })

  test('a request refused for a bad option rejects and is not a counted request', async () => {
    const conn = await connect(uri(server))
    try {
      const base = conn.stats()
      const events = await traced(async () => {
        await assert.rejects(() => conn.call('echo', [], { timeout: -1 }), RangeError)
        await assert.rejects(conn.ping({ timeout: 'soon' }), TypeError)
      })
      assert.deepEqual(events, [])
      assert.deepEqual(conn.stats(), base)
    } finally {
      conn.destroy()
    }
  })

  test('pool.stats() keys an instance given with a password by its URI without the password', async () => {
    const pool = await connectPool([uri(server)], { checkInterval: 60000 })
    try {
      await pool.call('echo', [1])
      const { instances } = pool.stats()
      assert.deepEqual(Object.keys(instances), [`tester@127.0.0.1:${server.port}`])
      assert.ok(!jsonOf(pool.stats()).includes('secret'))
    } finally {
      await pool.close()
    }
  })

  test('pool.stats(): instances by URI, total their sums without connectedSince', async () => {
    const uris = [`127.0.0.1:${server.port}`, `127.0.0.1:${second.port}`]
    const pool = await connectPool(uris, { checkInterval: 60000 })
    try {
      for (let i = 0; i < 4; i++) await pool.call('echo', [i])
      await pool.call('pushes', [3])
      const { instances, total } = pool.stats()
      assert.deepEqual(Object.keys(instances).sort(), [...uris].sort())
      const fields = Object.keys(instances[uris[0]]).filter((k) => k !== 'connectedSince').sort()
      assert.deepEqual(Object.keys(total).sort(), fields)
      for (const s of Object.values(instances)) {
        assertAllNumbers(s)
        assert.ok(s.connectedSince > 0)
      }
      for (const key of fields) {
        assert.equal(total[key], Object.values(instances).reduce((sum, s) => sum + s[key], 0), key)
      }
      assert.equal(total.pushes, 3)
      assert.ok(total.requests >= 5)
    } finally {
      await pool.close()
    }
  })
})

describe('NODE_DEBUG=kharon', TIMEOUT, () => {
  /**
   * Runs fixtures/debug-log.js MODE PORT, with NODE_DEBUG=kharon when `debug`; killed after
   * 30 s. { child, stdout, stderr, exited: Promise<{ code, signal }> }.
   */
  function runDebugLog(mode, port, { debug = true } = {}) {
    const env = { ...process.env }
    if (debug) env.NODE_DEBUG = 'kharon'
    else delete env.NODE_DEBUG
    const child = spawn(process.execPath, [DEBUG_LOG, mode, String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const run = { child, stdout: '', stderr: '' }
    child.stdout.on('data', (d) => { run.stdout += d })
    child.stderr.on('data', (d) => { run.stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000)
    run.exited = new Promise((resolve) => child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    }))
    return run
  }

  /** stderr's lines, each checked to be one 'KHARON <pid>: ...' line. */
  function logLines(run) {
    const lines = run.stderr.split('\n').filter((l) => l !== '')
    const prefix = `KHARON ${run.child.pid}: `
    for (const line of lines) assert.ok(line.startsWith(prefix) && line.length > prefix.length, `not a log line: ${JSON.stringify(line)}`)
    return lines.map((l) => l.slice(prefix.length))
  }

  const count = (lines, re) => lines.filter((l) => re.test(l)).length
  const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

  test('a session: connect, sign-in, negotiation, schema, heartbeat PING and answer, close; never the password', async () => {
    const run = runDebugLog('session', server.port)
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stdout + run.stderr)
    const { serverVersion } = JSON.parse(run.stdout.split('\n')[0])
    const address = literal(`127.0.0.1:${server.port}`)
    const lines = logLines(run)
    for (const [re, times] of [
      [new RegExp(`^connect ${address} \\(timeout \\d+ ms\\)$`), 1],
      [new RegExp(`^connected to ${address}: Tarantool ${literal(serverVersion)}$`), 1],
      [/^auth: signed in as "tester"$/, 1],
      [/^negotiation: /, 1],
      [/^schema: fetched \d+ spaces and \d+ indexes/, 1],
      [/^heartbeat: PING after \d+ ms of silence$/, null],
      [/^heartbeat: the server is alive/, null],
      [new RegExp(`^closed the connection to ${address}$`), 1],
    ]) {
      const n = count(lines, re)
      if (times === null) assert.ok(n >= 1, `no line matches ${re}:\n${lines.join('\n')}`)
      else assert.equal(n, times, `lines matching ${re}:\n${lines.join('\n')}`)
    }
    assert.ok(!run.stderr.includes('secret'))
  })

  test('without NODE_DEBUG the same session writes nothing to stderr', async () => {
    const run = runDebugLog('session', server.port, { debug: false })
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stdout + run.stderr)
    assert.match(run.stdout, /^done$/m)
    assert.equal(run.stderr, '')
  })

  test('a killed server: the loss and each reconnect attempt are logged', async () => {
    const run = runDebugLog('reconnect', victim.port)
    try {
      await waitFor(() => run.stdout.includes('ready\n'), 20000, "the child's ready line")
      await victim.kill()
      await waitFor(() => run.stderr.includes('reconnect attempt 1 '), 10000, 'the first reconnect attempt logged')
      await victim.start()
      assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stdout + run.stderr)
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL')
    }
    assert.match(run.stdout, /^done$/m)
    const address = literal(`127.0.0.1:${victim.port}`)
    const lines = logLines(run)
    assert.equal(count(lines, new RegExp(`^disconnected from ${address}: .+ \\(E[A-Z]+\\)$`)), 1, lines.join('\n'))
    assert.equal(count(lines, new RegExp(`^reconnect attempt 1 to ${address} in \\d+ ms$`)), 1, lines.join('\n'))
    assert.equal(count(lines, new RegExp(`^connected to ${address}: `)), 2, lines.join('\n'))
    assert.ok(!run.stderr.includes('secret'))
  })

  test('a protocol error is logged with the size and first bytes of the bad frame', async () => {
    const line = (s) => s.padEnd(63) + '\n'
    const greeting = line(`Tarantool 2.6.0 (Binary) ${crypto.randomUUID()}`) + line(crypto.randomBytes(32).toString('base64'))
    const peer = net.createServer((sock) => {
      sock.on('error', () => {})
      sock.write(greeting)
      sock.once('data', () => sock.write(Buffer.from([0x05, 0x81, 0xc1, 0x00, 0x00, 0x00])))
    })
    await new Promise((resolve) => peer.listen(0, '127.0.0.1', resolve))
    try {
      const run = runDebugLog('protocol', peer.address().port)
      assert.deepEqual(await run.exited, { code: 0, signal: null }, run.stdout + run.stderr)
      assert.match(run.stdout, /^ProtocolError ERR_PROTOCOL$/m)
      const lines = logLines(run)
      const logged = lines.filter((l) => l.startsWith('protocol error, closing: '))
      assert.equal(logged.length, 1, lines.join('\n'))
      assert.ok(logged[0].includes('frame of 6 bytes, starting 05 81 c1'), logged[0])
    } finally {
      await new Promise((resolve) => peer.close(resolve))
    }
  })
})

describe('examples/opentelemetry.js', TIMEOUT, () => {
  test('instrument(): CLIENT spans with the database attributes, errors, pushes, a pool request; ended in settle order; stop() ends it', async () => {
    const conn = await connect(uri(server))
    const pool = await connectPool([uri(server), uri(second)], { checkInterval: 60000 })
    const provider = new RecordingTracerProvider()
    const stop = instrument(provider.getTracer())
    try {
      await conn.call('echo', ['otel'])
      const err = await rejection(conn.call('no_such_function'))
      for await (const x of conn.call('pushes', [3])) assert.ok(x >= 1)
      await pool.call('echo', ['pooled'])
      const [ok, failed, pushed, pooled] = provider.spans
      assert.equal(provider.spans.length, 4)

      assert.equal(ok.name, 'call echo')
      assert.equal(ok.kind, SpanKind.CLIENT)
      assert.equal(ok.status.code, SpanStatusCode.UNSET)
      assert.deepEqual(ok.attributes, {
        'db.system.name': 'tarantool',
        'db.operation.name': 'call',
        'db.stored_procedure.name': 'echo',
        'server.address': '127.0.0.1',
        'server.port': server.port,
        'db.tarantool.version': conn.transport.serverVersion,
        'kharon.sync': ok.attributes['kharon.sync'],
      })
      assert.equal(typeof ok.attributes['kharon.sync'], 'number')

      assert.equal(failed.name, 'call no_such_function')
      assert.equal(failed.status.code, SpanStatusCode.ERROR)
      assert.equal(failed.status.message, err.message)
      assert.deepEqual(failed.exceptions, [err])
      assert.equal(failed.attributes['db.response.status_code'], 'ER_NO_SUCH_PROC')

      assert.equal(pushed.name, 'call pushes')
      assert.equal(pushed.attributes['kharon.pushes'], 3)
      assert.ok(!('kharon.pushes' in ok.attributes))

      assert.equal(pooled.name, 'call echo')
      assert.ok([server.port, second.port].includes(pooled.attributes['server.port']))

      // Spans end as their requests settle, whatever order they were issued in.
      const settled = []
      const track = (name, call) => Promise.resolve(call).then(() => settled.push(name))
      const already = provider.spans.length
      await Promise.all([
        track('call sleep_then', conn.call('sleep_then', [0.3, 'slow'])),
        track('call push_slowly', conn.call('push_slowly', [1, 0.1])),
        track('call echo', conn.call('echo', ['fast'])),
      ])
      assert.deepEqual(provider.spans.slice(already).map((s) => s.name), settled)

      stop()
      const recorded = provider.spans.length
      await conn.call('echo', ['not traced'])
      assert.equal(provider.spans.length, recorded)
    } finally {
      stop() // again, when an assertion failed before (unsubscribing twice is harmless)
      conn.destroy()
      await pool.close()
    }
  })
})

after(stopAll, TIMEOUT)
