'use strict'

// A connection must not keep Node alive by itself, but a pending request must. Each case runs
// a fixture script in a child process and watches whether (and when) it exits on its own.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { startTarantool, stopAll, serverVersion } = require('./helpers/tarantool')
const { runFixture: runChild } = require('./helpers/fixture')

const HANG_LIMIT_MS = 15000
const TIMEOUT = { timeout: 60000 } // for each test and hook: nothing here may hang the run
let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

/** Runs `node fixtures/<name> <port>`; a child still running after HANG_LIMIT_MS is killed and reported as hung. */
function runFixture(name) {
  return runChild(name, [server.port], HANG_LIMIT_MS)
}

function assertExitedCleanly(r, what) {
  const detail = `stdout: ${JSON.stringify(r.stdout)} stderr: ${JSON.stringify(r.stderr)}`
  assert.equal(r.hung, false, `${what}: still running after ${HANG_LIMIT_MS} ms, killed. ${detail}`)
  assert.equal(r.signal, null, `${what}: died of ${r.signal}. ${detail}`)
  assert.equal(r.code, 0, `${what}: exit code ${r.code}. ${detail}`)
}

test('one request, result printed, no close(): the process exits by itself', TIMEOUT, async () => {
  const r = await runFixture('one-request.js')
  assertExitedCleanly(r, 'one-request.js')
  assert.equal(r.stdout.trim(), JSON.stringify(['one request']))
})

test('a pending request keeps the process alive until it completes', TIMEOUT, async () => {
  const r = await runFixture('pending-late.js')
  assertExitedCleanly(r, 'pending-late.js')
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines[0], 'issued')
  const m = /^late after (\d+) ms$/.exec(lines[1] || '')
  assert.ok(m, `the process exited without printing 'late': ${JSON.stringify(r.stdout)}`)
  assert.ok(Number(m[1]) >= 900, `'late' came after only ${m[1]} ms`)
  assert.ok(r.ms >= 900)
})

test('connect and nothing else: the process exits by itself', TIMEOUT, async () => {
  const r = await runFixture('connect-only.js')
  assertExitedCleanly(r, 'connect-only.js')
  assert.equal(r.stdout.trim(), `connected ${serverVersion().release}`, 'the greeting names the version of the binary')
})

test('a request pending, then completing, then idle: the process exits by itself', TIMEOUT, async () => {
  const r = await runFixture('pending-then-idle.js')
  assertExitedCleanly(r, 'pending-then-idle.js')
  assert.deepEqual(r.stdout.trim().split('\n'), ['first', 'second'])
  assert.ok(r.ms >= 500, `exited after ${r.ms} ms, before both requests could complete`)
})

test('close() with a request pending: it fails at once and the process exits', TIMEOUT, async () => {
  const r = await runFixture('close-with-pending.js')
  assertExitedCleanly(r, 'close-with-pending.js')
  assert.equal(r.stdout.trim(), 'ConnectionError ERR_CONNECTION_CLOSED')
  assert.ok(r.ms < 9000, `took ${r.ms} ms: it waited for the 10 s request`)
})

test('after an error response and a request with a long timeout answered in time, the process exits', TIMEOUT, async () => {
  const r = await runFixture('error-then-idle.js')
  assertExitedCleanly(r, 'error-then-idle.js')
  assert.deepEqual(r.stdout.trim().split('\n'), ['ER_NO_SUCH_PROC', 'in time'])
  assert.ok(r.ms < 12000, `took ${r.ms} ms: the 60 s timeout kept the process alive`)
})

test('connections in worker threads: closed, left open, or terminated mid-request, the workers and the process end cleanly', TIMEOUT, async () => {
  const r = await runFixture('worker-threads.js')
  assertExitedCleanly(r, 'worker-threads.js')
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'closed: ["from a worker"]', 'closed: exit 0',
    'left open: ["from a worker"]', 'left open: exit 0',
    'terminated: ["from a worker"]', 'terminated: exit 1',
  ])
})
