'use strict'

// Real faults against the real server. A frozen server (SIGSTOP: the process is alive and the
// kernel still takes bytes) is found by the heartbeat: every pending request fails with
// ETIMEDOUT, and the client reconnects once the server runs again; a slow but healthy server is
// not mistaken for a dead one. What waits to be written is bounded.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, connectPool, Transport, ConnectionError, TimeoutError } = require('..')
const { startTarantool } = require('./helpers/tarantool')
const { startReplicaSet } = require('./helpers/replicaset')
const { next, rejection, sleep, withTimeout } = require('./helpers/wait')
const { startProxy } = require('./helpers/proxy')
const { runFixture } = require('./helpers/fixture')
const { openFds, FD_SLACK } = require('./helpers/resources')

const TIMEOUT = { timeout: 60000 }
const TIGHTEST = { interval: 100, timeout: 300 } // the tightest setting the README documents

describe('heartbeat against the real server', TIMEOUT, () => {
  let server
  before(async () => {
    server = await startTarantool()
  }, TIMEOUT)
  after(async () => {
    if (server) {
      server.proc.kill('SIGCONT')
      await server.stop()
    }
  }, TIMEOUT)

  const uri = () => `tester:secret@127.0.0.1:${server.port}`

  // SIGCONT: the client reconnects and serves again.
  async function resumeAndServe(conn) {
    const back = next(conn, 'connect')
    server.proc.kill('SIGCONT')
    await withTimeout(back, 10000, 'reconnect after SIGCONT')
    assert.deepEqual(await conn.call('echo', ['after']), ['after'])
  }

  test('a frozen server (SIGSTOP): pending requests reject within interval + timeout; after SIGCONT the client serves again', async () => {
    const heartbeat = { interval: 200, timeout: 500 }
    const conn = await connect(uri(), { heartbeat, reconnect: { initialDelay: 20, maxDelay: 100 } })
    try {
      assert.deepEqual(await conn.call('echo', [1]), [1])
      const calls = [conn.call('sleep_then', [0.05, 'a']), conn.eval('return 2'), conn.ping()]
      const lost = next(conn, 'disconnect')
      server.proc.kill('SIGSTOP')
      const stoppedAt = Date.now()
      const errors = await Promise.all(calls.map((c) => rejection(c)))
      const took = Date.now() - stoppedAt
      for (const err of errors) {
        assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'ETIMEDOUT')
        assert.match(err.message, /sent nothing for \d+ ms/)
      }
      assert.ok(took < heartbeat.interval + heartbeat.timeout + 1000, `rejected after ${took} ms`)
      assert.equal((await lost).code, 'ETIMEDOUT')
      await resumeAndServe(conn)
    } finally {
      conn.destroy()
      server.proc.kill('SIGCONT')
    }
  })

  test('a long call at the tightest setting is not mistaken for a dead server', async () => {
    const conn = await connect(uri(), { heartbeat: TIGHTEST })
    try {
      assert.deepEqual(await conn.call('sleep_then', [3, 'slow but alive']), ['slow but alive'])
      assert.equal(conn.state, 'connected')
    } finally {
      conn.destroy()
    }
  })

  test('an idle connection sends nothing: the heartbeat runs only while something is pending', async () => {
    const proxy = await startProxy(() => ({ host: '127.0.0.1', port: server.port }))
    const conn = await connect(`tester:secret@127.0.0.1:${proxy.port}`, { heartbeat: { interval: 50, timeout: 100 } })
    try {
      await conn.ping()
      const sent = proxy.bytesFromClients
      await sleep(600)
      assert.equal(proxy.bytesFromClients, sent, 'bytes went out while nothing was pending')
      const busy = conn.call('sleep_then', [0.4, 'busy'])
      await sleep(20)
      const withRequest = proxy.bytesFromClients
      assert.ok(withRequest > sent)
      await busy
      assert.ok(proxy.bytesFromClients > withRequest, 'no PING while a call was pending')
    } finally {
      conn.destroy()
      await proxy.close()
    }
  })

  test('heartbeat.idle: an idle connection is pinged too and a frozen server found within interval + timeout', async () => {
    const heartbeat = { interval: 200, timeout: 500, idle: true }
    const conn = await connect(uri(), { heartbeat, reconnect: { initialDelay: 20, maxDelay: 100 } })
    try {
      assert.deepEqual(await conn.call('echo', ['idle from now']), ['idle from now'])
      await sleep(600)
      assert.equal(conn.state, 'connected', 'a healthy idle server answers its PINGs')
      const lost = next(conn, 'disconnect')
      server.proc.kill('SIGSTOP')
      const stoppedAt = Date.now()
      const err = await withTimeout(lost, heartbeat.interval + heartbeat.timeout + 2000, "'disconnect' of an idle connection to a frozen server")
      assert.equal(err.code, 'ETIMEDOUT')
      assert.ok(Date.now() - stoppedAt >= heartbeat.timeout, 'declared dead before a PING could go unanswered')
      await resumeAndServe(conn)
    } finally {
      conn.destroy()
      server.proc.kill('SIGCONT')
    }
    await assert.rejects(Transport.connect({ port: server.port, heartbeat: { idle: 'yes' } }), TypeError)
  })

  test('heartbeat.idle keeps no process alive: a connected, idle process exits by itself', async () => {
    const r = await runFixture('connect-only.js', [server.port, 'idle-heartbeat'], 10000)
    assert.equal(r.hung, false, 'the idle heartbeat kept the process alive')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^connected /)
  })

  test('heartbeat: false turns it off: only the request timeout ends the wait', async () => {
    const t = await Transport.connect({ port: server.port, host: '127.0.0.1', heartbeat: false })
    try {
      server.proc.kill('SIGSTOP')
      const waiting = t.request(64, '', { timeout: 1200 })
      const err = await rejection(waiting)
      assert.equal(err.name, 'TimeoutError', 'without a heartbeat only the request timeout ends the wait')
      assert.equal(t.closed, false)
    } finally {
      server.proc.kill('SIGCONT')
      await t.close()
    }
    await assert.rejects(Transport.connect({ port: server.port, heartbeat: { interval: 10 } }), RangeError)
    await assert.rejects(Transport.connect({ port: server.port, heartbeat: 'often' }), TypeError)
  })
})

describe('TCP keepalive', TIMEOUT, () => {
  test('the socket has the OS keepalive timer armed (a peer that vanishes while idle is noticed)', async (t) => {
    if (process.platform !== 'linux') return t.skip('reads /proc/net/tcp (Linux)')
    const fs = require('node:fs')
    const server = await startTarantool()
    const conn = await Transport.connect({ port: server.port, host: '127.0.0.1' })
    try {
      // /proc/net/tcp: local, remote (hex ip:port), state (01 established), then "tr:when",
      // where tr 2 is the keepalive timer.
      const port = server.port.toString(16).toUpperCase().padStart(4, '0')
      const ours = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((f) => f.length > 5 && f[2].endsWith(`:${port}`) && f[3] === '01')
      assert.ok(ours.length >= 1, 'the connection is in /proc/net/tcp')
      assert.ok(ours.every((f) => f[5].startsWith('02:')), `timers: ${ours.map((f) => f[5]).join(' ')}`)
    } finally {
      await conn.close()
      await server.stop()
    }
  })
})

describe('bounds', TIMEOUT, () => {
  test('maxPending: beyond it new requests reject at once with ERR_TOO_MANY_PENDING; nothing is lost', async () => {
    const server = await startTarantool()
    const conn = await connect(`tester:secret@127.0.0.1:${server.port}`, { maxPending: 10 })
    try {
      const calls = Array.from({ length: 15 }, (_, i) => conn.call('sleep_then', [0.05, i]).then((v) => v[0], (err) => err))
      const outcomes = await Promise.all(calls)
      assert.deepEqual(outcomes.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      for (const err of outcomes.slice(10)) {
        assert.equal(err.code, 'ERR_TOO_MANY_PENDING')
        assert.equal(err.name, 'KharonError')
      }
      assert.deepEqual(await conn.call('echo', ['room again']), ['room again'])
      await assert.rejects(connect(`127.0.0.1:${server.port}`, { maxPending: 0 }), RangeError)
    } finally {
      conn.destroy()
      await server.stop()
    }
  })
})

describe('a flood of requests to a frozen server', TIMEOUT, () => {
  test('500,000 calls of 1 KiB: memory stays bounded, refusals are ERR_WRITE_QUEUE_FULL, accepted ones complete after SIGCONT', async () => {
    const server = await startTarantool()
    try {
      const { stdout, stderr, code } = await runFixture('flood.js', [server.port, server.proc.pid], 45000)
      assert.equal(code, 0, stderr)
      const r = JSON.parse(stdout)
      // About 90 MB (the 32 MiB write queue, the calls waiting, the garbage of the refused
      // ones); from 89 to 107 MB across runs, as the GC's timing falls. Unbounded, it grew
      // by 993 MB and more.
      assert.ok(r.growthMB < 128, `the process grew by ${r.growthMB.toFixed(0)} MB`)
      assert.ok(r.backlogMB <= 32 + 0.01, `${r.backlogMB} MiB waited for the socket`)
      assert.deepEqual(r.other, [], 'every refusal is ERR_WRITE_QUEUE_FULL, and every accepted call completes')
      assert.equal(r.ok + r.refused, 500000)
      assert.ok(r.refused > 400000 && r.ok > 10000, `${r.ok} accepted, ${r.refused} refused`)
      assert.ok(r.drains >= 1, "'drain' once the backlog was written")
      assert.equal(r.writableLengthAfter, 0)
    } finally {
      server.proc.kill('SIGCONT')
      await server.stop()
    }
  })
})

describe('a pool with a frozen master', TIMEOUT, () => {
  test('the frozen member leaves rotation: writes wait or fail with TimeoutError, reads move to the replicas', async () => {
    const rs = await startReplicaSet({ replicas: 2 })
    const heartbeat = { interval: 200, timeout: 500 }
    const pool = await connectPool(rs.members.map((m) => `tester:secret@${m.uri}`), { heartbeat, checkInterval: 200, reconnect: { initialDelay: 50, maxDelay: 200 } })
    try {
      const [masterUuid] = await pool.call('whoami', [], { mode: 'rw' })
      rs.master.proc.kill('SIGSTOP')
      const pending = pool.call('sleep_then', [0.05, 'x'], { mode: 'rw' })
      const err = await rejection(pending)
      assert.ok(err instanceof ConnectionError || err instanceof TimeoutError, `${err.name}: ${err.message}`)
      const deadline = Date.now() + 5000
      while (pool.instances().find((i) => i.uri.endsWith(rs.master.uri)).connected) {
        assert.ok(Date.now() < deadline, 'the frozen master stayed in rotation')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const write = await rejection(pool.insert('test', [1, 'no master'], { mode: 'rw', timeout: 300 }))
      assert.ok(write instanceof TimeoutError, `${write.name}: ${write.message}`)
      for (let i = 0; i < 10; i++) {
        const [uuid, ro] = await pool.call('whoami', [], { mode: 'any', timeout: 2000 })
        assert.notEqual(uuid, masterUuid, 'a read went to the frozen master')
        assert.equal(ro, true)
      }
      rs.master.proc.kill('SIGCONT')
      assert.deepEqual(await pool.call('whoami', [], { mode: 'rw', timeout: 10000 }), [masterUuid, false])
    } finally {
      rs.master.proc.kill('SIGCONT')
      await pool.close()
      await rs.stop()
    }
  })
})


describe('faults injected by a proxy', TIMEOUT, () => {
  let server
  before(async () => {
    server = await startTarantool()
  }, TIMEOUT)
  after(async () => {
    if (server) await server.stop()
  }, TIMEOUT)

  const heartbeat = { interval: 200, timeout: 500 }
  const options = { heartbeat, connectTimeout: 1000, reconnect: { initialDelay: 20, maxDelay: 200 } }

  async function throughProxy() {
    const proxy = await startProxy(() => ({ host: '127.0.0.1', port: server.port }))
    const conn = await connect(`tester:secret@127.0.0.1:${proxy.port}`, options)
    return { proxy, conn }
  }

  /** `n` echo calls of distinct values; resolves to how each ended, checking none is answered twice or to another caller. */
  function calls(conn, n, tag) {
    return Promise.all(Array.from({ length: n }, (_, i) => {
      let settled = 0
      return conn.call('sleep_then', [0.02, `${tag}-${i}`]).then((v) => {
        assert.equal(++settled, 1)
        assert.deepEqual(v, [`${tag}-${i}`], 'answered to the wrong caller')
        return 'ok'
      }, (err) => {
        assert.equal(++settled, 1)
        return err
      })
    }))
  }

  async function recovers(conn, what) {
    const outcomes = await withTimeout(calls(conn, 20, `${what}-after`), 15000, `calls after ${what}`)
    assert.deepEqual(outcomes, Array(20).fill('ok'), `the connection did not recover after ${what}`)
  }

  test('a black hole (nothing forwarded, sockets open): everything settles, then the connection recovers', async () => {
    const { proxy, conn } = await throughProxy()
    try {
      proxy.blackhole = true
      const outcomes = await withTimeout(calls(conn, 20, 'hole'), 5000, 'the calls in the black hole')
      for (const err of outcomes) {
        assert.ok(err instanceof ConnectionError, String(err))
        assert.equal(err.code, 'ETIMEDOUT')
      }
      await sleep(1500) // reconnect attempts meanwhile time out (connectTimeout)
      proxy.blackhole = false
      proxy.dropAll()
      await recovers(conn, 'the black hole')
    } finally {
      conn.destroy()
      await proxy.close()
    }
  })

  test('added latency: slower, but nothing fails and the heartbeat is not fooled', async () => {
    const { proxy, conn } = await throughProxy()
    try {
      proxy.latency = 100
      const started = Date.now()
      assert.deepEqual(await calls(conn, 20, 'slow'), Array(20).fill('ok'))
      assert.ok(Date.now() - started >= 150)
      assert.equal(conn.state, 'connected')
    } finally {
      conn.destroy()
      await proxy.close()
    }
  })

  test('a reset in the middle of a frame: pending calls fail with ECONNRESET, none twice; then it recovers', async () => {
    const { proxy, conn } = await throughProxy()
    try {
      proxy.resetMidFrame()
      const outcomes = await withTimeout(calls(conn, 20, 'reset'), 5000, 'the calls cut by the reset')
      const failed = outcomes.filter((o) => o !== 'ok')
      assert.ok(failed.length > 0, 'the reset failed nothing')
      for (const err of failed) {
        assert.ok(err instanceof ConnectionError, String(err))
        assert.equal(err.code, 'ECONNRESET', err.message)
      }
      await recovers(conn, 'the reset')
    } finally {
      conn.destroy()
      await proxy.close()
    }
  })

  test('a half-close (the server side ends): pending calls fail with ConnectionError; then it recovers', async () => {
    const { proxy, conn } = await throughProxy()
    try {
      proxy.hold()
      const pending = calls(conn, 20, 'half')
      await sleep(50)
      proxy.halfClose()
      const outcomes = await withTimeout(pending, 5000, 'the calls cut by the half-close')
      for (const err of outcomes) assert.ok(err instanceof ConnectionError, String(err))
      proxy.release()
      await recovers(conn, 'the half-close')
    } finally {
      conn.destroy()
      await proxy.close()
    }
  })
})

describe('soak: the server killed and restarted every few seconds under a steady load', { timeout: 150000 }, () => {
  test('45 s: every request resolves or fails with a typed error, nothing stays pending, memory stays flat', async (t) => {
    const server = await startTarantool()
    const conn = await connect(`tester:secret@127.0.0.1:${server.port}`, { reconnect: { initialDelay: 20, maxDelay: 200 } })
    const counts = { ok: 0, failed: 0, untyped: [], wrong: 0 }
    let running = true
    const worker = async (w) => {
      for (let i = 0; running; i++) {
        try {
          const [v] = await conn.call('echo', [`${w}:${i}`])
          if (v === `${w}:${i}`) counts.ok++
          else counts.wrong++
        } catch (err) {
          if (err instanceof ConnectionError) counts.failed++
          else counts.untyped.push(`${err.name}: ${err.message}`)
        }
      }
    }
    try {
      const workers = Array.from({ length: 50 }, (_, w) => worker(w))
      const started = Date.now()
      let rssAfterWarmup = null
      let fdsAfterWarmup = null
      let restarts = 0
      while (Date.now() - started < 45000) {
        await sleep(3000)
        if (rssAfterWarmup === null && Date.now() - started > 10000) {
          rssAfterWarmup = process.memoryUsage().rss
          fdsAfterWarmup = openFds()
        }
        await server.kill('SIGKILL')
        await server.start()
        restarts++
      }
      await sleep(1000)
      running = false
      await withTimeout(Promise.all(workers), 20000, 'the workers finish')
      const growth = (process.memoryUsage().rss - rssAfterWarmup) / 1048576
      const fds = openFds()
      t.diagnostic(`${restarts} restarts, ${counts.ok} calls answered, ${counts.failed} failed with ConnectionError, RSS ${growth.toFixed(1)} MB after the warm-up, open fds ${fdsAfterWarmup} then ${fds}`)
      assert.deepEqual(counts.untyped, [])
      assert.equal(counts.wrong, 0, 'a request was answered with another one\'s value')
      assert.ok(counts.ok > 1000, `${counts.ok} calls succeeded`)
      assert.ok(restarts >= 8, `${restarts} restarts`)
      assert.equal(conn.transport.pending, 0)
      assert.equal(conn.queued, 0)
      assert.equal(conn.state, 'connected')
      assert.ok(growth < 50, `RSS grew by ${growth.toFixed(0)} MB after the warm-up`)
      assert.ok(fds <= fdsAfterWarmup + FD_SLACK, `open fds went from ${fdsAfterWarmup} to ${fds}: the lost connections' sockets were not closed`)
    } finally {
      running = false
      conn.destroy()
      await server.stop()
    }
  })
})
