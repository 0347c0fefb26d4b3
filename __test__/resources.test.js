'use strict'

// What a connection holds is released when it closes or is lost, not when GC gets to it: fds,
// native memory, and the JS objects the native side refers to. Deliveries never vanish, and a
// paused push consumer is not taken for a dead server.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, connectPool } = require('..')
const { startTarantool, stopAll } = require('./helpers/tarantool')
const { runFixture } = require('./helpers/fixture')
const { waitFor, sleep } = require('./helpers/wait')
const { openFds, FD_SLACK } = require('./helpers/resources')

const TIMEOUT = { timeout: 180000 }
const CYCLES = 1000
let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

async function cycles(mode) {
  const r = await runFixture('resilience-cycles.js', [server.port, mode, CYCLES], 150000, ['--expose-gc'])
  assert.equal(r.hung, false, `still running: ${r.stderr}`)
  assert.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  const where = JSON.stringify(report)
  assert.ok(Math.abs(report.after.fds - report.before.fds) <= FD_SLACK, `open fds went from ${report.before.fds} to ${report.after.fds}: ${where}`)
  assert.equal(report.collected, report.registered, `objects never collected: ${where}`)
  assert.ok(report.after.external - report.before.external < 8, `external memory grew by ${(report.after.external - report.before.external).toFixed(1)} MB: ${where}`)
}

for (const [mode, what] of [
  ['transport', 'Transport.connect + PING + close()'],
  ['client', 'connect() + ping() + close()'],
  ['lost', 'connect({ reconnect: false }) + ping() + the link dropped'],
]) {
  test(`${CYCLES} × ${what}: the fd count returns to its start and every connection is collected`, TIMEOUT, () => cycles(mode))
}

test('a pool whose instance is killed and restarted 20 times ends with no more fds than it began with', TIMEOUT, async () => {
  const own = await startTarantool()
  const pool = await connectPool([`tester:secret@127.0.0.1:${own.port}`], {
    checkInterval: 50,
    reconnect: { initialDelay: 10, maxDelay: 50 },
  })
  try {
    assert.deepEqual(await pool.call('echo', ['first'], { mode: 'any' }), ['first'])
    const start = openFds()
    for (let i = 0; i < 20; i++) {
      await own.kill()
      await waitFor(() => !pool.instances()[0].connected, 10000, 'the pool notices the kill')
      await own.start()
      await waitFor(() => pool.instances()[0].connected && pool.instances()[0].ro === false, 20000, 'the pool reconnects')
      assert.deepEqual(await pool.call('echo', [i], { mode: 'any' }), [i])
    }
    // The killed server's pipes and the lost sockets are closed by now; give the last ones a turn.
    await sleep(100)
    const end = openFds()
    assert.ok(end <= start + FD_SLACK, `open fds went from ${start} to ${end} over 20 restarts`)
  } finally {
    await pool.close()
    await own.stop()
  }
})

test('a callback that throws during a delivery is an uncaught exception; the frames behind it still arrive', TIMEOUT, async () => {
  const r = await runFixture('delivery-throws.js', [server.port], 30000)
  assert.equal(r.hung, false, `hung: ${r.stdout} ${r.stderr}`)
  assert.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  assert.deepEqual(report.uncaught, ['onPush threw at push 1', 'onPush threw at push 2', 'onPush threw at push 3', 'the callback threw'])
  assert.equal(report.pushes, 3)
  assert.equal(report.final, 'resolved', 'the final answer behind the throwing pushes settles the request')
  assert.equal(report.second, 'resolved', 'the answer behind a throwing callback reaches its request')
  assert.equal(report.pending, 0)
})

test('a push consumer paused 10 s with heartbeat 500/1500 keeps the connection; a request issued meanwhile succeeds', TIMEOUT, async () => {
  const conn = await connect(`tester:secret@127.0.0.1:${server.port}`, {
    heartbeat: { interval: 500, timeout: 1500 },
    pushHighWaterMark: 16 * 1024,
  })
  const lost = []
  conn.on('disconnect', (err) => lost.push(err.code))
  try {
    // 4 MB of pushes: far more than the mark and the socket's buffers, so reading pauses and
    // the server waits to write.
    const call = conn.call('push_big', [4000, 1000])
    const pushes = call.pushes()
    const first = await pushes.next()
    assert.equal(first.value.length, 1000)
    const ping = conn.ping()
    await sleep(10000)
    assert.deepEqual(lost, [], 'the heartbeat took a paused connection for a dead one')
    let n = 1
    for (;;) {
      const r = await pushes.next()
      if (r.done) break
      n++
    }
    assert.equal(n, 4000)
    assert.deepEqual(await call, [4000])
    await ping
    assert.deepEqual(await conn.call('echo', ['after']), ['after'])
    assert.deepEqual(lost, [])
    assert.equal(conn.state, 'connected')
  } finally {
    await conn.close()
  }
})
