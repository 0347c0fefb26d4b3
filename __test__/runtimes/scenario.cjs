'use strict'

// Run by Bun and Deno (and by Node with readPath 'tokio') from __test__/runtimes.test.js:
// `<runtime> scenario.cjs <case> <port> <upper|lower> [readPath]`, where upper says that the
// server upper-cases SQL names (before 3.0) and readPath, when given, is passed to every connect.
// Each case prints one JSON line per step to stdout, and leaves open what the process must exit
// without; a failure prints {"failed": ...} and exits with 1. The driver checks the lines (and,
// for `restart`, kills and restarts the server when they say so).

const kharon = require('../../index.js')

const [mode, portArg, upperSql, readPath] = process.argv.slice(2)
const port = Number(portArg)
const host = '127.0.0.1'
const forced = readPath === undefined ? {} : { readPath }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const say = (step, value) => console.log(JSON.stringify({ step, value }))

// A restarted server greets (and so takes the reconnect) before its script has granted guest
// its rights and defined its functions: refusals for that are retried for a while.
async function untilServed(request) {
  for (let tries = 0; ; tries++) {
    try {
      return await request()
    } catch (err) {
      if (tries >= 100 || (err.code !== 'ER_ACCESS_DENIED' && err.code !== 'ER_NO_SUCH_PROC')) throw err
      await sleep(100)
    }
  }
}

const cases = {
  // Connects, does CRUD, SQL and a pool call, then leaves both open: the process must exit.
  async basics() {
    const conn = await kharon.connect({ host, port, ...forced })
    say('runtime', { bun: process.versions.bun !== undefined, deno: process.versions.deno !== undefined })
    say('readPath', conn.transport.readPath)
    say('serverVersion', conn.serverVersion)
    const key = 1000 + Math.floor(Math.random() * 1000)
    say('insert', await conn.insert('test', [key, 'runtime', 1]))
    say('select', await conn.select('test', 'pk', [key]))
    say('update', await conn.update('test', 'pk', [key], [['+', 2, 41]]))
    say('delete', await conn.delete('test', 'pk', [key]))
    say('selectGone', await conn.select('test', 'pk', [key]))
    const column = upperSql === 'upper' ? 'X' : 'x'
    const sql = await conn.execute('SELECT ? + 1 AS x', [41])
    say('sql', { rows: sql.rows, column: sql.metadata[0].name === column })
    // Many requests at once: batched reads carry many responses each.
    const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => conn.call('echo', [i])))
    say('many', many.every(([v], i) => v === i))
    const pool = await kharon.connectPool([`${host}:${port}`], forced)
    say('pool', await pool.call('echo', ['through the pool']))
    say('idle', 'leaving the connection and the pool open')
  },

  // A slow consumer of 10,000 pushes: reading pauses over the high-water mark and resumes.
  async pushes() {
    const conn = await kharon.connect({ host, port, ...forced }, { pushHighWaterMark: 1024 })
    const call = conn.call('pushes', [10000])
    let expected = 1
    let inOrder = true
    for await (const push of call) {
      if (push !== expected++) inOrder = false
      if (expected % 500 === 0) await sleep(2)
    }
    say('pushes', { count: expected - 1, inOrder, result: await call, pushCount: conn.transport.pushCount })
    // A consumer that stops: reading stops too (no byte more is read while it waits), and
    // resumes when it goes on.
    const stalled = conn.call('push_big', [300, 64 * 1024])
    const iterator = stalled[Symbol.asyncIterator]()
    await iterator.next()
    await sleep(300)
    const at = conn.transport.bytesReceived
    await sleep(300)
    const still = conn.transport.bytesReceived
    let rest = 1
    while (!(await iterator.next()).done) rest++
    say('stalled', { stopped: still === at, read: at < 300 * 64 * 1024, rest, result: await stalled })
    // Big pushes past the mark: backpressure with batches handed over whole.
    const big = conn.call('push_big', [200, 64 * 1024])
    let bytes = 0
    let n = 0
    for await (const push of big) {
      bytes += push.length
      if (++n % 20 === 0) await sleep(5)
    }
    say('bigPushes', { n, bytes, result: await big })
    await conn.close()
  },

  // A watcher (2.10+): the value at watch time, then what the server broadcasts.
  async watch() {
    const conn = await kharon.connect({ host, port, ...forced })
    const seen = []
    let wake = null
    const watcher = conn.watch('kharon.runtimes', (value) => {
      seen.push(value)
      if (wake !== null) wake()
    })
    const next = () => new Promise((resolve) => { wake = resolve })
    while (seen.length < 1) await next()
    await conn.eval("box.broadcast('kharon.runtimes', {n = 42})")
    while (seen.length < 2) await next()
    say('watch', seen)
    watcher.close()
    await conn.close()
  },

  // The driver kills the server at 'pending' and restarts it at 'rejected': the pending request
  // fails, and a request issued meanwhile goes once the client has reconnected.
  async restart() {
    const conn = await kharon.connect({ host, port, ...forced }, { reconnect: { initialDelay: 50, maxDelay: 200 } })
    const pending = conn.call('sleep_then', [30, 'never'])
    const failed = pending.then(() => null, (err) => ({ name: err.name, code: err.code }))
    await sleep(100)
    say('pending', conn.transport.pending)
    say('rejected', await failed)
    say('reconnected', await untilServed(() => conn.call('echo', ['after the restart'], { timeout: 20000 })))
    await conn.close()
  },

  // The only work left is a pending request: the process must stay up until it completes.
  async pending() {
    const conn = await kharon.connect({ host, port, ...forced })
    const issued = Date.now()
    conn.call('sleep_then', [1, 'late']).then(([value]) => say('late', { value, ms: Date.now() - issued }))
    say('issued', true)
  },

  // Connections opened and destroyed, some with requests pending: those reject, and each close lets
  // go of its socket (whose fd the reader task holds until it ends) at once.
  async churn() {
    const fds = () => require('node:fs').readdirSync('/proc/self/fd').length
    const warm = await kharon.connect({ host, port, ...forced })
    await warm.close()
    const before = fds()
    let rejected = 0
    const codes = new Set()
    for (let i = 0; i < 50; i++) {
      const conn = await kharon.connect({ host, port, ...forced })
      await conn.call('echo', [i])
      const pending = Array.from({ length: 10 }, () => conn.call('sleep_then', [10, 'never']).catch((err) => {
        rejected++
        codes.add(err.code)
      }))
      conn.destroy()
      await Promise.all(pending)
    }
    await sleep(200)
    say('churn', { rejected, codes: [...codes], fdsLeft: fds() - before })
  },

  // Connected and nothing else: the process must exit by itself.
  async idle() {
    const conn = await kharon.connect({ host, port, ...forced })
    say('connected', conn.serverVersion)
  },

  // 'uv' is refused with why, before anything connects.
  async refusesUv() {
    try {
      await kharon.connect({ host, port, readPath: 'uv' })
      say('refused', null)
    } catch (err) {
      say('refused', { name: err.name, message: err.message })
    }
  },
}

const run = cases[mode]
if (run === undefined) {
  console.log(JSON.stringify({ failed: `no case ${mode}` }))
  process.exit(2)
}
run().catch((err) => {
  console.log(JSON.stringify({ failed: `${err && err.name}: ${err && err.message}`, code: err && err.code, stack: err && err.stack }))
  process.exit(1)
})
