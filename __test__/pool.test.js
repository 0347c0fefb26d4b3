'use strict'

// The replica-set pool against a real Tarantool replica set (one master, two read-only
// replicas, replicating in a full mesh): role discovery, routing by mode and round-robin,
// writes to the master and their replication, replicas lost and restarted, failover to a
// promoted replica, the immediate re-check on ER_READONLY, add()/remove() at run time,
// pushes, timeouts and AbortSignal through the pool, the event loop, and close(); a frozen
// replica found by the idle heartbeat; an instance closed for good reopened; add()/remove() races.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const {
  connect, connectPool, Pool,
  ConnectionError, TimeoutError, AbortError, TarantoolError,
} = require('..')
const { startReplicaSet } = require('./helpers/replicaset')
const { atLeast, freePort, seqScan, startTarantool, stopAll } = require('./helpers/tarantool')
const { runFixture } = require('./helpers/fixture')
const { rejection, sleep, withTimeout, waitFor } = require('./helpers/wait')

const FIXTURES = path.join(__dirname, 'fixtures')
// Fast reconnects keep the restart tests short; roles re-checked every 200 ms.
const POOL_OPTIONS = Object.freeze({ checkInterval: 200, reconnect: { initialDelay: 50, maxDelay: 300 } })
// For each suite (all its tests together) and hook: nothing here may hang the run. A replica set
// takes a few seconds to bootstrap; the restart tests take the longest.
const TIMEOUT = { timeout: 180000 }

after(stopAll, TIMEOUT)

/** The pool URI of a member (the tester user). */
function poolUri(member) {
  return `tester:secret@${member.uri}`
}

/** The URI of a member as the pool shows it (instances(), events, watch items): without the password. */
function shownUri(member) {
  return `tester@${member.uri}`
}

/** Records every 'change' event of the pool. */
function recordChanges(pool) {
  const changes = []
  const listener = (c) => changes.push({ ...c, at: Date.now() })
  pool.on('change', listener)
  changes.stop = () => pool.off('change', listener)
  return changes
}

/** Waits for a recorded change matching `pred` (recorded since `changes` was created). */
function changeArrives(changes, pred, ms, what) {
  return waitFor(() => changes.some(pred), ms, what)
}

function instance(pool, uri) {
  return pool.instances().find((i) => i.uri === uri)
}

/** Asks each member for its uuid over a direct connection: Map(member → uuid). */
async function memberUuids(rs) {
  const out = new Map()
  for (const m of rs.members) {
    const c = await connect(poolUri(m))
    try {
      const [uuid, ro] = await c.call('whoami')
      assert.equal(typeof uuid, 'string')
      assert.equal(ro, m !== rs.master, `${m.uri}: box.info.ro`)
      out.set(m, uuid)
    } finally {
      c.destroy()
    }
  }
  assert.equal(new Set(out.values()).size, rs.members.length, 'every member has its own uuid')
  return out
}

// Same as the whoami() of replica.lua, but an eval: a restarted member accepts requests (and
// the pool may route to it) before its script has defined the functions again.
const WHOAMI = 'return box.info.uuid, box.info.ro'

/** Asks `n` times in a row which instance serves `mode`; resolves to the list of uuids. */
async function whoamis(pool, mode, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    const [uuid, ro] = await pool.eval(WHOAMI, [], { mode })
    assert.equal(typeof ro, 'boolean')
    out.push(uuid)
  }
  return out
}

function counts(list) {
  const m = new Map()
  for (const v of list) m.set(v, (m.get(v) || 0) + 1)
  return m
}

/** Sends `expr` to a member over a short-lived direct connection. */
async function direct(member, expr) {
  const c = await connect(poolUri(member))
  try {
    return await c.eval(expr)
  } finally {
    c.destroy()
  }
}

/** Until every member is connected with its expected role (the master writable). */
function waitHealthy(pool, rs, roles, ms = 15000) {
  return waitFor(() => rs.members.every((m) => {
    const i = instance(pool, shownUri(m))
    return i !== undefined && i.connected && i.ro === roles.get(m)
  }), ms, 'every instance connected with its role')
}

// ---------------------------------------------------------------------------------------------
// argument checks (no server needed, except a pool for the per-request mode)

describe('connectPool arguments', TIMEOUT, () => {
  test('uris must be a non-empty array of non-empty strings: TypeError', async () => {
    for (const bad of [undefined, null, '127.0.0.1:3301', 3301, {}, [], [3301], [''], ['127.0.0.1:1', null]]) {
      const err = await rejection(() => connectPool(bad))
      assert.ok(err instanceof TypeError, `${JSON.stringify(bad)}: ${err.name}: ${err.message}`)
    }
  })

  test('options must be an object; checkInterval a positive number of ms', async () => {
    for (const bad of [null, 'fast', 5]) {
      const err = await rejection(() => connectPool(['127.0.0.1:1'], bad))
      assert.ok(err instanceof TypeError, `options ${JSON.stringify(bad)}: ${err.name}: ${err.message}`)
    }
    for (const bad of ['1000', null, true, {}]) {
      const err = await rejection(() => connectPool(['127.0.0.1:1'], { checkInterval: bad }))
      assert.ok(err instanceof TypeError, `checkInterval ${JSON.stringify(bad)}: ${err.name}: ${err.message}`)
      assert.match(err.message, /checkInterval/)
    }
    for (const bad of [0, -1, NaN, Infinity, 2 ** 31]) {
      const err = await rejection(() => connectPool(['127.0.0.1:1'], { checkInterval: bad }))
      assert.ok(err instanceof RangeError, `checkInterval ${bad}: ${err.name}: ${err.message}`)
      assert.match(err.message, /checkInterval/)
    }
  })

  test('no reachable instance: ConnectionError ERR_NO_INSTANCE naming each URI, without its password', async () => {
    const [p1, p2] = [await freePort(), await freePort()]
    const err = await rejection(() => connectPool([`tester:hunter2@127.0.0.1:${p1}`, `127.0.0.1:${p2}`], { checkInterval: 100 }))
    assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ERR_NO_INSTANCE')
    assert.ok(err.message.includes(String(p1)) && err.message.includes(String(p2)), err.message)
    assert.ok(!err.message.includes('hunter2'), `the password shows in ${err.message}`)
  })
})

// ---------------------------------------------------------------------------------------------
// one replica set for routing, writes, pushes, add/remove, close, and finally replica loss

describe('pool over a replica set (1 master, 2 replicas)', TIMEOUT, () => {
  let rs
  let uuids // Map(member → uuid)
  let roles // Map(member → box.info.ro)
  let pool // POOL_OPTIONS over all three
  let masterUuid
  let replicaUuids

  before(async () => {
    rs = await startReplicaSet({ replicas: 2 })
    uuids = await memberUuids(rs)
    roles = new Map(rs.members.map((m) => [m, m !== rs.master]))
    masterUuid = uuids.get(rs.master)
    replicaUuids = rs.replicas.map((r) => uuids.get(r))
    pool = await connectPool(rs.members.map(poolUri), POOL_OPTIONS)
  }, TIMEOUT)

  after(async () => {
    if (pool) await pool.close()
    if (rs) await rs.stop()
  }, TIMEOUT)

  test('discovers the roles: 3 connected instances, exactly one writable (the master)', async () => {
    assert.ok(pool instanceof Pool)
    const list = pool.instances()
    assert.equal(list.length, 3)
    assert.deepEqual(list.map((i) => i.uri).sort(), rs.members.map(shownUri).sort())
    for (const i of list) {
      assert.equal(i.connected, true, `${i.uri} connected`)
      assert.equal(typeof i.ro, 'boolean', `${i.uri} ro known at connect`)
      assert.equal(i.lastError, null, `${i.uri} lastError`)
    }
    const writable = list.filter((i) => i.ro === false)
    assert.equal(writable.length, 1, 'exactly one writable instance')
    assert.equal(writable[0].uri, shownUri(rs.master))
    // instances() is a snapshot, not the pool's own state
    list[0].connected = false
    assert.equal(pool.instances()[0].connected, true)
  })

  test('a bad mode is a TypeError, for promise requests and for call/eval', async () => {
    for (const mode of ['master', 'RW', '', null, 1]) {
      for (const [what, fn] of [
        ['select', () => pool.select('test', 'pk', [], { mode })],
        ['insert', () => pool.insert('test', [999999], { mode })],
        ['ping', () => pool.ping({ mode })],
        ['call', () => pool.call('echo', [1], { mode })],
        ['eval', () => pool.eval('return 1', [], { mode })],
      ]) {
        const err = await rejection(fn)
        assert.ok(err instanceof TypeError, `${what} mode ${JSON.stringify(mode)}: ${err.name}: ${err.message}`)
        assert.match(err.message, /mode/)
      }
    }
    // nothing was written by the rejected insert
    assert.deepEqual(await pool.select('test', 'pk', [999999], { mode: 'rw' }), [])
  })

  test('prepare() prepares on one instance; the statement runs there', async () => {
    const stmt = await pool.prepare('SELECT ? AS x', { mode: 'ro' })
    assert.equal(stmt.bindCount, 1)
    const result = await stmt.execute([42])
    assert.deepEqual(result.rows, [[42]])
    await stmt.unprepare()
  })

  test('writes (insert, replace, update, upsert, delete, call, eval) go to the master and replicate', async () => {
    // call and eval default to 'rw'
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await pool.call('whoami'), [masterUuid, false])
      assert.deepEqual(await pool.eval('return box.info.uuid'), [masterUuid])
    }
    assert.deepEqual(await pool.call('whoami', [], { mode: 'rw' }), [masterUuid, false])

    // Every write succeeds, which a read-only replica would refuse (ER_READONLY), many times
    // in a row so that round-robin over all instances could not hide it.
    for (let k = 1000; k < 1006; k++) {
      assert.deepEqual(await pool.insert('test', [k, 'inserted']), [k, 'inserted'])
      assert.deepEqual(await pool.replace('test', [k, 'replaced']), [k, 'replaced'])
      assert.deepEqual(await pool.update('test', 'pk', [k], [['=', 1, 'updated']]), [k, 'updated'])
      assert.equal(await pool.upsert('test', [k, 'unused'], [['=', 1, 'upserted']]), undefined)
    }
    assert.equal(await pool.upsert('test', [1010, 'upsert-inserted'], [['=', 1, 'x']]), undefined)
    assert.deepEqual(await pool.delete('test', 'pk', [1005]), [1005, 'upserted'])
    assert.deepEqual(await pool.eval("return box.space.test:replace{1011, 'by eval'}"), [[1011, 'by eval']])
    // execute defaults to 'rw' as well: SQL DDL and DML, refused by a replica, succeed
    await pool.execute('CREATE TABLE IF NOT EXISTS pool_sql (id INT PRIMARY KEY, v TEXT)')
    for (let id = 1; id <= 3; id++) {
      const r = await pool.execute('INSERT INTO pool_sql VALUES (?, ?)', [id, 'sql'])
      assert.equal(r.rowCount, 1)
    }
    // a SELECT without WHERE scans the table, which 3.0 runs only with SEQSCAN
    assert.deepEqual((await pool.execute(`SELECT id FROM ${seqScan('pool_sql')} ORDER BY id`, [], { mode: 'rw' })).rows, [[1], [2], [3]])

    const expected = [
      [1000, 'upserted'], [1001, 'upserted'], [1002, 'upserted'], [1003, 'upserted'], [1004, 'upserted'],
      [1010, 'upsert-inserted'], [1011, 'by eval'],
    ]
    const range = (mode) => pool.select('test', 'pk', [1000], { iterator: 'GE', limit: 20, mode })
    assert.deepEqual(await range('rw'), expected)
    // Tarantool replicates; each replica sees it (two 'ro' selects in a row cover both).
    await waitFor(async () => {
      const [a, b] = [await range('ro'), await range('ro')]
      return JSON.stringify(a) === JSON.stringify(expected) && JSON.stringify(b) === JSON.stringify(expected)
    }, 2000, 'the writes to replicate to both replicas')
    for (const r of rs.replicas) {
      assert.deepEqual(await direct(r, "return box.space.test:select({1000}, {iterator = 'GE'})"), [expected])
    }
  })

  test("'ro' reads go to the replicas only, round-robin", async () => {
    const seen = await whoamis(pool, 'ro', 10)
    const c = counts(seen)
    assert.ok(!c.has(masterUuid), "an 'ro' read went to the master")
    assert.deepEqual([...c.keys()].sort(), [...replicaUuids].sort(), 'both replicas serve reads')
    assert.deepEqual([...c.values()], [5, 5], `not round-robin: ${JSON.stringify([...c])}`)
    for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], 'round-robin alternates')
    // the replica.lua function, called through the pool
    const called = []
    for (let i = 0; i < 4; i++) {
      const [uuid, ro] = await pool.call('whoami', [], { mode: 'ro' })
      assert.equal(ro, true)
      called.push(uuid)
    }
    assert.deepEqual([...new Set(called)].sort(), [...replicaUuids].sort())
    // 'ro' also goes for selects, which see the data
    for (let i = 0; i < 4; i++) assert.ok(Array.isArray(await pool.select('test', 'pk', [], { mode: 'ro', limit: 1 })))
  })

  test("'prefer-ro' uses the replicas while they are up; 'prefer-rw' the master; 'any' all three", async () => {
    const preferRo = counts(await whoamis(pool, 'prefer-ro', 10))
    assert.deepEqual([...preferRo.keys()].sort(), [...replicaUuids].sort(), "'prefer-ro' with replicas up")
    const preferRw = counts(await whoamis(pool, 'prefer-rw', 6))
    assert.deepEqual([...preferRw.keys()], [masterUuid], "'prefer-rw' with the master up")
    const any = counts(await whoamis(pool, 'any', 12))
    assert.deepEqual([...any.keys()].sort(), [...uuids.values()].sort(), "'any' uses all three")
    assert.deepEqual([...any.values()], [4, 4, 4], `'any' is not round-robin: ${JSON.stringify([...any])}`)
    // ping and select default to 'any': they work with mode omitted
    assert.equal(await pool.ping(), undefined)
    assert.ok(Array.isArray(await pool.select('test')))
  })

  test('pushes through the pool: for await yields each push, then the call resolves', async () => {
    for (const mode of [undefined, 'ro', 'any']) {
      const call = pool.call('pushes', [3], mode === undefined ? undefined : { mode })
      assert.equal(typeof call.then, 'function')
      const got = []
      for await (const m of call) got.push(m)
      assert.deepEqual(got, [1, 2, 3], `pushes with mode ${mode}`)
      assert.deepEqual(await call, ['done'])
    }
    // eval returns the same shape
    const ev = pool.eval("box.session.push('a') box.session.push('b') return 'end'", [], { mode: 'prefer-ro' })
    const got = []
    for await (const m of ev) got.push(m)
    assert.deepEqual(got, ['a', 'b'])
    assert.deepEqual(await ev, ['end'])
  })

  test('timeouts and AbortSignal through the pool', async () => {
    const err = await rejection(() => pool.call('sleep_then', [1, 'late'], { timeout: 50, mode: 'ro' }))
    assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ETIMEDOUT')
    const selErr = await rejection(() => pool.eval("require('fiber').sleep(1)", [], { timeout: 50 }))
    assert.ok(selErr instanceof TimeoutError, `${selErr.name}: ${selErr.message}`)

    // an already aborted signal
    const ac = new AbortController()
    ac.abort(new Error('no longer needed'))
    for (const [what, fn] of [
      ['call', () => pool.call('echo', [1], { signal: ac.signal })],
      ['select', () => pool.select('test', 'pk', [], { signal: ac.signal, mode: 'ro' })],
      ['insert', () => pool.insert('test', [1100], { signal: ac.signal })],
    ]) {
      const e = await rejection(fn)
      assert.ok(e instanceof AbortError, `${what}: ${e.name}: ${e.message}`)
      assert.equal(e.code, 'ABORT_ERR')
    }
    assert.deepEqual(await pool.select('test', 'pk', [1100], { mode: 'rw' }), [], 'the aborted insert ran')

    // aborted while in flight
    const ac2 = new AbortController()
    const inflight = pool.call('sleep_then', [1, 'late'], { signal: ac2.signal, mode: 'ro' })
    setTimeout(() => ac2.abort(), 50)
    const e2 = await rejection(() => inflight)
    assert.ok(e2 instanceof AbortError, `${e2.name}: ${e2.message}`)

    // a bad timeout or signal is a TypeError/RangeError, not a hang
    assert.ok((await rejection(() => pool.select('test', 'pk', [], { timeout: -1 }))) instanceof RangeError)
    assert.ok((await rejection(() => pool.call('echo', [], { signal: 'x' }))) instanceof TypeError)
    // the pool is fine afterwards
    assert.deepEqual(await pool.call('echo', ['still fine'], { mode: 'ro' }), ['still fine'])
  })

  test('a request that waited for an instance gets only what remains of its timeout (call, eval, execute, pool default)', async () => {
    // SLOW(ms) sleeps in SQL: execute goes the way of every non-call request
    await direct(rs.master, `box.schema.func.create('SLOW', {language = 'LUA', returns = 'integer',
      param_list = {'integer'}, exports = {'LUA', 'SQL'}, is_deterministic = false, if_not_exists = true,
      body = 'function(ms) require("fiber").sleep(ms / 1000) return ms end'})`)
    for (const r of rs.replicas) {
      await waitFor(async () => (await direct(r, 'return box.func.SLOW ~= nil'))[0], 5000, `SLOW replicated to ${r.uri}`)
    }
    const [promoted] = rs.replicas
    // no master in this pool until `promoted` is made writable, 1200 ms into a 2000 ms timeout
    const p = await connectPool(rs.replicas.map(poolUri), { ...POOL_OPTIONS, timeout: 2000 })
    try {
      const started = Date.now()
      const slow = {
        call: p.call('sleep_then', [1.4, 'late'], { mode: 'rw', timeout: 2000 }),
        eval: p.eval("require('fiber').sleep(1.4) return 'late'", [], { mode: 'rw', timeout: 2000 }),
        execute: p.execute('SELECT SLOW(1400)', [], { mode: 'rw', timeout: 2000 }),
        'the pool default': p.call('sleep_then', [1.4, 'late'], { mode: 'rw' }),
      }
      const quick = p.call('sleep_then', [0.1, 'in time'], { mode: 'rw', timeout: 2000 })
      await sleep(1200)
      await direct(promoted, 'box.cfg{read_only = false}')
      assert.deepEqual(await withTimeout(quick, 5000, 'the quick request'), ['in time'])
      for (const [what, request] of Object.entries(slow)) {
        const err = await withTimeout(rejection(request), 5000, what)
        assert.ok(err instanceof TimeoutError, `${what}: ${err.name}: ${err.message}`)
        // sent with at most 2000 - 1200 ms left: the connection's timeout, not the pool's wait
        const left = /request timed out after (\d+) ms/.exec(err.message)
        assert.ok(left !== null && Number(left[1]) <= 800, `${what}: ${err.message}`)
      }
      assert.ok(Date.now() - started < 4000, `the slow requests took ${Date.now() - started} ms`)
    } finally {
      await p.close()
      await direct(promoted, 'box.cfg{read_only = true}')
    }
    await waitHealthy(pool, rs, roles)
  })

  test('remove() and add() at run time, with change events', async () => {
    const [r0, r1] = rs.replicas
    const changes = recordChanges(pool)
    try {
      await pool.remove(poolUri(r0))
      assert.deepEqual(pool.instances().map((i) => i.uri).sort(), [shownUri(rs.master), shownUri(r1)].sort())
      const removed = changes.filter((c) => c.removed === true)
      assert.equal(removed.length, 1)
      assert.equal(removed[0].uri, shownUri(r0))
      const onlyR1 = counts(await whoamis(pool, 'ro', 6))
      assert.deepEqual([...onlyR1.keys()], [uuids.get(r1)], "'ro' reads after remove()")
      // removing again, or something never added, is a no-op
      await pool.remove(poolUri(r0))
      await pool.remove('127.0.0.1:1')
      assert.equal(pool.instances().length, 2)
      assert.equal(changes.filter((c) => c.removed === true).length, 1)

      await pool.add(poolUri(r0))
      const added = changes.filter((c) => c.added === true)
      assert.equal(added.length, 1)
      assert.equal(added[0].uri, shownUri(r0))
      const back = instance(pool, shownUri(r0))
      assert.deepEqual([back.connected, back.ro], [true, true], 'add() resolves once the instance is connected and checked')
      // adding a known URI does not duplicate it
      await pool.add(poolUri(r0))
      assert.equal(pool.instances().length, 3)
      assert.equal(changes.filter((c) => c.added === true).length, 1)
      const both = counts(await whoamis(pool, 'ro', 6))
      assert.deepEqual([...both.keys()].sort(), [...replicaUuids].sort(), "'ro' reads use the re-added replica")

      await assert.rejects(() => pool.add(''), TypeError)
      await assert.rejects(() => pool.add(42), TypeError)
    } finally {
      changes.stop()
    }
  })

  test("add() of an instance that is down: resolves, listed as not connected with its error, 'error' emitted", async () => {
    // a free port where nothing listens: the pool keeps working and lists it honestly
    const port = await freePort()
    const uri = `127.0.0.1:${port}`
    const errors = []
    const onError = (err, u) => errors.push({ err, u })
    pool.on('error', onError)
    try {
      await withTimeout(pool.add(uri), 5000, 'add() of a down instance to settle')
      const i = instance(pool, uri)
      assert.equal(i.connected, false)
      assert.equal(i.ro, null)
      assert.ok(i.lastError instanceof ConnectionError, `lastError ${i.lastError}`)
      assert.ok(errors.some((e) => e.u === uri && e.err instanceof ConnectionError), "'error' (err, uri) for the down instance")
      // requests still go to the live ones
      assert.deepEqual(counts(await whoamis(pool, 'any', 6)).size, 3)
      await pool.remove(uri)
      assert.equal(instance(pool, uri), undefined)
    } finally {
      pool.off('error', onError)
    }
  })

  test('close() closes every connection; later requests reject with ConnectionError', async () => {
    const p = await connectPool(rs.members.map(poolUri), POOL_OPTIONS)
    // a request waiting for an eligible instance fails at close(), and does not hang
    const solo = await connectPool([poolUri(rs.master)], POOL_OPTIONS)
    const waiting = solo.call('echo', [1], { mode: 'ro', timeout: 20000 })
    const waitingSelect = solo.select('test', 'pk', [], { mode: 'ro', timeout: 20000 })
    const waitingErrors = [rejection(() => waiting), rejection(() => waitingSelect)]
    await sleep(50)
    // one in flight on a live connection finishes (graceful close)
    const inflight = p.call('sleep_then', [0.2, 'finished'], { mode: 'ro' })
    await Promise.all([p.close(), solo.close()])
    assert.deepEqual(await inflight, ['finished'])
    for (const [what, pr] of [['waiting call', waitingErrors[0]], ['waiting select', waitingErrors[1]]]) {
      const err = await withTimeout(pr, 2000, what)
      assert.ok(err instanceof ConnectionError, `${what}: ${err.name}: ${err.message}`)
    }
    for (const i of [...p.instances(), ...solo.instances()]) assert.equal(i.connected, false, `${i.uri} still connected`)
    for (const [what, fn] of [
      ['ping', () => p.ping()],
      ['select', () => p.select('test', 'pk', [], { mode: 'ro' })],
      ['insert', () => p.insert('test', [1200])],
      ['call', () => p.call('echo', [1])],
      ['eval', () => p.eval('return 1', [], { mode: 'any' })],
    ]) {
      const err = await withTimeout(rejection(fn), 2000, what)
      assert.ok(err instanceof ConnectionError, `${what} after close(): ${err.name}: ${err.message}`)
    }
    await assert.rejects(() => p.add(poolUri(rs.master)), ConnectionError)
    await p.close() // twice is fine
    // the shared pool is unaffected
    assert.deepEqual(await pool.call('echo', ['other pool'], { mode: 'any' }), ['other pool'])
  })

  test('a process that connects a pool and does one call exits by itself (one instance, three, and with a down one)', async () => {
    const down = `127.0.0.1:${await freePort()}`
    for (const [uris, up] of [[[poolUri(rs.master)], 1], [rs.members.map(poolUri), 3], [[...rs.members.map(poolUri), down], 3]]) {
      const child = spawn(process.execPath, [path.join(FIXTURES, 'pool-one-call.js'), ...uris], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => { stdout += d })
      child.stderr.on('data', (d) => { stderr += d })
      const exit = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
      let result
      try {
        result = await withTimeout(exit, 15000, `the fixture (${uris.length} URIs) to exit by itself`)
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      assert.deepEqual(result, { code: 0, signal: null }, stderr)
      assert.notEqual(stdout.trim(), '', `${uris.length} URIs: the process exited before the call resolved`)
      const out = JSON.parse(stdout.trim())
      assert.deepEqual(out.result, ['pool one call'])
      assert.equal(out.instances.filter(([, connected]) => connected).length, up)
    }
  })

  test('a process whose request waits for an instance lives until it settles, then exits by itself', async () => {
    const run = await runFixture('pool-waiting.js', [poolUri(rs.master)], 15000)
    assert.equal(run.hung, false, `the fixture did not exit by itself: ${run.stderr}`)
    assert.deepEqual([run.code, run.signal], [0, null], run.stderr)
    assert.notEqual(run.stdout.trim(), '', 'the process exited before the request settled')
    const out = JSON.parse(run.stdout.trim())
    assert.equal(out.error, 'TimeoutError', JSON.stringify(out))
    assert.match(out.message, /\bro\b/)
  })

  // -------- destructive: replicas lost and restarted (roles are back at the end of each test)

  test('a frozen replica (SIGSTOP) leaves rotation within heartbeat interval + timeout though idle; after SIGCONT it is back', async () => {
    const [victim, survivor] = rs.replicas
    const victimUri = shownUri(victim)
    const heartbeat = { interval: 500, timeout: 1500 }
    const p = await connectPool(rs.members.map(poolUri), { ...POOL_OPTIONS, heartbeat })
    let stopped = false
    try {
      await waitHealthy(p, rs, roles)
      assert.deepEqual([...counts(await whoamis(p, 'ro', 4)).keys()].sort(), [...replicaUuids].sort())
      // nothing pending from here on: only the idle heartbeat (and on 2.6 the role polls) can tell
      victim.proc.kill('SIGSTOP')
      stopped = true
      await waitFor(() => !instance(p, victimUri).connected, heartbeat.interval + heartbeat.timeout + 3000, 'the frozen replica to leave rotation')
      const err = instance(p, victimUri).lastError
      assert.ok(err instanceof ConnectionError && err.code === 'ETIMEDOUT', `lastError ${err} (${err?.code})`)
      const seen = counts(await whoamis(p, 'ro', 6))
      assert.deepEqual([...seen], [[uuids.get(survivor), 6]], "every 'ro' read on the other replica")

      victim.proc.kill('SIGCONT')
      stopped = false
      await waitFor(() => instance(p, victimUri).connected && instance(p, victimUri).ro === true, 15000, 'the thawed replica to be connected again')
      await waitFor(async () => counts(await whoamis(p, 'ro', 4)).has(uuids.get(victim)), 5000, "'ro' reads to use the thawed replica")
    } finally {
      if (stopped) victim.proc.kill('SIGCONT')
      await p.close()
    }
    await waitHealthy(pool, rs, roles)
    await waitFor(async () => counts(await whoamis(pool, 'ro', 4)).size === 2, 10000, "the shared pool's 'ro' reads on both replicas")
  })

  test("a replica killed: its pending requests fail with ConnectionError, 'ro' reads move to the other; restarted, it comes back", async () => {
    const [victim, survivor] = rs.replicas
    const victimUri = shownUri(victim)
    const changes = recordChanges(pool)
    try {
      // two requests on each replica (round-robin), each answering with the uuid it ran on
      const pending = []
      for (let i = 0; i < 4; i++) {
        pending.push(pool.eval("require('fiber').sleep(1.5) return box.info.uuid", [], { mode: 'ro' }))
      }
      await sleep(100)
      await victim.kill('SIGKILL')
      const settled = await withTimeout(Promise.allSettled(pending), 5000, 'requests pending on the replicas to settle')
      const failed = settled.filter((s) => s.status === 'rejected').map((s) => s.reason)
      const answered = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value[0])
      assert.equal(failed.length, 2, 'the two requests on the killed replica fail')
      for (const err of failed) assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
      assert.deepEqual(answered, [uuids.get(survivor), uuids.get(survivor)])

      await changeArrives(changes, (c) => c.uri === victimUri && c.connected === false, 3000, "'change' with connected=false")
      assert.equal(instance(pool, victimUri).connected, false)
      assert.ok(instance(pool, victimUri).lastError instanceof ConnectionError)
      // every 'ro' read now succeeds, on the survivor
      const seen = counts(await whoamis(pool, 'ro', 10))
      assert.deepEqual([...seen], [[uuids.get(survivor), 10]])

      const since = changes.length
      await victim.start()
      await waitFor(() => instance(pool, victimUri).connected, 10000, 'the restarted replica to be connected again')
      await waitFor(async () => counts(await whoamis(pool, 'ro', 4)).has(uuids.get(victim)), 5000, "'ro' reads to use the restarted replica")
      await waitHealthy(pool, rs, roles)
      // The pool announced the loss ('change' with connected=false); it must announce the
      // return as well, or a listener keeps believing the replica is down.
      await sleep(500)
      const back = changes.slice(since).filter((c) => c.uri === victimUri)
      assert.ok(back.some((c) => c.connected === true),
        "no 'change' event with connected=true for the restarted replica, although instances() shows it " +
        `connected=${instance(pool, victimUri).connected} ro=${instance(pool, victimUri).ro}; its changes since the restart: ` +
        JSON.stringify(back.map(({ connected, ro }) => ({ connected, ro }))))
    } finally {
      changes.stop()
    }
  })

  test("'prefer-ro' falls back to the master when both replicas are down; 'ro' then waits and times out", async () => {
    const changes = recordChanges(pool)
    try {
      await Promise.all(rs.replicas.map((r) => r.kill('SIGKILL')))
      for (const r of rs.replicas) {
        await changeArrives(changes, (c) => c.uri === shownUri(r) && c.connected === false, 3000, `${r.uri} seen down`)
      }
      const preferRo = counts(await whoamis(pool, 'prefer-ro', 6))
      assert.deepEqual([...preferRo], [[masterUuid, 6]])
      const err = await withTimeout(rejection(() => pool.call('whoami', [], { mode: 'ro', timeout: 300 })), 3000, "'ro' with no replica")
      assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`)
      assert.match(err.message, /\bro\b/)
      const selErr = await withTimeout(rejection(() => pool.select('test', 'pk', [], { mode: 'ro', timeout: 300 })), 3000, "'ro' select")
      assert.ok(selErr instanceof TimeoutError, `${selErr.name}: ${selErr.message}`)
      // an 'ro' request waiting with a longer timeout is served once a replica comes back
      const waiting = pool.eval(WHOAMI, [], { mode: 'ro', timeout: 20000 })
      await Promise.all(rs.replicas.map((r) => r.start()))
      const [uuid, ro] = await withTimeout(waiting, 20000, "the waiting 'ro' call")
      assert.ok(replicaUuids.includes(uuid))
      assert.equal(ro, true)
      await waitHealthy(pool, rs, roles)
      assert.deepEqual([...counts(await whoamis(pool, 'prefer-ro', 6)).keys()].sort(), [...replicaUuids].sort())
    } finally {
      changes.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// failover: the master dies and a replica is promoted

describe('failover (fresh replica set)', TIMEOUT, () => {
  let rs
  let uuids
  let pool
  let changes
  const issued = [] // every promise made while there is no master: all must settle

  before(async () => {
    rs = await startReplicaSet({ replicas: 2 })
    uuids = await memberUuids(rs)
    pool = await connectPool(rs.members.map(poolUri), POOL_OPTIONS)
    changes = recordChanges(pool)
  }, TIMEOUT)

  after(async () => {
    if (pool) await pool.close()
    if (rs) await rs.stop()
  }, TIMEOUT)

  test('the master is killed: seen down; prefer-rw falls back to a replica', async () => {
    assert.deepEqual(await pool.call('whoami', [], { mode: 'rw' }), [uuids.get(rs.master), false])
    await rs.master.kill('SIGKILL')
    await changeArrives(changes, (c) => c.uri === shownUri(rs.master) && c.connected === false, 3000, 'the master seen down')
    const seen = counts(await whoamis(pool, 'prefer-rw', 6))
    assert.deepEqual([...seen.keys()].sort(), rs.replicas.map((r) => uuids.get(r)).sort())
  })

  test("with no master, an 'rw' write waits for its timeout and fails with TimeoutError naming 'writable'", async () => {
    for (const [what, fn] of [
      ['insert', () => pool.insert('test', [1], { timeout: 300 })],
      ['update', () => pool.update('test', 'pk', [1], [['=', 1, 'x']], { timeout: 300 })],
      ['call', () => pool.call('echo', [1], { timeout: 300 })],
      ['eval', () => pool.eval('return 1', [], { timeout: 300, mode: 'rw' })],
    ]) {
      const t0 = Date.now()
      const p = fn()
      issued.push(p)
      const err = await withTimeout(rejection(() => p), 3000, what)
      assert.ok(err instanceof TimeoutError, `${what}: ${err.name}: ${err.message}`)
      assert.equal(err.code, 'ETIMEDOUT')
      assert.match(err.message, /writable/, what)
      assert.ok(Date.now() - t0 >= 250, `${what} failed before its timeout`)
    }
    // and an AbortSignal ends the wait
    const ac = new AbortController()
    const p = pool.insert('test', [2], { signal: ac.signal, timeout: 20000 })
    issued.push(p)
    setTimeout(() => ac.abort(), 50)
    const err = await withTimeout(rejection(() => p), 3000, 'the aborted wait')
    assert.ok(err instanceof AbortError, `${err.name}: ${err.message}`)
  })

  test('a replica is promoted: writes go to it within seconds, waiting requests are served, change shows ro=false', async () => {
    const promoted = rs.replicas[0]
    const promotedUri = shownUri(promoted)
    // issued while there is no master: a write, a call awaited, a call iterated
    const waitingWrite = pool.insert('test', [10, 'waited'], { timeout: 15000 })
    const awaited = pool.call('whoami', [], { timeout: 15000 })
    const iterated = pool.call('pushes', [3], { timeout: 15000 })
    issued.push(waitingWrite, awaited, iterated)
    assert.equal(typeof awaited.then, 'function')
    assert.equal(typeof iterated[Symbol.asyncIterator], 'function', 'a pending call is async-iterable')
    await sleep(100)

    await direct(promoted, 'box.cfg{read_only = false}')
    const write = pool.insert('test', [11, 'after promotion'], { timeout: 5000 })
    issued.push(write)
    assert.deepEqual(await write, [11, 'after promotion'])
    assert.deepEqual(await pool.call('whoami', [], { mode: 'rw', timeout: 5000 }), [uuids.get(promoted), false])
    await changeArrives(changes, (c) => c.uri === promotedUri && c.ro === false && c.connected === true, 5000, "'change' with ro=false for the promoted replica")
    assert.equal(instance(pool, promotedUri).ro, false)

    assert.deepEqual(await withTimeout(waitingWrite, 5000, 'the waiting write'), [10, 'waited'])
    assert.deepEqual(await withTimeout(awaited, 5000, 'the pending call'), [uuids.get(promoted), false])
    // the other replica replicated from the dead master; the new master's data is its own
    assert.deepEqual(await pool.select('test', 'pk', [], { mode: 'rw' }), [[10, 'waited'], [11, 'after promotion']])
  })

  test('a call issued while there was no master is iterable once a master appears', async () => {
    const iterated = issued[issued.length - 2] // pushes(3) from the previous test
    const got = []
    await withTimeout((async () => {
      for await (const m of iterated) got.push(m)
    })(), 5000, 'iterating the pending call')
    assert.deepEqual(got, [1, 2, 3])
    assert.deepEqual(await iterated, ['done'])
  })

  test('a fresh pending call (no master, then one appears) resolves and is iterable', async () => {
    const promoted = rs.replicas[0]
    const other = rs.replicas[1]
    // take the master away again, then bring one back
    await direct(promoted, 'box.cfg{read_only = true}')
    await waitFor(() => instance(pool, shownUri(promoted)).ro === true, 3000, 'the pool to see no master')
    const call = pool.call('pushes', [2], { timeout: 15000 })
    const viaPushes = pool.call('pushes', [2], { timeout: 15000 })
    issued.push(call, viaPushes)
    await sleep(100)
    await direct(other, 'box.cfg{read_only = false}')
    const got = []
    const fromPushes = []
    await withTimeout((async () => {
      for await (const m of viaPushes.pushes({ timeout: 5000 })) fromPushes.push(m)
      for await (const m of call) got.push(m)
    })(), 10000, 'iterating the pending calls')
    assert.deepEqual(got, [1, 2])
    assert.deepEqual(fromPushes, [1, 2])
    assert.deepEqual(await call, ['done'])
    assert.deepEqual(await viaPushes, ['done'])
    assert.deepEqual(await pool.call('whoami', [], { timeout: 5000 }), [uuids.get(other), false])
  })

  test('nothing issued during the failover hangs: every promise settles', async () => {
    const settled = await withTimeout(Promise.allSettled(issued), 10000, 'everything issued during the failover to settle')
    assert.equal(settled.length, issued.length)
  })
})

// ---------------------------------------------------------------------------------------------
// ER_READONLY: the only way a role change is found when the check interval is long

describe('a role change behind the pool\'s back: pushed by box.status (2.10+), else ER_READONLY triggers a re-check (checkInterval 60000)', TIMEOUT, () => {
  let rs
  let uuids
  let pool

  before(async () => {
    rs = await startReplicaSet({ replicas: 2 })
    uuids = await memberUuids(rs)
    pool = await connectPool(rs.members.map(poolUri), { checkInterval: 60000 })
  }, TIMEOUT)

  after(async () => {
    if (pool) await pool.close()
    if (rs) await rs.stop()
  }, TIMEOUT)

  test('the first write fails with ER_READONLY; the next one, shortly after, goes to the new master', async () => {
    const promoted = rs.replicas[1]
    assert.deepEqual(await pool.call('whoami', [], { mode: 'rw' }), [uuids.get(rs.master), false])
    const changes = recordChanges(pool)
    try {
      // behind the pool's back: the master steps down, a replica takes over
      await direct(rs.master, 'box.cfg{read_only = true}')
      await direct(promoted, 'box.cfg{read_only = false}')
      if (atLeast(2, 10)) {
        // Servers with watchers push the change themselves (box.status): the pool knows the new
        // master before any write, so no write meets ER_READONLY.
        const deadline = Date.now() + 3000
        while (!(instance(pool, shownUri(rs.master)).ro === true && instance(pool, shownUri(promoted)).ro === false)) {
          assert.ok(Date.now() < deadline, 'box.status did not report the new roles within 3 s')
          await sleep(5)
        }
        assert.deepEqual(await pool.insert('test', [2, 'accepted'], { timeout: 3000 }), [2, 'accepted'])
        assert.deepEqual(await pool.call('whoami', [], { mode: 'rw', timeout: 3000 }), [uuids.get(promoted), false])
        return
      }

      const err = await rejection(() => pool.insert('test', [1, 'refused']))
      assert.ok(err instanceof TarantoolError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ER_READONLY')
      await sleep(300)
      // the pool learnt that the old master is read-only
      assert.equal(instance(pool, shownUri(rs.master)).ro, true, 'the instance that answered ER_READONLY was re-checked')
      assert.ok(changes.some((c) => c.uri === shownUri(rs.master) && c.ro === true))

      let written
      try {
        written = await pool.insert('test', [2, 'accepted'], { timeout: 3000 })
      } catch (e) {
        const roles = JSON.stringify(pool.instances().map((i) => [i.uri.replace(/^[^@]*@/, ''), i.connected, i.ro]))
        assert.fail(`the write after ER_READONLY failed: ${e.name}: ${e.message} (instances: ${roles})`)
      }
      assert.deepEqual(written, [2, 'accepted'])
      assert.deepEqual(await pool.call('whoami', [], { mode: 'rw', timeout: 3000 }), [uuids.get(promoted), false])
    } finally {
      changes.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// one standalone server: connections closed for good are reopened, add()/remove() races

describe('instances down for good, and add()/remove() while opening (one server)', TIMEOUT, () => {
  let server
  let uri // as given to the pool
  let shown // as the pool shows it
  let probe // a direct connection that counts the server's connections

  before(async () => {
    server = await startTarantool()
    const member = { uri: `${server.host}:${server.port}` }
    uri = poolUri(member)
    shown = shownUri(member)
  }, TIMEOUT)

  after(async () => {
    if (probe) probe.destroy()
    if (server) await server.stop()
  }, TIMEOUT)

  /** Starts the server again if a test killed it and failed before restarting it. */
  async function running() {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) await server.start()
  }

  /** Evaluates `expr` on the server over the probe. */
  async function onServer(expr) {
    if (probe === undefined || probe.closed) probe = await connect(uri)
    return probe.eval(expr)
  }

  /** The server's client connections, the probe's own left out. */
  async function serverConnections() {
    const [n] = await onServer('return box.stat.net().CONNECTIONS.current')
    return n - 1
  }

  for (const [what, reconnect] of [
    ['reconnect: false', false],
    ['its reconnect retries used up', { initialDelay: 20, maxDelay: 50, maxRetries: 2 }],
  ]) {
    test(`an instance whose connection closed for good (${what}) is reopened every checkInterval, with 'change'`, async () => {
      const p = await connectPool([uri], { checkInterval: 200, reconnect })
      const changes = recordChanges(p)
      const errors = []
      p.on('error', (err, u) => errors.push({ err, u }))
      try {
        assert.deepEqual(await p.call('echo', ['before'], { mode: 'any' }), ['before'])
        await server.kill()
        await changeArrives(changes, (c) => c.uri === shown && c.connected === false, 5000, "'change' with connected=false")
        // the pool tries to open it again (and fails while the server is down)
        await waitFor(() => errors.some((e) => e.u === shown && e.err instanceof ConnectionError), 5000, 'a reopen attempt')
        const since = changes.length
        await server.start()
        await waitFor(() => instance(p, shown).connected, 10000, 'the instance to be reopened')
        assert.deepEqual(await p.call('echo', ['after'], { mode: 'any', timeout: 5000 }), ['after'])
        assert.equal(instance(p, shown).ro, false)
        assert.ok(changes.slice(since).some((c) => c.uri === shown && c.connected === true), "no 'change' with connected=true")
        assert.equal(p.instances().length, 1)
      } finally {
        changes.stop()
        await p.close()
        await running()
      }
    })
  }

  test('a PoolWatcher watches a reopened instance anew', { skip: !atLeast(2, 10) && 'the server lacks the watchers feature (2.10+)' }, async () => {
    const p = await connectPool([uri], { checkInterval: 200, reconnect: false })
    const values = []
    const pw = p.watch('kharon.pool.reopen', (value, key, u) => { values.push([u, value]) })
    try {
      await onServer("box.broadcast('kharon.pool.reopen', 'before')")
      await waitFor(() => values.some(([, v]) => v === 'before'), 5000, 'the value before the restart')
      await server.kill()
      await waitFor(() => !instance(p, shown).connected, 5000, 'the instance seen down')
      await server.start()
      await waitFor(() => instance(p, shown).connected, 10000, 'the instance to be reopened')
      await onServer("box.broadcast('kharon.pool.reopen', 'after')")
      await waitFor(() => values.some(([, v]) => v === 'after'), 5000, 'the value after the reopen')
      assert.ok(values.every(([u]) => u === shown))
      assert.deepEqual(pw.uris, [shown])
    } finally {
      pw.close()
      await p.close()
      await running()
    }
  })

  test('remove() then add() of a URI while its first open is under way leaves one connection, none after close()', async () => {
    await waitFor(async () => (await serverConnections()) === 0, 5000, 'no connection but the probe')
    const p = await connectPool([uri], { checkInterval: 200 })
    try {
      assert.equal(await serverConnections(), 1)
      await p.remove(uri)
      await waitFor(async () => (await serverConnections()) === 0, 5000, 'the removed connection to close')
      // both adds and the remove overlap: the first open has not even connected yet
      const first = p.add(uri)
      const removed = p.remove(uri)
      const second = p.add(uri)
      await Promise.all([first, removed, second])
      assert.deepEqual(p.instances().map((i) => [i.uri, i.connected]), [[shown, true]])
      assert.deepEqual(await p.call('echo', ['once'], { mode: 'any' }), ['once'])
      await waitFor(async () => (await serverConnections()) === 1, 5000, 'one connection for the instance')
      await sleep(300)
      assert.equal(await serverConnections(), 1, 'a connection was left behind')
    } finally {
      await p.close()
    }
    await waitFor(async () => (await serverConnections()) === 0, 5000, 'every pool connection closed')
  })
})
