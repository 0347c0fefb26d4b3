'use strict'

// Memory has a bound per connection, not only per request: pushes kept for requests nobody
// iterates, the shared encoder after a huge body, and the offline queue's bookkeeping.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, PushOverflowError } = require('..')
const { startTarantool, stopAll } = require('./helpers/tarantool')
const { runFixture } = require('./helpers/fixture')
const { rejection, next, withTimeout } = require('./helpers/wait')

const TIMEOUT = { timeout: 120000 }
const MB = 1024 * 1024
let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

const uri = (port = server.port) => `tester:secret@127.0.0.1:${port}`

test('maxBufferedPushes caps what all pending requests nobody iterates keep between them', TIMEOUT, async () => {
  const budget = 4 * MB
  const conn = await connect(uri(), { maxBufferedPushes: budget })
  try {
    // 20 calls pending together, each pushing 64 × 16 KiB (1 MiB, within its own 1 MiB
    // high-water mark; 20 MiB in all) and then waiting before it returns.
    const pushThenWait = "local s = string.rep('x', 16384) for i = 1, 64 do box.session.push(s) end require('fiber').sleep(0.5) return 64"
    const calls = Array.from({ length: 20 }, () => conn.eval(pushThenWait))
    let peak = 0
    const sampler = setInterval(() => { peak = Math.max(peak, conn.transport.bufferedPushes) }, 1)
    const results = await Promise.all(calls)
    clearInterval(sampler)
    assert.deepEqual(results, calls.map(() => [64]))
    assert.ok(peak <= budget, `${peak} bytes kept at the peak, over the ${budget} budget`)
    assert.equal(conn.transport.bufferedPushes, 0, 'settled requests still count against the connection')
    let kept = 0
    let overflowed = 0
    for (const call of calls) {
      try {
        for await (const push of call) kept += push.length
      } catch (err) {
        assert.ok(err instanceof PushOverflowError, `${err.name}: ${err.message}`)
        assert.match(err.message, /maxBufferedPushes/)
        overflowed++
      }
    }
    assert.ok(kept > 0 && kept <= budget, `${kept} bytes of pushes kept in all`)
    assert.ok(overflowed >= 15, `only ${overflowed} calls lost pushes to the budget`)
    // Iterated requests are bounded by pausing, not by the budget: a long stream goes through.
    let n = 0
    for await (const push of conn.call('push_big', [512, 16 * 1024])) n += push.length === 16 * 1024 ? 1 : 0
    assert.equal(n, 512)
  } finally {
    await conn.close()
  }
  await assert.rejects(connect(uri(), { maxBufferedPushes: -1 }), RangeError)
})

test('the buffers a 24 MiB request grew are let go once small requests follow', TIMEOUT, async () => {
  const r = await runFixture('memory-bounds.js', [server.port], 60000, ['--expose-gc'])
  assert.equal(r.hung, false)
  assert.equal(r.code, 0, r.stderr)
  const { before: start, peak, after: end } = JSON.parse(r.stdout)
  assert.ok(peak - start > 24, `the big request grew nothing? ${r.stdout}`)
  assert.ok(end - start < 8, `ArrayBuffers went from ${start.toFixed(1)} MB to ${end.toFixed(1)} MB after small requests (peak ${peak.toFixed(1)} MB)`)
})

test('100,000 requests queued while reconnecting time out together, each settling once', TIMEOUT, async () => {
  const own = await startTarantool()
  const conn = await connect(uri(own.port), { reconnect: { initialDelay: 60000, maxDelay: 60000 }, offlineQueueLimit: 200000 })
  try {
    const lost = next(conn, 'disconnect')
    await own.kill()
    await withTimeout(lost, 10000, "'disconnect' after the kill")
    const queued = Array.from({ length: 100000 }, (_, i) => conn.call('echo', [i], { timeout: 200 }))
    assert.equal(conn.queued, 100000)
    const errors = await withTimeout(Promise.all(queued.map((c) => rejection(c))), 60000, 'every queued request times out')
    assert.ok(errors.every((err) => err.code === 'ETIMEDOUT'))
    assert.equal(conn.queued, 0)
  } finally {
    conn.destroy()
    await own.stop()
  }
})
