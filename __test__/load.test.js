'use strict'

// Load against a real Tarantool: a soak of 1,000,000 calls with bounded memory, 10,000
// requests that time out before their (late) responses without leaking anything, and a burst
// of 100,000 issued at once. The memory measurements run in a child process started with
// --expose-gc, so they measure only the load.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const { connect } = require('..')
const { startTarantool, stopAll } = require('./helpers/tarantool')
const { FD_SLACK } = require('./helpers/resources')

const FIXTURE = path.join(__dirname, 'fixtures', 'resilience-load.js')
// For each test and hook: nothing here may hang the run (runLoad kills its child sooner).
const TIMEOUT = { timeout: 180000 }
let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

/** Runs the load fixture in `mode`; resolves to its JSON report. Killed after `limitMs`. */
function runLoad(mode, limitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', FIXTURE, String(server.port), mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killed = false
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
    }, limitMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (killed) return reject(new Error(`${mode}: still running after ${limitMs} ms; stdout ${stdout} stderr ${stderr}`))
      if (code !== 0 || signal !== null) return reject(new Error(`${mode}: exit ${code} ${signal}; stderr ${stderr}`))
      try {
        resolve(JSON.parse(stdout))
      } catch (err) {
        reject(new Error(`${mode}: bad report ${JSON.stringify(stdout)}: ${err.message}`))
      }
    })
  })
}

test('soak: 1,000,000 calls in windows of 1000, every answer right, RSS growth under 60 MB', TIMEOUT, async () => {
  const r = await runLoad('soak', 120000)
  assert.equal(r.count, 1000000)
  assert.equal(r.mismatches, 0, `first mismatch: ${JSON.stringify(r.firstMismatch)}`)
  assert.equal(r.pending, 0)
  const rssGrowth = r.after.rss - r.before.rss
  const heapGrowth = r.after.heap - r.before.heap
  assert.ok(rssGrowth < 60, `RSS grew by ${rssGrowth.toFixed(1)} MB over 1,000,000 calls (${JSON.stringify(r)})`)
  assert.ok(heapGrowth < 20, `the heap grew by ${heapGrowth.toFixed(1)} MB over 1,000,000 calls (${JSON.stringify(r)})`)
  assert.ok(r.after.fds <= r.before.fds + FD_SLACK, `open fds went from ${r.before.fds} to ${r.after.fds} (${JSON.stringify(r)})`)
})

test('10,000 requests with { timeout: 1 } to sleep_then(0.05): all time out, late responses leave nothing behind', TIMEOUT, async () => {
  const r = await runLoad('timeouts', 60000)
  assert.equal(r.count, 10000)
  assert.deepEqual(r.reasons, { 'TimeoutError:ETIMEDOUT': 10000 })
  assert.equal(r.pendingAfterSettle, 0, 'timed-out requests still count as pending')
  assert.equal(r.outstanding, 0, `${r.outstanding} SYNCs still reserved: their late responses never came or were not matched`)
  assert.equal(r.pending, 0)
  assert.deepEqual(r.check, ['after'])
  const rssGrowth = r.after.rss - r.before.rss
  const heapGrowth = r.after.heap - r.before.heap
  assert.ok(rssGrowth < 40, `RSS grew by ${rssGrowth.toFixed(1)} MB (${JSON.stringify(r)})`)
  assert.ok(heapGrowth < 20, `the heap grew by ${heapGrowth.toFixed(1)} MB (${JSON.stringify(r)})`)
})

test('a burst of 100,000 calls issued at once completes, each with its own answer', TIMEOUT, async () => {
  const conn = await connect(`tester:secret@127.0.0.1:${server.port}`)
  try {
    const calls = new Array(100000)
    for (let i = 0; i < calls.length; i++) calls[i] = conn.call('echo', [i, `v${i}`])
    assert.equal(conn.transport.pending, 100000)
    const results = await Promise.all(calls)
    assert.equal(results.length, 100000)
    for (let i = 0; i < results.length; i++) {
      if (results[i][0] !== i || results[i][1] !== `v${i}`) assert.fail(`call ${i} got ${JSON.stringify(results[i])}`)
    }
    assert.equal(conn.transport.pending, 0)
    assert.equal(conn.state, 'connected')
    assert.deepEqual(await conn.call('echo', ['after the burst']), ['after the burst'])
  } finally {
    await conn.close()
  }
})
