'use strict'

// The high-level client against a real Tarantool: connecting (URI, options, unix socket),
// every request method, tuples as objects, the schema cache, SQL, errors, deadlines and
// abort signals, closing, and argument checks. SQL names and full scans follow the server's
// version (see sqlName() and seqScan() in helpers/tarantool.js).

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const {
  connect, Connection, Call, PreparedStatement, Transport,
  KharonError, ConnectionError, TimeoutError, TarantoolError, AbortError,
} = require('..')
const { startTarantool, stopAll, freePort, serverVersion, sqlName, seqScan } = require('./helpers/tarantool')
const { rejection } = require('./helpers/wait')

const HOST = '127.0.0.1'
const TIMEOUT = { timeout: 60000 } // for each suite and hook: nothing here may hang the run
let server
let conn // as 'tester' (may create spaces)

const testerUri = () => `tester:secret@${HOST}:${server.port}`
const guestUri = () => `${HOST}:${server.port}`

before(async () => {
  server = await startTarantool()
  conn = await connect(testerUri())
}, TIMEOUT)

after(async () => {
  if (conn) await conn.close()
  await stopAll()
}, TIMEOUT)

/**
 * Bad arguments fail, thrown or as a rejection, following Node's convention: a TypeError for
 * a value of the wrong type, a RangeError for a number out of range or not an integer.
 */
async function failsWith(Cls, fn, what) {
  const err = await rejection(async () => fn())
  assert.ok(err instanceof Cls, `${what}: expected ${Cls.name}, got ${err && err.name}: ${err && err.message}`)
}

// Servers that take names in requests (3.x) get them as they are: no schema lookup, so no
// refetch after DDL; older ones resolve names through the schema.
const namesOnWire = () => conn.protocol.features.includes('space_and_index_names')

const failsWithTypeError = (fn, what) => failsWith(TypeError, fn, what)
const failsWithRangeError = (fn, what) => failsWith(RangeError, fn, what)

async function whoami(c) {
  return (await c.eval('return box.session.user()'))[0]
}

// ---------------------------------------------------------------------------------------------
// connect()

describe('connect()', TIMEOUT, () => {
  test("'user:pass@host:port' authenticates as that user", async () => {
    const c = await connect(testerUri())
    try {
      assert.ok(c instanceof Connection)
      assert.equal(c.closed, false)
      assert.equal(await whoami(c), 'tester')
    } finally {
      await c.close()
    }
  })

  test("'host:port' connects as guest", async () => {
    const c = await connect(guestUri())
    try {
      assert.equal(await whoami(c), 'guest')
      assert.deepEqual(await c.select('test', 'pk', [1]), [[1, 'hello', 42]])
    } finally {
      await c.close()
    }
  })

  test("a 'tarantool://' prefix is accepted", async () => {
    const c = await connect(`tarantool://${testerUri()}`)
    try {
      assert.equal(await whoami(c), 'tester')
    } finally {
      await c.close()
    }
  })

  test('an options object, with client options in the second argument', async () => {
    const c = await connect({ host: HOST, port: server.port, user: 'tester', password: 'secret' }, { timeout: 5000 })
    try {
      assert.equal(await whoami(c), 'tester')
      assert.deepEqual(await c.call('echo', [1, 'two']), [1, 'two'])
    } finally {
      await c.close()
    }
  })

  test('an options object with the client options merged in', async () => {
    const c = await connect({ host: HOST, port: String(server.port), tuples: 'arrays', connectTimeout: 5000 })
    try {
      assert.equal(await whoami(c), 'guest')
      assert.deepEqual(await c.select('test', 0, [1]), [[1, 'hello', 42]])
    } finally {
      await c.close()
    }
  })

  test('a wrong password rejects with TarantoolError and does not reveal the password', async () => {
    const err = await rejection(connect(`tester:hunter2@${HOST}:${server.port}`))
    assert.ok(err instanceof TarantoolError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ER_PASSWORD_MISMATCH')
    assert.equal(err.errcode, 47)
    assert.ok(!err.message.includes('hunter2'))
  })

  test('a closed port rejects with ConnectionError ECONNREFUSED', async () => {
    const port = await freePort()
    const err = await rejection(connect(`${HOST}:${port}`))
    assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ECONNREFUSED')
  })

  test('a bad URI or target is a TypeError', async () => {
    for (const uri of ['', 'not a uri', 'host:', '127.0.0.1:abc', 'tester:secret@', ':3301x']) {
      await failsWithTypeError(() => connect(uri), `connect(${JSON.stringify(uri)})`)
    }
    // connect(3301) takes a port since issue 26 (first-connect.test.js); a port out of range does not.
    await failsWithRangeError(() => connect(70000), 'connect(70000)')
    await failsWithTypeError(() => connect(true), 'connect(true)')
    await failsWithTypeError(() => connect(null), 'connect(null)')
    await failsWithTypeError(() => connect(), 'connect()')
    await failsWithTypeError(() => connect(guestUri(), null), 'options null')
    await failsWithTypeError(() => connect(guestUri(), 'x'), 'options string')
    await failsWithTypeError(() => connect(guestUri(), { tuples: 'rows' }), 'tuples: rows')
    await failsWithRangeError(() => connect(guestUri(), { timeout: -1 }), 'timeout: -1')
    await failsWithTypeError(() => connect(guestUri(), { timeout: '5' }), "timeout: '5'")
  })

  test('the TypeError for an unparsable URI hides the password', async () => {
    for (const password of ['secret', 'top/secret', 'a:b:c']) {
      const err = await rejection(connect(`tester:${password}@no-port-here`))
      assert.ok(err instanceof TypeError)
      assert.ok(!err.message.includes(password), `password ${JSON.stringify(password)} leaked: ${err.message}`)
    }
  })

  describe('over a unix socket', () => {
    let unixServer
    before(async () => {
      unixServer = await startTarantool({ unix: true })
    }, TIMEOUT)
    after(async () => {
      if (unixServer) await unixServer.stop()
    }, TIMEOUT)

    test("'unix/:/path' connects as guest", async () => {
      const c = await connect(`unix/:${unixServer.socketPath}`)
      try {
        assert.equal(await whoami(c), 'guest')
        assert.deepEqual(await c.select('test', 'pk', 1), [[1, 'hello', 42]])
      } finally {
        await c.close()
      }
    })

    test("'user:pass@unix/:/path' authenticates", async () => {
      const c = await connect(`tester:secret@unix/:${unixServer.socketPath}`)
      try {
        assert.equal(await whoami(c), 'tester')
      } finally {
        await c.close()
      }
    })

    test('{ path } in an options object', async () => {
      const c = await connect({ path: unixServer.socketPath, user: 'tester', password: 'secret' })
      try {
        assert.equal(await c.ping(), undefined)
        assert.equal(await whoami(c), 'tester')
      } finally {
        await c.close()
      }
    })
  })
})

// ---------------------------------------------------------------------------------------------
// requests

describe('ping, call, eval', TIMEOUT, () => {
  test('ping resolves to undefined', async () => {
    assert.equal(await conn.ping(), undefined)
    assert.equal(await conn.ping({ timeout: 5000 }), undefined)
  })

  test('call returns a Call that resolves to the array of return values', async () => {
    const c = conn.call('echo', [1, 'a', [2, 3], { k: 'v' }])
    assert.ok(c instanceof Call)
    assert.deepEqual(await c, [1, 'a', [2, 3], { k: 'v' }])
    assert.deepEqual(await conn.call('echo'), [])
    assert.deepEqual(await conn.call('sleep_then', [0, 'v']), ['v'])
    assert.deepEqual(await conn.call('pushes', [0]), ['done'])
  })

  test('a Call is a native promise; a failure nobody awaits yet is not an unhandled rejection', async () => {
    const unhandled = []
    const record = (reason) => unhandled.push(reason)
    process.on('unhandledRejection', record)
    try {
      const c = conn.call('echo', [1])
      assert.ok(c instanceof Promise)
      assert.equal(Object.getPrototypeOf(c), Promise.prototype)
      assert.ok(c.then(() => 1) instanceof Promise)
      assert.equal(await c, await c.then((v) => v))
      assert.ok(!({} instanceof Call) && !(Promise.resolve() instanceof Call) && !(null instanceof Call))
      // Fails while the caller awaits something else; awaited afterwards, it still rejects.
      const late = conn.call('no_such_function')
      const ignored = conn.eval('error("nobody looks")')
      assert.deepEqual(await conn.call('sleep_then', [0.05, 'later']), ['later'])
      await new Promise((resolve) => setTimeout(resolve, 20))
      const err = await rejection(late)
      assert.ok(err instanceof TarantoolError)
      assert.equal(err.code, 'ER_NO_SUCH_PROC')
      assert.ok(ignored instanceof Call)
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', record)
    }
  })

  test('eval returns the array of return values', async () => {
    assert.deepEqual(await conn.eval('return 1, 2'), [1, 2])
    assert.deepEqual(await conn.eval('return ...', [3, 'x', null]), [3, 'x', null])
    assert.deepEqual(await conn.eval('local a, b = ... return a + b', [40, 2]), [42])
    assert.deepEqual(await conn.eval(''), [])
  })

  test('call and eval deliver decoded pushes', async () => {
    const call = conn.call('pushes', [3])
    const got = []
    for await (const msg of call) got.push(msg)
    assert.deepEqual(got, [1, 2, 3])
    assert.deepEqual(await call, ['done'])

    const seen = []
    const ctx = { tag: 'ctx' }
    const values = await conn.eval('box.session.push(...) return 7', ['p'], {
      onPush: (msg, c) => seen.push([msg, c]),
      onPushCtx: ctx,
    })
    assert.deepEqual(values, [7])
    assert.equal(seen.length, 1)
    assert.equal(seen[0][0], 'p')
    assert.equal(seen[0][1], ctx)
  })
})

describe('select', TIMEOUT, () => {
  let numsId
  before(async () => {
    await conn.eval(`
      local s = box.schema.space.create('nums')
      s:create_index('pk', {type = 'tree', parts = {1, 'unsigned'}})
      s:create_index('by_mod', {type = 'tree', unique = false, parts = {3, 'unsigned', 1, 'unsigned'}})
      for i = 1, 10 do s:insert{i, 'v' .. i, i % 3} end`)
    numsId = (await conn.eval('return box.space.nums.id'))[0]
  }, TIMEOUT)

  const ids = (rows) => rows.map((r) => r[0])

  test('by numeric space and index ids', async () => {
    assert.deepEqual(await conn.select(numsId, 0, [3]), [[3, 'v3', 0]])
    assert.deepEqual(ids(await conn.select(numsId, 1, [1])), [1, 4, 7, 10])
  })

  test('by space and index names; a scalar key is a one-part key', async () => {
    assert.deepEqual(await conn.select('nums', 'pk', [3]), [[3, 'v3', 0]])
    assert.deepEqual(await conn.select('nums', 'pk', 3), [[3, 'v3', 0]])
    assert.deepEqual(ids(await conn.select('nums', 'by_mod', [0])), [3, 6, 9])
    assert.deepEqual(ids(await conn.select('nums', 'by_mod', 2)), [2, 5, 8])
    assert.deepEqual(await conn.select('nums', 'pk', [99]), [])
  })

  test('defaults: primary index, empty key (all tuples)', async () => {
    assert.deepEqual(ids(await conn.select('nums')), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert.deepEqual(await conn.select('test'), [[1, 'hello', 42]])
  })

  test('limit and offset', async () => {
    assert.deepEqual(ids(await conn.select('nums', 'pk', [], { iterator: 'ALL', limit: 3, offset: 2 })), [3, 4, 5])
    assert.deepEqual(ids(await conn.select('nums', 'pk', [], { limit: 2 })), [1, 2])
    assert.deepEqual(await conn.select('nums', 'pk', [], { offset: 10 }), [])
    assert.deepEqual(await conn.select('nums', 'pk', [], { limit: 0 }), [])
  })

  test('iterators by name (any case) and by number', async () => {
    assert.deepEqual(ids(await conn.select('nums', 'pk', [8], { iterator: 'GE' })), [8, 9, 10])
    assert.deepEqual(ids(await conn.select('nums', 'pk', [8], { iterator: 'gt' })), [9, 10])
    assert.deepEqual(ids(await conn.select('nums', 'pk', [3], { iterator: 'LT' })), [2, 1])
    assert.deepEqual(ids(await conn.select('nums', 'pk', [3], { iterator: 'LE' })), [3, 2, 1])
    assert.deepEqual(ids(await conn.select('nums', 'pk', [5], { iterator: 'EQ' })), [5])
    assert.equal((await conn.select('nums', 'pk', [], { iterator: 'ALL' })).length, 10)
    assert.deepEqual(ids(await conn.select('nums', 'pk', [8], { iterator: 5 })), [8, 9, 10]) // GE
    assert.deepEqual(ids(await conn.select('nums', 'pk', [3], { iterator: 3 })), [2, 1]) // LT
    assert.deepEqual(ids(await conn.select('nums', 'by_mod', [1], { iterator: 'REQ' })), [10, 7, 4, 1])
  })

  test('a bad iterator, limit or offset is rejected before anything is sent', async () => {
    const before = conn.transport.pending
    for (const iterator of ['NOPE', 'ge ', '', null, {}, true]) {
      await assert.rejects(() => conn.select('nums', 'pk', [], { iterator }), TypeError, `iterator ${String(iterator)}`)
    }
    await assert.rejects(() => conn.select('nums', 'pk', [], { limit: -1 }), RangeError)
    await assert.rejects(() => conn.select('nums', 'pk', [], { limit: 2 ** 32 }), RangeError)
    await assert.rejects(() => conn.select('nums', 'pk', [], { offset: 1.5 }), RangeError)
    await assert.rejects(() => conn.select('nums', 'pk', [], { offset: 'x' }), TypeError)
    await assert.rejects(() => conn.select('nums', 'pk', [], { limit: '10' }), TypeError)
    await assert.rejects(() => conn.select('nums', 'pk', [], { tuples: 'rows' }), TypeError)
    assert.equal(conn.transport.pending, before)
  })

  test('an iterator number outside 0..11 is a RangeError', async () => {
    for (const iterator of [12, -1, 1.5, NaN]) {
      await assert.rejects(() => conn.select('nums', 'pk', [], { iterator }), RangeError, `iterator ${iterator}`)
    }
  })
})

describe('insert, replace, update, upsert, delete', TIMEOUT, () => {
  let id
  before(async () => {
    await conn.eval("box.schema.space.create('rw'):create_index('pk')")
    id = (await conn.eval('return box.space.rw.id'))[0]
  }, TIMEOUT)

  test('insert returns the inserted tuple; a duplicate is ER_TUPLE_FOUND', async () => {
    assert.deepEqual(await conn.insert('rw', [1, 'a', 10]), [1, 'a', 10])
    assert.deepEqual(await conn.insert(id, [2, 'b']), [2, 'b'])
    const err = await rejection(conn.insert('rw', [1, 'again']))
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_TUPLE_FOUND')
    assert.equal(err.errcode, 3)
    assert.deepEqual(await conn.select('rw', 'pk', [1]), [[1, 'a', 10]])
  })

  test('replace returns the new tuple', async () => {
    assert.deepEqual(await conn.replace('rw', [1, 'A', 11]), [1, 'A', 11])
    assert.deepEqual(await conn.replace(id, [3, 'c']), [3, 'c'])
    assert.deepEqual(await conn.select('rw', 'pk', [1]), [[1, 'A', 11]])
  })

  test('update applies 0-based field operations and returns the new tuple, or null', async () => {
    assert.deepEqual(await conn.update('rw', 'pk', [1], [['=', 1, 'Z'], ['+', 2, 5]]), [1, 'Z', 16])
    assert.deepEqual(await conn.update(id, 0, 1, [['-', 2, 6]]), [1, 'Z', 10])
    assert.equal(await conn.update('rw', 'pk', [404], [['=', 1, 'x']]), null)
    assert.deepEqual(await conn.select('rw', 'pk', [1]), [[1, 'Z', 10]])
  })

  test('upsert inserts, then updates; it resolves to undefined', async () => {
    assert.equal(await conn.upsert('rw', [7, 'new', 1], [['+', 2, 1]]), undefined)
    assert.deepEqual(await conn.select('rw', 'pk', [7]), [[7, 'new', 1]])
    assert.equal(await conn.upsert(id, [7, 'ignored', 100], [['+', 2, 1]]), undefined)
    assert.deepEqual(await conn.select('rw', 'pk', [7]), [[7, 'new', 2]])
  })

  test('delete returns the deleted tuple, or null', async () => {
    assert.deepEqual(await conn.delete('rw', 'pk', [7]), [7, 'new', 2])
    assert.equal(await conn.delete('rw', 'pk', [7]), null)
    assert.deepEqual(await conn.delete(id, 0, 3), [3, 'c'])
    assert.deepEqual(await conn.select('rw', 'pk', [3]), [])
  })
})

// ---------------------------------------------------------------------------------------------
// tuples as objects

describe("tuples: 'objects'", TIMEOUT, () => {
  let objConn
  let peopleId
  before(async () => {
    await conn.eval(`
      local s = box.schema.space.create('people', {format = {{name = 'id', type = 'unsigned'}, {name = 'name', type = 'string'}}})
      s:create_index('pk')`)
    peopleId = (await conn.eval('return box.space.people.id'))[0]
    objConn = await connect(testerUri(), { tuples: 'objects' })
  }, TIMEOUT)
  after(async () => {
    if (objConn) await objConn.close()
  }, TIMEOUT)

  test('the schema knows the field names', () => {
    const space = objConn.schema.byName.get('people')
    assert.ok(space)
    assert.equal(space.id, peopleId)
    assert.deepEqual(space.fieldNames, ['id', 'name'])
    assert.equal(space.indexes.get('pk'), 0)
    assert.equal(objConn.schema.byId.get(peopleId), space)
  })

  test('insert accepts an object tuple and returns an object', async () => {
    assert.deepEqual(await objConn.insert('people', { id: 1, name: 'Ann' }), { id: 1, name: 'Ann' })
    assert.deepEqual(await conn.select('people', 'pk', [1]), [[1, 'Ann']])
  })

  test('select returns objects; per-call tuples overrides the connection', async () => {
    assert.deepEqual(await objConn.select('people', 'pk', [1]), [{ id: 1, name: 'Ann' }])
    assert.deepEqual(await objConn.select('people', 'pk', [1], { tuples: 'arrays' }), [[1, 'Ann']])
    assert.deepEqual(await conn.select('people', 'pk', [1], { tuples: 'objects' }), [{ id: 1, name: 'Ann' }])
  })

  test('an arrays connection also accepts object tuples', async () => {
    assert.deepEqual(await conn.insert('people', { name: 'Bob', id: 2 }), [2, 'Bob'])
    assert.deepEqual(await conn.replace('people', { id: 2, name: 'Bobby' }), [2, 'Bobby'])
  })

  test('replace, update (by field name), upsert and delete in objects mode', async () => {
    assert.deepEqual(await objConn.replace('people', { id: 3, name: 'Cid' }), { id: 3, name: 'Cid' })
    assert.deepEqual(await objConn.update('people', 'pk', [3], [['=', 'name', 'Cy']]), { id: 3, name: 'Cy' })
    assert.deepEqual(await objConn.update('people', 'pk', [3], [['=', 1, 'Cyd']]), { id: 3, name: 'Cyd' })
    assert.equal(await objConn.upsert('people', { id: 4, name: 'Dee' }, [['=', 'name', 'x']]), undefined)
    assert.deepEqual(await objConn.select('people', 'pk', [4]), [{ id: 4, name: 'Dee' }])
    assert.deepEqual(await objConn.delete('people', 'pk', [4]), { id: 4, name: 'Dee' })
    assert.equal(await objConn.delete('people', 'pk', [4]), null)
  })

  test('fields beyond the format keep their position as the key', async () => {
    await conn.insert('people', [5, 'Eve', 'extra'])
    assert.deepEqual(await objConn.select('people', 'pk', [5]), [{ id: 5, name: 'Eve', 2: 'extra' }])
  })

  test('unknown fields, or an object for a space without a format, are TypeErrors', async () => {
    await failsWithTypeError(() => objConn.insert('people', { id: 6, name: 'F', age: 3 }), 'unknown field')
    await failsWithTypeError(() => objConn.insert('test', { id: 6 }), 'space without format')
    assert.deepEqual(await objConn.select('people', 'pk', [6]), [])
  })

  test('SQL rows become objects keyed by column name', async () => {
    // the names as the server reports them: A, B before 3.0; a, b from 3.0 on
    const r = await objConn.execute('SELECT 1 AS a, \'x\' AS b')
    assert.deepEqual(r.rows, [{ [sqlName('a')]: 1, [sqlName('b')]: 'x' }])
    const r2 = await conn.execute('SELECT 1 AS a', [], { tuples: 'objects' })
    assert.deepEqual(r2.rows, [{ [sqlName('a')]: 1 }])
  })

  test('a space created after connect takes object tuples by numeric id too', async () => {
    await objConn.eval(`
      local s = box.schema.space.create('late_fmt', {format = {{name = 'k', type = 'unsigned'}, {name = 'v', type = 'string'}}})
      s:create_index('pk')`)
    const lateId = (await objConn.eval('return box.space.late_fmt.id'))[0]
    // The response to the DDL already carried the new schema version, so the client knows the
    // format it holds is stale.
    assert.deepEqual(await objConn.insert(lateId, { k: 1, v: 'one' }), { k: 1, v: 'one' })
    assert.deepEqual(await objConn.select(lateId, 0, [1]), [{ k: 1, v: 'one' }])
  })
})

// ---------------------------------------------------------------------------------------------
// the schema

describe('schema', TIMEOUT, () => {
  test('1000 concurrent inserts by name on a fresh connection make one schema fetch', async () => {
    await conn.eval("box.schema.space.create('bulk'):create_index('pk')")
    const fresh = await connect(testerUri())
    try {
      assert.equal(fresh.schema.fetches, 1)
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => fresh.insert('bulk', [i + 1, `v${i + 1}`])),
      )
      assert.equal(fresh.schema.fetches, 1)
      results.forEach((r, i) => assert.deepEqual(r, [i + 1, `v${i + 1}`]))
      const rows = await fresh.select('bulk', 'pk', [], { iterator: 'ALL' })
      assert.equal(rows.length, 1000)
      assert.deepEqual(rows.map((r) => r[0]), Array.from({ length: 1000 }, (_, i) => i + 1))
      assert.equal((await conn.eval('return box.space.bulk:count()'))[0], 1000)
      assert.equal(fresh.schema.fetches, 1)
    } finally {
      await fresh.close()
    }
  })

  test('after DDL elsewhere, a burst of requests by name shares one refetch (none with names on the wire)', async () => {
    const fresh = await connect(testerUri())
    try {
      assert.equal(fresh.schema.fetches, 1)
      await conn.eval("box.schema.space.create('burst'):create_index('pk') box.space.burst:insert{1, 'b'}")
      await fresh.ping() // its response carries the new schema version
      const results = await Promise.all(Array.from({ length: 200 }, () => fresh.select('burst', 'pk', [1])))
      results.forEach((r) => assert.deepEqual(r, [[1, 'b']]))
      if (namesOnWire()) assert.equal(fresh.schema.fetches, 1)
      else {
        assert.equal(fresh.schema.fetches, 2)
        assert.equal(fresh.schema.version, fresh.transport.schemaVersion)
      }
    } finally {
      await fresh.close()
    }
  })

  test('DDL, then the new name works (the schema is fetched again unless names go on the wire)', async () => {
    const fetches = conn.schema.fetches
    const version = conn.schema.version
    await conn.eval("box.schema.space.create('ddl_new'):create_index('primary')")
    assert.deepEqual(await conn.insert('ddl_new', [1, 'x']), [1, 'x'])
    assert.deepEqual(await conn.select('ddl_new', 'primary', [1]), [[1, 'x']])
    if (namesOnWire()) {
      assert.equal(conn.schema.fetches, fetches)
      assert.equal(conn.schema.byName.has('ddl_new'), false, 'nothing needed the schema')
    } else {
      assert.equal(conn.schema.fetches, fetches + 1)
      assert.ok(conn.schema.version > version)
      assert.ok(conn.schema.byName.has('ddl_new'))
      assert.equal(conn.schema.byName.get('ddl_new').indexes.get('primary'), 0)
    }
  })

  test('names of spaces created with SQL resolve too', async () => {
    await conn.execute('CREATE TABLE sqlmade (id INTEGER PRIMARY KEY, v TEXT)')
    await conn.execute("INSERT INTO sqlmade VALUES (1, 'one')")
    // the space is SQLMADE before 3.0, sqlmade from 3.0 on
    assert.deepEqual(await conn.select(sqlName('sqlmade')), [[1, 'one']])
  })

  test('the schema maps the test space', async () => {
    const [id] = await conn.eval('return box.space.test.id')
    const space = conn.schema.byName.get('test')
    assert.equal(space.id, id)
    assert.equal(space.name, 'test')
    assert.equal(space.indexes.get('pk'), 0)
    assert.ok(conn.schema.byName.has('_space'))
  })

  test("an unknown space name is TarantoolError 'ER_NO_SUCH_SPACE'", async () => {
    const fetches = conn.schema.fetches
    for (const p of [
      () => conn.select('no_such_space'),
      () => conn.insert('no_such_space', [1]),
      () => conn.delete('no_such_space', 0, [1]),
    ]) {
      const err = await rejection(p)
      assert.ok(err instanceof TarantoolError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ER_NO_SUCH_SPACE')
      assert.equal(err.errcode, 36)
      assert.match(err.message, /no_such_space/)
    }
    // an unknown name is looked up again before it is refused, unless the server resolves it
    if (namesOnWire()) assert.equal(conn.schema.fetches, fetches)
    else assert.ok(conn.schema.fetches > fetches)
    // the server says the same for an unknown id
    const err = await rejection(conn.select(99999))
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_NO_SUCH_SPACE')
  })

  test("an unknown index name is TarantoolError 'ER_NO_SUCH_INDEX_NAME'", async () => {
    for (const p of [
      () => conn.select('test', 'no_such_index'),
      () => conn.update('test', 'no_such_index', [1], [['=', 1, 'x']]),
      () => conn.delete('test', 'no_such_index', [1]),
    ]) {
      const err = await rejection(p)
      assert.ok(err instanceof TarantoolError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ER_NO_SUCH_INDEX_NAME')
      assert.equal(err.errcode, 148)
      assert.match(err.message, /no_such_index/)
    }
    assert.deepEqual(await conn.select('test', 'pk', [1]), [[1, 'hello', 42]])
  })

  test('a dropped space is unknown by name', async () => {
    await conn.eval("box.schema.space.create('doomed'):create_index('pk')")
    assert.deepEqual(await conn.insert('doomed', [1]), [1])
    await conn.eval('box.space.doomed:drop()')
    const err = await rejection(conn.insert('doomed', [2]))
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_NO_SUCH_SPACE')
    assert.equal(conn.schema.byName.has('doomed'), false)
  })
})

// ---------------------------------------------------------------------------------------------
// SQL

// Column names as the server reports them (ID before 3.0, id from 3.0 on); a WHERE on the
// unindexed column v is a full scan, which 3.0 runs only with SEQSCAN.
describe('SQL', TIMEOUT, () => {
  before(async () => {
    await conn.execute('CREATE TABLE kt (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)')
  }, TIMEOUT)

  test('SELECT returns { metadata, rows } without a rowCount', async () => {
    const r = await conn.execute("SELECT 1 AS a, 'x' AS b")
    assert.deepEqual(r.metadata, [{ name: sqlName('a'), type: 'integer' }, { name: sqlName('b'), type: 'string' }])
    assert.deepEqual(r.rows, [[1, 'x']])
    assert.equal(r.rowCount, undefined)
  })

  test('CREATE TABLE and INSERT report rowCount and autoincrementIds', async () => {
    const created = await conn.execute('CREATE TABLE kt2 (id INTEGER PRIMARY KEY)')
    assert.equal(created.rowCount, 1)
    assert.deepEqual(created.rows, [])
    const ins = await conn.execute('INSERT INTO kt (v) VALUES (?), (?)', ['a', 'b'])
    assert.equal(ins.rowCount, 2)
    assert.deepEqual(ins.autoincrementIds, [1, 2])
    const explicit = await conn.execute("INSERT INTO kt (id, v) VALUES (10, 'c')")
    assert.equal(explicit.rowCount, 1)
    assert.equal(explicit.autoincrementIds, undefined)
    const upd = await conn.execute("UPDATE kt SET v = 'C' WHERE id = 10")
    assert.equal(upd.rowCount, 1)
  })

  test('parameters by position (array) and by name (object)', async () => {
    const byPos = await conn.execute('SELECT id, v FROM kt WHERE id = ? AND v = ?', [2, 'b'])
    assert.deepEqual(byPos.rows, [[2, 'b']])
    const byName = await conn.execute(`SELECT id FROM ${seqScan('kt')} WHERE v = :v OR id = :id ORDER BY id`, { v: 'a', id: 10 })
    assert.deepEqual(byName.rows, [[1], [10]])
    const prefixed = await conn.execute(`SELECT id FROM ${seqScan('kt')} WHERE v = :v`, { ':v': 'b' })
    assert.deepEqual(prefixed.rows, [[2]])
    assert.deepEqual((await conn.execute('SELECT ? AS n', [null])).rows, [[null]])
  })

  test('an SQL error is a TarantoolError', async () => {
    const err = await rejection(conn.execute('SELECT * FROM no_such_table'))
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_NO_SUCH_SPACE')
    const syntax = await rejection(conn.execute('SELEC 1'))
    assert.ok(syntax instanceof TarantoolError)
    assert.match(syntax.code, /^ER_/)
  })

  test('prepare → execute(params) → unprepare; then the statement is gone', async () => {
    const stmt = await conn.prepare('SELECT id, v FROM kt WHERE id = ?')
    assert.ok(stmt instanceof PreparedStatement)
    assert.equal(typeof stmt.id, 'number')
    assert.equal(stmt.bindCount, 1)
    assert.equal(stmt.params.length, 1)
    assert.deepEqual(stmt.metadata, [{ name: sqlName('id'), type: 'integer' }, { name: sqlName('v'), type: 'string' }])
    assert.deepEqual((await stmt.execute([1])).rows, [[1, 'a']])
    assert.deepEqual((await stmt.execute([2])).rows, [[2, 'b']])
    assert.deepEqual((await stmt.execute([2], { tuples: 'objects' })).rows, [{ [sqlName('id')]: 2, [sqlName('v')]: 'b' }])
    assert.equal(await stmt.unprepare(), undefined)
    const err = await rejection(stmt.execute([1]))
    assert.ok(err instanceof TarantoolError, `${err.name}: ${err.message}`)
    assert.equal(err.code, 'ER_WRONG_QUERY_ID')
  })

  test('a prepared statement with named parameters', async () => {
    const stmt = await conn.prepare(`SELECT id FROM ${seqScan('kt')} WHERE v = :v`)
    assert.equal(stmt.bindCount, 1)
    assert.deepEqual((await stmt.execute({ v: 'b' })).rows, [[2]])
    await stmt.unprepare()
  })

  test('preparing invalid SQL is a TarantoolError', async () => {
    const err = await rejection(conn.prepare('SELECT FROM WHERE'))
    assert.ok(err instanceof TarantoolError)
  })
})

// ---------------------------------------------------------------------------------------------
// errors

describe('server errors', TIMEOUT, () => {
  test('an unknown function is ER_NO_SUCH_PROC (33) with a server stack', async () => {
    const err = await rejection(conn.call('no_such_function', [1]))
    assert.ok(err instanceof TarantoolError)
    assert.ok(err instanceof KharonError)
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'TarantoolError')
    assert.equal(err.errcode, 33)
    assert.equal(err.code, 'ER_NO_SUCH_PROC')
    assert.equal(err.message, "Procedure 'no_such_function' is not defined")
    assert.ok(Array.isArray(err.serverStack))
    assert.ok(err.serverStack.length >= 1)
    const top = err.serverStack[0]
    assert.equal(top.type, 'ClientError')
    assert.equal(top.code, 33)
    assert.equal(top.message, "Procedure 'no_such_function' is not defined")
    assert.equal(typeof top.file, 'string')
    assert.equal(typeof top.line, 'number')
  })

  test('a Lua error and a custom box.error', async () => {
    const lua = await rejection(conn.eval("error('boom')"))
    assert.ok(lua instanceof TarantoolError)
    assert.equal(lua.code, 'ER_PROC_LUA')
    assert.equal(lua.errcode, 32)
    assert.match(lua.message, /boom/)
    const custom = await rejection(conn.eval("box.error({code = 4242, reason = 'mine'})"))
    assert.ok(custom instanceof TarantoolError)
    assert.equal(custom.errcode, 4242)
    assert.equal(custom.message, 'mine')
    assert.equal(typeof custom.code, 'string')
  })

  test('the connection stays usable after errors', async () => {
    await rejection(conn.call('no_such_function'))
    assert.equal(await conn.ping(), undefined)
    assert.deepEqual(await conn.call('echo', ['ok']), ['ok'])
  })
})

// ---------------------------------------------------------------------------------------------
// deadlines and abort signals

describe('timeout and signal', TIMEOUT, () => {
  test('{ timeout } rejects with TimeoutError ETIMEDOUT', async () => {
    const before = conn.transport.pending
    const err = await rejection(conn.call('sleep_then', [1, 'late'], { timeout: 50 }))
    assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`)
    assert.ok(err instanceof KharonError)
    assert.equal(err.code, 'ETIMEDOUT')
    assert.equal(err.name, 'TimeoutError')
    assert.equal(conn.transport.pending, before)
    assert.deepEqual(await conn.call('echo', ['still fine']), ['still fine'])
  })

  test('the connection timeout is the default of every request; a request may override it', async () => {
    const c = await connect(testerUri(), { timeout: 250 })
    try {
      const err = await rejection(c.call('sleep_then', [2, 'late']))
      assert.ok(err instanceof TimeoutError)
      // options without a timeout keep the default
      const err2 = await rejection(c.eval('require("fiber").sleep(2)', [], { signal: new AbortController().signal }))
      assert.ok(err2 instanceof TimeoutError)
      assert.deepEqual(await c.call('sleep_then', [0.2, 'ok'], { timeout: 10000 }), ['ok'])
      assert.deepEqual(await c.select('test', 'pk', [1]), [[1, 'hello', 42]])
    } finally {
      await c.close()
    }
  })

  test('aborting mid-flight rejects with AbortError whose cause is the reason', async () => {
    const ac = new AbortController()
    const reason = new Error('changed my mind')
    const before = conn.transport.pending
    const call = conn.call('sleep_then', [1, 'never'], { signal: ac.signal })
    assert.equal(conn.transport.pending, before + 1)
    setTimeout(() => ac.abort(reason), 30)
    const err = await rejection(call)
    assert.equal(err.name, 'AbortError')
    assert.ok(err instanceof AbortError)
    assert.ok(err instanceof KharonError)
    assert.equal(err.code, 'ABORT_ERR')
    assert.equal(err.cause, reason)
    assert.equal(conn.transport.pending, before)
  })

  test('aborting a ping and a select mid-flight', async () => {
    const ac = new AbortController()
    const p = conn.ping({ signal: ac.signal })
    const s = conn.select('test', 'pk', [1], { signal: ac.signal })
    ac.abort('stop')
    for (const err of [await rejection(p), await rejection(s)]) {
      assert.ok(err instanceof AbortError)
      assert.equal(err.cause, 'stop')
    }
  })

  test('an already-aborted signal rejects without sending', async () => {
    await conn.select('test', 'pk', [1]) // names resolve without a fetch from here on
    const signal = AbortSignal.abort('too late')
    const before = conn.transport.pending
    const call = conn.call('echo', [1], { signal })
    const ins = conn.insert('test', [999, 'must not land'], { signal })
    const ping = conn.ping({ signal })
    assert.equal(conn.transport.pending, before)
    for (const err of [await rejection(call), await rejection(ins), await rejection(ping)]) {
      assert.equal(err.name, 'AbortError')
      assert.equal(err.cause, 'too late')
    }
    assert.deepEqual(await conn.select('test', 'pk', [999]), [])
  })

  test('a bad timeout or signal is a TypeError or RangeError', async () => {
    await failsWithRangeError(() => conn.call('echo', [], { timeout: -1 }), 'call timeout -1')
    await failsWithRangeError(() => conn.select('test', 0, [], { timeout: 2 ** 31 }), 'select timeout 2^31')
    await failsWithTypeError(() => conn.call('echo', [], { timeout: '5' }), "call timeout '5'")
    await failsWithTypeError(() => conn.call('echo', [], { signal: {} }), 'call signal {}')
    await failsWithTypeError(() => conn.ping({ timeout: 'soon' }), 'ping timeout string')
    await failsWithTypeError(() => conn.select('test', 0, [], { signal: 'x' }), 'select signal string')
  })
})

// ---------------------------------------------------------------------------------------------
// transport, close, dispose

describe('closing', TIMEOUT, () => {
  test('conn.transport is the Transport underneath', async () => {
    assert.ok(conn.transport instanceof Transport)
    assert.equal(conn.transport.serverVersion, serverVersion().release, 'the greeting names the version of the binary')
    assert.equal(conn.transport.closed, false)
  })

  test('close() lets in-flight requests finish, then fails every later request', async () => {
    const c = await connect(testerUri())
    const inFlight = c.call('sleep_then', [0.2, 'x'])
    const inFlightSelect = c.select('test', 'pk', [1])
    const closing = c.close()
    assert.equal(c.state, 'closing')
    const early = await rejection(c.ping())
    assert.ok(early instanceof ConnectionError && early.code === 'ERR_CONNECTION_CLOSED', 'new requests fail at once')
    await closing
    assert.deepEqual(await inFlight, ['x'])
    assert.deepEqual(await inFlightSelect, [[1, 'hello', 42]])
    assert.equal(c.closed, true)
    assert.equal(c.transport.closed, true)
    for (const p of [
      () => c.ping(),
      () => c.call('echo', [1]),
      () => c.eval('return 1'),
      () => c.select('test'),
      () => c.insert('test', [50]),
      () => c.execute('SELECT 1'),
      () => c.prepare('SELECT 1'),
    ]) {
      const err = await rejection(p)
      assert.ok(err instanceof ConnectionError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ERR_CONNECTION_CLOSED')
    }
    await c.close() // a second close is harmless
    assert.deepEqual(await conn.select('test', 'pk', [50]), [])
  })

  test('close({ timeout }) stops waiting for slow requests; destroy() fails them at once', async () => {
    const c = await connect(testerUri())
    const slow = c.call('sleep_then', [5, 'late'])
    const started = Date.now()
    await c.close({ timeout: 100 })
    assert.ok(Date.now() - started < 2000)
    const err = await rejection(slow)
    assert.equal(err.code, 'ERR_CONNECTION_CLOSED')

    const d = await connect(testerUri())
    const pending = d.call('sleep_then', [5, 'late'])
    d.destroy()
    assert.equal(d.closed, true)
    const destroyed = await rejection(pending)
    assert.ok(destroyed instanceof ConnectionError && destroyed.code === 'ERR_CONNECTION_CLOSED')
  })

  test('[Symbol.asyncDispose]() closes', async () => {
    const c = await connect(testerUri())
    assert.equal(typeof c[Symbol.asyncDispose], 'function')
    await c[Symbol.asyncDispose]()
    assert.equal(c.closed, true)
    const err = await rejection(c.ping())
    assert.ok(err instanceof ConnectionError)
  })
})

// ---------------------------------------------------------------------------------------------
// argument checks

describe('bad arguments are TypeErrors', TIMEOUT, () => {
  test('call and eval', async () => {
    await assert.rejects(() => conn.call(123), TypeError)
    await assert.rejects(() => conn.call(''), TypeError)
    await assert.rejects(() => conn.call('echo', 'notarray'), TypeError)
    await assert.rejects(() => conn.call('echo', { 0: 1 }), TypeError)
    await assert.rejects(() => conn.call('echo', [], 5), TypeError)
    await assert.rejects(() => conn.call('echo', [], { onPush: 'no' }), TypeError)
    await assert.rejects(() => conn.call('echo', [], { highWaterMark: -1 }), RangeError)
    await assert.rejects(() => conn.call('echo', [], { highWaterMark: '1' }), TypeError)
    await assert.rejects(() => conn.eval(5), TypeError)
    await assert.rejects(() => conn.eval('return', 'x'), TypeError)
    await assert.rejects(() => conn.call('echo', [() => 1]), TypeError)
    await assert.rejects(() => conn.call('echo', [Symbol('s')]), TypeError)
  })

  test('select', async () => {
    await assert.rejects(() => conn.select({}), TypeError)
    await assert.rejects(() => conn.select(), TypeError)
    await assert.rejects(() => conn.select(null), TypeError)
    await assert.rejects(() => conn.select('test', {}), TypeError)
    await assert.rejects(() => conn.select('test', null), TypeError)
    await assert.rejects(() => conn.select('test', 0, [], 'opts'), TypeError)
  })

  test('space and index ids out of range are RangeErrors', async () => {
    await assert.rejects(() => conn.select(-1), RangeError)
    await assert.rejects(() => conn.select(1.5), RangeError)
    await assert.rejects(() => conn.select('test', -1), RangeError)
    await assert.rejects(() => conn.delete('test', 0.5, [1]), RangeError)
    await assert.rejects(() => conn.update(-3, 0, [1], []), RangeError)
  })

  test('insert, replace, upsert', async () => {
    await failsWithTypeError(() => conn.insert('test', 5), 'insert tuple 5')
    await failsWithTypeError(() => conn.insert('test', 'str'), 'insert tuple string')
    await failsWithTypeError(() => conn.insert('test', null), 'insert tuple null')
    await failsWithTypeError(() => conn.insert({}, [1]), 'insert space {}')
    await failsWithTypeError(() => conn.insert('test', [1], 7), 'insert options 7')
    await failsWithTypeError(() => conn.replace('test', 5), 'replace tuple 5')
    await failsWithTypeError(() => conn.replace(null, [1]), 'replace space null')
    await failsWithTypeError(() => conn.upsert('test', [1], 'x'), 'upsert ops string')
    await failsWithTypeError(() => conn.upsert('test', 5, []), 'upsert tuple 5')
    await failsWithTypeError(() => conn.upsert([], [1], []), 'upsert space []')
    assert.deepEqual(await conn.select('test'), [[1, 'hello', 42]])
  })

  test('update and delete', async () => {
    await assert.rejects(() => conn.update('test', 0, 1, 'notarray'), TypeError)
    await assert.rejects(() => conn.update('test', 0, 1), TypeError)
    await assert.rejects(() => conn.update('test', {}, 1, []), TypeError)
    await assert.rejects(() => conn.update(null, 0, 1, []), TypeError)
    await assert.rejects(() => conn.delete('test', [], 1), TypeError)
    await assert.rejects(() => conn.delete(true, 0, 1), TypeError)
    await assert.rejects(() => conn.delete('test', 0, 1, 'x'), TypeError)
  })

  test('execute and prepare', async () => {
    await assert.rejects(() => conn.execute(5), TypeError)
    await assert.rejects(() => conn.execute(null), TypeError)
    await assert.rejects(() => conn.execute('SELECT 1', 5), TypeError)
    await assert.rejects(() => conn.execute('SELECT 1', new Map([['a', 1]])), TypeError)
    await assert.rejects(() => conn.execute('SELECT 1', [], 'x'), TypeError)
    await assert.rejects(() => conn.prepare(5), TypeError)
    await assert.rejects(() => conn.prepare({ sql: 'SELECT 1' }), TypeError)
  })

  test('options that are not objects are TypeErrors for ping and prepare too', async () => {
    await failsWithTypeError(() => conn.ping('x'), "ping('x')")
    await failsWithTypeError(() => conn.ping(5), 'ping(5)')
    await failsWithTypeError(() => conn.prepare('SELECT 1', 'x'), "prepare(sql, 'x')")
  })
})
