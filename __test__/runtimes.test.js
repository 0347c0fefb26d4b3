'use strict'

// kharon on Bun and Deno, whose Node-API has no libuv loop: the socket is read on tokio there
// (readPath 'tokio'). Each case runs __test__/runtimes/scenario.cjs under each runtime against
// a real Tarantool: CRUD, SQL, a pool, 10,000 pushes to a slow consumer, a watcher (2.10+), a
// server killed and restarted, and the process exiting by itself when nothing is pending. Node
// runs the same cases with readPath 'tokio' forced, so the tokio path is tested where neither
// runtime is installed. The runtimes are the devDependencies bun and deno
// (node_modules/.bin/bun, node_modules/.bin/deno); a missing one skips its cases, saying so.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const { startTarantool, stopAll, atLeast, serverVersion } = require('./helpers/tarantool')

const ROOT = path.join(__dirname, '..')
const SCENARIO = path.join(__dirname, 'runtimes', 'scenario.cjs')
const ESM = path.join(__dirname, 'runtimes', 'esm.mjs')
const HANG_LIMIT_MS = 30000
const TIMEOUT = { timeout: 90000 }

/** { name, argv (before the script), readPath (forced), skip (why not, or false) } per runtime. */
const RUNTIMES = [
  installed('bun', path.join(ROOT, 'node_modules', '.bin', 'bun'), []),
  installed('deno', path.join(ROOT, 'node_modules', '.bin', 'deno'), ['run', '-A', '--no-lock']),
  { name: 'node (readPath tokio)', argv: [process.execPath], readPath: 'tokio', skip: false },
]

function installed(name, bin, args) {
  const runtime = { name, argv: [bin, ...args], readPath: undefined, skip: false }
  if (!fs.existsSync(bin)) {
    runtime.skip = `${name} is not installed (no ${path.relative(ROOT, bin)}: npm install installs the devDependency ${name})`
    return runtime
  }
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30000 })
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status}: ${(r.stderr || '').trim().split('\n')[0]}`
    runtime.skip = `${name} is not installed: ${path.relative(ROOT, bin)} --version fails (${why})`
  }
  return runtime
}

let server

before(async () => {
  server = await startTarantool()
}, TIMEOUT)

after(stopAll, TIMEOUT)

/**
 * Runs `scenario.cjs <mode>` under `runtime` against `target` (a server); `onStep(step, value)`
 * sees each step as it is printed. Resolves { code, signal, steps (step -> value), lines,
 * stderr, ms, hung }.
 */
function runScenario(runtime, mode, target, onStep) {
  return runScript(runtime, [SCENARIO, mode, String(target.port), atLeast(3, 0) ? 'lower' : 'upper'], onStep)
}

/** Runs `args` (a script and its arguments, then the runtime's readPath if forced) under `runtime`; as runScenario. */
function runScript(runtime, args, onStep = () => {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    if (runtime.readPath !== undefined) args = [...args, runtime.readPath]
    const child = spawn(runtime.argv[0], [...runtime.argv.slice(1), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    const steps = new Map()
    const lines = []
    let pending = ''
    let stderr = ''
    let hung = false
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      pending += chunk
      let nl
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        lines.push(line)
        let parsed = null
        try {
          parsed = JSON.parse(line)
        } catch {
          continue
        }
        if (parsed !== null && typeof parsed.step === 'string') {
          steps.set(parsed.step, parsed.value)
          onStep(parsed.step, parsed.value)
        }
      }
    })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, HANG_LIMIT_MS)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (pending !== '') lines.push(pending)
      resolve({ code, signal, steps, lines, stderr, ms: Date.now() - started, hung })
    })
  })
}

/** The run ended by itself (not killed as hung), with exit code 0. */
function assertExitedCleanly(r, what) {
  const detail = `stdout: ${JSON.stringify(r.lines.join('\n'))} stderr: ${JSON.stringify(r.stderr.slice(-4000))}`
  assert.equal(r.hung, false, `${what}: still running after ${HANG_LIMIT_MS} ms, killed. ${detail}`)
  assert.equal(r.signal, null, `${what}: died of ${r.signal}. ${detail}`)
  assert.equal(r.code, 0, `${what}: exit code ${r.code}. ${detail}`)
}

for (const runtime of RUNTIMES) {
  describe(runtime.name, { skip: runtime.skip }, () => {
    test('CRUD, SQL, many requests at once and a pool, read on tokio; left open and idle, the process exits by itself', TIMEOUT, async () => {
      const r = await runScenario(runtime, 'basics', server)
      assertExitedCleanly(r, 'basics')
      const s = r.steps
      assert.equal(s.get('readPath'), 'tokio')
      if (runtime.readPath === undefined) {
        assert.deepEqual(s.get('runtime'), { bun: runtime.name === 'bun', deno: runtime.name === 'deno' }, 'the runtime is the one named')
      }
      assert.equal(s.get('serverVersion'), serverVersion().release)
      const key = s.get('insert')[0]
      assert.deepEqual(s.get('insert'), [key, 'runtime', 1])
      assert.deepEqual(s.get('select'), [[key, 'runtime', 1]])
      assert.deepEqual(s.get('update'), [key, 'runtime', 42])
      assert.deepEqual(s.get('delete'), [key, 'runtime', 42])
      assert.deepEqual(s.get('selectGone'), [])
      assert.deepEqual(s.get('sql'), { rows: [[42]], column: true })
      assert.equal(s.get('many'), true, '2000 concurrent calls each got their own answer')
      assert.deepEqual(s.get('pool'), ['through the pool'])
      assert.ok(s.has('idle'))
    })

    test('10,000 pushes to a slow consumer (reading paused and resumed), then big pushes', TIMEOUT, async () => {
      const r = await runScenario(runtime, 'pushes', server)
      assertExitedCleanly(r, 'pushes')
      assert.deepEqual(r.steps.get('pushes'), { count: 10000, inOrder: true, result: ['done'], pushCount: 10000 })
      assert.deepEqual(r.steps.get('bigPushes'), { n: 200, bytes: 200 * 64 * 1024, result: [200] })
      assert.deepEqual(r.steps.get('stalled'), { stopped: true, read: true, rest: 300, result: [300] }, 'reading stopped while the consumer waited')
    })

    test('a watcher gets the value at watch time and what the server broadcasts', { ...TIMEOUT, skip: atLeast(2, 10) ? false : `Tarantool ${serverVersion().release} has no watchers (2.10+)` }, async () => {
      const r = await runScenario(runtime, 'watch', server)
      assertExitedCleanly(r, 'watch')
      const seen = r.steps.get('watch')
      assert.equal(seen.length, 2, JSON.stringify(seen))
      assert.deepEqual(seen[1], { n: 42 })
    })

    test('the server killed with a request pending: it rejects, and the client reconnects once the server is back', TIMEOUT, async () => {
      const own = await startTarantool()
      try {
        // Restarted (on the same port) once it is gone and the script has seen the loss.
        let killed = null
        let restarted = null
        const r = await runScenario(runtime, 'restart', own, (step) => {
          if (step === 'pending') killed = own.kill()
          if (step === 'rejected') restarted = killed.then(() => own.start()).then(() => null, (err) => err)
        })
        const failedRestart = await restarted
        if (failedRestart) throw failedRestart
        assertExitedCleanly(r, 'restart')
        assert.equal(r.steps.get('pending'), 1)
        const rejected = r.steps.get('rejected')
        assert.equal(rejected.name, 'ConnectionError', JSON.stringify(rejected))
        assert.deepEqual(r.steps.get('reconnected'), ['after the restart'])
      } finally {
        await own.stop()
      }
    })

    test('a pending request keeps the process alive until it completes, then it exits by itself', TIMEOUT, async () => {
      const r = await runScenario(runtime, 'pending', server)
      assertExitedCleanly(r, 'pending')
      assert.equal(r.steps.get('issued'), true)
      const late = r.steps.get('late')
      assert.ok(late !== undefined, `the process exited before the answer came: ${r.lines.join('\n')}`)
      assert.equal(late.value, 'late')
      assert.ok(late.ms >= 900, `'late' came after only ${late.ms} ms`)
    })

    test('connections destroyed with requests pending: those reject, and every socket is let go of', TIMEOUT, async () => {
      const r = await runScenario(runtime, 'churn', server)
      assertExitedCleanly(r, 'churn')
      const churn = r.steps.get('churn')
      assert.deepEqual({ rejected: churn.rejected, codes: churn.codes }, { rejected: 500, codes: ['ERR_CONNECTION_CLOSED'] })
      assert.ok(churn.fdsLeft <= 2, `${churn.fdsLeft} more fds open than before 50 connections were opened and closed`)
    })

    test('imported as an ES module (index.mjs): a call, then the process exits by itself', TIMEOUT, async () => {
      const r = await runScript(runtime, [ESM, String(server.port)])
      assertExitedCleanly(r, 'esm.mjs')
      assert.deepEqual(r.steps.get('esm'), { readPath: 'tokio', echo: ['from an ES module'] })
    })

    test('connected and nothing else: the process exits by itself', TIMEOUT, async () => {
      const r = await runScenario(runtime, 'idle', server)
      assertExitedCleanly(r, 'idle')
      assert.equal(r.steps.get('connected'), serverVersion().release)
      assert.ok(r.ms < 10000, `took ${r.ms} ms to exit`)
    })

    if (runtime.readPath === undefined) {
      test("readPath 'uv' is refused with why, before anything connects", TIMEOUT, async () => {
        const r = await runScenario(runtime, 'refusesUv', server)
        assertExitedCleanly(r, 'refusesUv')
        const refused = r.steps.get('refused')
        assert.equal(refused.name, 'TypeError')
        assert.match(refused.message, /readPath 'uv' needs Node's libuv event loop, which (Bun|Deno) does not offer/)
      })
    }
  })
}
