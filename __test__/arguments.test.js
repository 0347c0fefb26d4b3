'use strict'

// Bad arguments: every method that returns a promise rejects (never throws) with a TypeError or
// RangeError, and with the same one whichever path finds it: a Connection, a Stream or a Pool,
// with the name cache fresh (right after connect) or stale (after DDL, so that a request by name
// refetches the schema first), and a pool with no instance up (that would wait for one). call()
// and eval() reject as a Call, whose pushes reject with the same error. What returns no promise
// (watch(), stream(), a Call's pushes()) keeps throwing, and is not tested here.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')

const { connect, connectPool, Call, ConnectionError } = require('..')
const { startTarantool, stopAll, freePort, atLeast } = require('./helpers/tarantool')
const { rejection, withTimeout } = require('./helpers/wait')

const TIMEOUT = { timeout: 120000 }
const REQUESTS = ['conn', 'stream', 'pool', 'empty pool']
const POOLS = ['pool', 'empty pool']

/** Found only once the body is built, after routing: a pool with no instance up finds it after its wait. */
const late = (...args) => Object.assign(args, { late: true })

const badTimeouts = [{ timeout: 'soon' }, { timeout: -1 }, { timeout: NaN }, { timeout: 2 ** 31 }, { signal: 'abort' }]
const fn = () => 1

// [method, the paths it is called on, its bad argument lists]
const TABLE = [
  ['ping', REQUESTS, [[5], ['x'], ...badTimeouts.map((o) => [o])]],
  ['call', REQUESTS, [
    [], [5], [''], ['echo', 'notarray'], ['echo', { 0: 1 }], ['echo', [], 5], ['echo', [], { onPush: 'no' }],
    ['echo', [], { highWaterMark: -1 }], ['echo', [], { highWaterMark: '1' }], ['echo', [], { tuples: 'rows' }],
    ...badTimeouts.map((o) => ['echo', [], o]), late('echo', [fn]), late('echo', [Symbol('s')]),
  ]],
  ['eval', REQUESTS, [[5], ['return', 'x'], ['return', [], 'x'], ['return', [], { timeout: -5 }], late('return ...', [fn])]],
  ['select', REQUESTS, [
    [], [null], [{}], [-1], [1.5], ['test', {}], ['test', null], ['test', -1], ['test', 'pk', [], 'opts'],
    ['test', 'pk', [], { limit: -1 }], ['test', 'pk', [], { limit: '10' }], ['test', 'pk', [], { offset: 1.5 }],
    ['test', 'pk', [], { iterator: 'NOPE' }], ['test', 'pk', [], { iterator: 12 }], ['test', 'pk', [], { tuples: 'rows' }],
    ['test', 'pk', [], { fetchPos: 1 }], ['test', 'pk', [], { after: 5 }], late('test', 'pk', [fn]),
    ...badTimeouts.map((o) => ['test', 'pk', [], o]),
  ]],
  ['insert', REQUESTS, [
    [null, [1]], ['test'], ['test', 5], ['test', null], ['test', 'x'], ['test', [1], 5], ['test', [1], { tuples: 'rows' }],
    ['test', [1], { timeout: -1 }], late('test', [fn]), late('test', { a: 1 }),
  ]],
  ['replace', REQUESTS, [[true, [1]], ['test', 5], ['test', [1], 'x'], ['test', [1], { signal: {} }], late('test', [1, Symbol('s')])]],
  ['update', REQUESTS, [
    [null, 0, 1, []], [-3, 0, [1], []], ['test', {}, 1, []], ['test', 0.5, [1], []], ['test', 0, 1], ['test', 0, 1, 'notarray'],
    ['test', 0, 1, [], 'x'], ['test', 0, 1, [], { tuples: 1 }], ['test', 'pk', 1, [], { timeout: 'x' }],
    late('test', 'pk', [fn], []), late('test', 'pk', [1], [['=', 1, fn]]),
  ]],
  ['upsert', REQUESTS, [
    [true, [1], []], ['test', 5, []], ['test', [1], 'x'], ['test', [1]], ['test', [1], [], 5], ['test', [1], [], { timeout: -1 }],
    late('test', { a: 1 }, []), late('test', [1], [['+', 2, fn]]),
  ]],
  ['delete', REQUESTS, [
    [true, 0, 1], ['test', [], 1], ['test', 0.5, [1]], ['test', 0, 1, 'x'], ['test', 0, 1, { tuples: 'rows' }],
    ['test', 'pk', 1, { timeout: Infinity }], late('test', 'pk', [fn]),
  ]],
  ['execute', REQUESTS, [
    [], [5], [null], ['SELECT 1', 5], ['SELECT 1', null], ['SELECT 1', new Map([['a', 1]])], ['SELECT 1', [], 'x'],
    ['SELECT 1', [], { tuples: 'rows' }], ['SELECT 1', [], { timeout: 'x' }], late('SELECT ?', [fn]),
  ]],
  ['prepare', REQUESTS, [[5], [{ sql: 'SELECT 1' }], ['SELECT 1', 5], ['SELECT 1', { timeout: -1 }]]],
  // A Stream's transaction; the Connection's begin() makes a Stream and begins on it.
  ['begin', ['conn', 'stream'], [
    [5], [{ isolation: 'serializable' }], [{ isolation: 4 }], [{ txnTimeout: -1 }], [{ txnTimeout: 0 }], [{ txnTimeout: '5' }],
    ...badTimeouts.map((o) => [o]),
  ]],
  ['commit', ['stream'], [[5], [{ timeout: -1 }]]],
  ['rollback', ['stream'], [['x'], [{ signal: 1 }]]],
  ['transaction', ['conn', ...POOLS], [[], [5], [fn, 5], [fn, { retries: -1 }], [fn, { retries: 1.5 }], [fn, { isolation: 'x' }], [fn, { timeout: 'x' }]]],
  ['watchOnce', ['conn'], [[], [''], [42], ['k', 5], ['k', { timeout: -1 }]]],
  // Bad options leave the connection open (checked at the end).
  ['close', ['conn'], [[5], [{ timeout: 'x' }], [{ timeout: -1 }]]],
  ['stream', POOLS, [[5], [{ timeout: 'x' }]]],
  ['add', POOLS, [[], [''], [42]]],
  ['remove', POOLS, [[], [42]]],
  ['execute', ['statement'], [[5], [new Map()], [[], 'x'], [[], { tuples: 'rows' }], [[], { timeout: -1 }], late([fn])]],
  ['unprepare', ['statement'], [[5], [{ timeout: 'x' }]]],
  // The pool's own: a bad mode, its other arguments good.
  ...Object.entries({
    ping: [], call: ['echo', []], eval: ['return 1', []], select: ['test', 'pk', []], insert: ['test', [1]], replace: ['test', [1]],
    update: ['test', 'pk', [1], []], upsert: ['test', [1], []], delete: ['test', 'pk', [1]], execute: ['SELECT 1', []],
    prepare: ['SELECT 1'], stream: [], transaction: [fn],
  }).map(([method, args]) => [method, POOLS, [[...args, { mode: 'master' }], [...args, { mode: 5 }]]]),
]

let server
let conn // right after connect, then stale
let stream // of conn
let statement // prepared on conn
let pool // over the server
let poolConn // its instance's connection
let empty // a pool whose only instance was removed: requests wait for one

before(async () => {
  server = await startTarantool()
  const uri = `tester:secret@127.0.0.1:${server.port}`
  conn = await connect(uri)
  stream = conn.stream()
  statement = await conn.prepare('SELECT 1')
  pool = await connectPool([uri])
  poolConn = (await pool.stream({ mode: 'any' })).connection
  empty = await connectPool([uri, `127.0.0.1:${await freePort()}`], { checkInterval: 60000 })
  await empty.remove(uri)
}, TIMEOUT)

after(async () => {
  await Promise.all([conn?.close(), pool?.close(), empty?.close()])
  await stopAll()
})

const show = (args) => util.inspect(args, { breakLength: Infinity })

/**
 * `invoke()`, checked to return a promise (a Call for call/eval) rather than throw, and to reject
 * with a TypeError or RangeError (a Call's pushes too); 'Name: message' of that error.
 */
async function badArgument(what, method, invoke) {
  let result
  try {
    result = invoke()
  } catch (err) {
    assert.fail(`${what} threw (${err.name}: ${err.message}) rather than return a rejected promise`)
  }
  assert.ok(result instanceof Promise, `${what} returned ${util.inspect(result)}`)
  const err = await withTimeout(rejection(result), 2000, what)
  const text = `${err.name}: ${err.message}`
  assert.ok(err instanceof TypeError || err instanceof RangeError, `${what}: ${text}`)
  if (method === 'call' || method === 'eval') {
    assert.ok(result instanceof Call, `${what}: not a Call`)
    const viaPushes = await rejection(() => invoke().pushes().next())
    assert.equal(`${viaPushes.name}: ${viaPushes.message}`, text, `${what}: pushes().next()`)
    const viaIteration = await rejection(async () => {
      for await (const push of invoke()) assert.fail(`${what}: a push ${push}`)
    })
    assert.equal(`${viaIteration.name}: ${viaIteration.message}`, text, `${what}: for await`)
  }
  return text
}

/**
 * Runs every case of TABLE on each of its paths in `paths`, after `ready(path)`; Map(case →
 * Map(path → error)), each case's errors checked to be the same on all these paths.
 */
async function runTable(paths, phase, ready) {
  const targets = { conn, stream, pool, 'empty pool': empty, statement }
  const results = new Map()
  for (const [method, on, cases] of TABLE) {
    for (const args of cases) {
      const name = `${method}(${show(args).slice(2, -2)})`
      const errors = new Map()
      for (const path of on) {
        if (!paths.includes(path) || (path === 'empty pool' && args.late)) continue
        const target = targets[path]
        await ready(path)
        errors.set(path, await badArgument(`${path}.${name} [${phase}]`, method, () => target[method](...args)))
      }
      if (errors.size === 0) continue
      const distinct = new Set(errors.values())
      assert.equal(distinct.size, 1, `${name} [${phase}] fails differently by path: ${show(Object.fromEntries(errors))}`)
      results.set(`${on.join(',')} ${name}`, errors)
    }
  }
  return results
}

const fresh = (c) => c.schema.version === c.transport.schemaVersion
// The connection whose name cache a path uses.
const cacheOf = (path) => (path === 'pool' ? poolConn : conn)

let first

test('right after connect: every bad argument rejects, the same on every path', TIMEOUT, async () => {
  first = await runTable([...REQUESTS, 'statement'], 'fresh', (path) => assert.ok(fresh(cacheOf(path)), `${path}: the name cache is fresh`))
  assert.ok(first.size > 150, `${first.size} cases`)
})

test('after DDL (the name cache stale): the same rejections as when it was fresh', TIMEOUT, async () => {
  assert.ok(first !== undefined, 'the first test ran')
  let n = 0
  // Made stale again before each case: one found after routing refetched the names.
  const stale = await runTable(['conn', 'stream', 'pool', 'statement'], 'stale', async (path) => {
    if (fresh(cacheOf(path))) await (path === 'pool' ? pool : conn).eval(`box.schema.space.create('stale${++n}')`)
    assert.ok(!fresh(cacheOf(path)), `${path}: the name cache is stale`)
  })
  for (const [name, errors] of stale) {
    const before = first.get(name)
    for (const [path, error] of errors) assert.equal(error, before.get(path), `${path}.${name}: stale vs fresh`)
  }
  // Good requests by name refetch and succeed: the connections were left usable.
  assert.deepEqual(await conn.select('test', 'pk', [1]), [[1, 'hello', 42]])
  assert.deepEqual(await pool.select('test', 'pk', [1]), [[1, 'hello', 42]])
  assert.equal(conn.state, 'connected')
})

test('a bad argument to commit() or rollback() leaves the transaction open', { ...TIMEOUT, skip: !atLeast(2, 10) && 'transactions: 2.10+' }, async () => {
  const tx = await conn.begin()
  await badArgument('tx.commit(5)', 'commit', () => tx.commit(5))
  await badArgument("tx.rollback('x')", 'rollback', () => tx.rollback('x'))
  assert.equal(tx.inTransaction, true)
  await tx.rollback()
  assert.equal(tx.inTransaction, false)
})

test('a closed pool: add() rejects', TIMEOUT, async () => {
  const closed = await connectPool([`127.0.0.1:${server.port}`])
  await closed.close()
  let result
  assert.doesNotThrow(() => { result = closed.add(`127.0.0.1:${server.port}`) })
  const err = await rejection(result)
  assert.ok(err instanceof ConnectionError && err.code === 'ERR_CONNECTION_CLOSED', `${err.name}: ${err.message}`)
})
