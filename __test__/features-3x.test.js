'use strict'

// 2.10+ and 3.x features against the harness's real server (TARANTOOL: Debian's 2.6 by default,
// or 3.8): negotiation, errors as values, names in requests, pagination, tuple formats,
// datetime and interval values, SQL full scans. A test of a feature the server lacks skips,
// naming it; where an older server does something definite instead, the test asserts that.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, Transport, TarantoolError, UnsupportedError, Datetime, Interval } = require('..')
const { startTarantool, stopAll, atLeast, serverVersion, seqScan } = require('./helpers/tarantool')
const { startProxy } = require('./helpers/proxy')
const { packets } = require('./helpers/msgpack')
const { rejection } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }
const AUTH = 7
const ID = 73
let server
let uri
let conn

before(async () => {
  server = await startTarantool()
  uri = `tester:secret@127.0.0.1:${server.port}`
  conn = await connect(uri)
  await conn.eval(`
    local named = box.schema.space.create('named')
    named:create_index('pk')
    named:create_index('by_name', {parts = {{2, 'string'}}})
    named:insert{1, 'one', 10}
    named:insert{2, 'two', 20}
    local pg = box.schema.space.create('pg')
    pg:create_index('pk')
    for i = 1, 10 do pg:insert{i, (i - 1) % 3, 'v' .. i} end
    local fmt = box.schema.space.create('fmt', {format = {{name = 'id', type = 'unsigned'}, {name = 'name', type = 'string'}}})
    fmt:create_index('pk')
    fmt:insert{1, 'a'}`)
}, TIMEOUT)

after(async () => {
  if (conn) conn.destroy()
  await stopAll()
}, TIMEOUT)

const has = (feature) => conn.protocol.features.includes(feature)

/** `fn(c)` with a connection of its own, made with `options`. */
async function withConnection(options, fn) {
  const c = await connect(uri, options)
  try {
    return await fn(c)
  } finally {
    c.destroy()
  }
}

/**
 * `check(client, sent)` for the client `open(port)` makes through a proxy to the server, where
 * `sent` is the requests of the client's first write, decoded.
 */
async function throughProxy(open, check) {
  const p = await startProxy(() => ({ host: '127.0.0.1', port: server.port }))
  let client
  try {
    client = await open(p.port)
    await check(client, packets(p.firstBytes[0]))
  } finally {
    if (client) await client.close()
    await p.close()
  }
}

describe('negotiation', TIMEOUT, () => {
  test('IPROTO_ID goes first, in the same write as AUTH, offering what kharon implements', async () => {
    await throughProxy((port) => connect(`tester:secret@127.0.0.1:${port}`, { fetchSchema: false }), (_, sent) => {
      // servers before 2.10 have no ID: AUTH alone
      assert.deepEqual(sent.map((r) => r.header[0x00]), atLeast(2, 10) ? [ID, AUTH] : [AUTH])
      // Protocol 10 and every feature kharon implements, by id: all of 3.8's but
      // fetch_snapshot_cursor (10) and insert_arrow (12), Enterprise's.
      if (atLeast(2, 10)) assert.deepEqual(sent[0].body, { [0x54]: 10, [0x55]: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11] })
      assert.equal(sent.at(-1).body[0x23], 'tester')
    })
  })

  test("conn.protocol is the server's own version and features, by net.box's names", async (t) => {
    if (!atLeast(2, 11)) return t.skip('needs box.iproto.protocol_features (2.11+) to compare with')
    const [version, features] = await conn.eval(`local names, byId = {}, {}
      for name, id in pairs(box.iproto.feature) do byId[id] = name end
      for id = 0, 63 do
        if byId[id] and box.iproto.protocol_features[byId[id]] then table.insert(names, byId[id]) end
      end
      return box.iproto.protocol_version, names`)
    const authType = await conn.eval('return box.cfg.auth_type')
    assert.deepEqual(conn.protocol, { version, features, authType: authType[0] })
    assert.equal(conn.transport.protocol, conn.protocol)
    assert.equal(conn.transport.serverVersion, serverVersion().release)
    assert.ok(Object.isFrozen(conn.protocol) && Object.isFrozen(conn.protocol.features))
  })

  test('the raw Transport negotiates too, and `features` narrows the offer', async () => {
    const open = (port) => Transport.connect({ host: '127.0.0.1', port, user: 'tester', password: 'secret', features: ['error_extension'] })
    await throughProxy(open, (t, sent) => {
      if (atLeast(2, 10)) assert.deepEqual(sent[0].body, { [0x54]: 10, [0x55]: [2] })
      else assert.deepEqual(sent.map((r) => r.header[0x00]), [AUTH])
      assert.deepEqual(t.protocol, conn.protocol, "the server's whole set, not the offer")
    })
    // An Enterprise feature kharon does not implement cannot be offered.
    await assert.rejects(Transport.connect({ port: server.port, features: ['insert_arrow'] }), TypeError)
    await assert.rejects(Transport.connect({ port: server.port, features: 'pagination' }), TypeError)
  })

  test('required: met, or refused naming the IPROTO version wanted and spoken, and the server', async () => {
    const { version, features } = conn.protocol
    const met = await connect(uri, { fetchSchema: false, required: { version, features } })
    met.destroy()
    const err = await rejection(connect(uri, { fetchSchema: false, required: { version: version + 1 } }))
    assert.ok(err instanceof UnsupportedError)
    assert.equal(err.code, 'ERR_UNSUPPORTED')
    assert.equal(err.feature, 'version')
    assert.equal(err.serverVersion, serverVersion().release)
    assert.equal(err.message,
      `Tarantool ${serverVersion().release} lacks what the connection requires: IPROTO version ${version + 1} (it speaks ${version})`)
  })
})

describe('errors as values', TIMEOUT, () => {
  test("payload fields: a custom error's own, a built-in error's name and details, a duplicate's tuples", async (t) => {
    if (!atLeast(3, 1)) return t.skip('needs error payload fields (3.1+)')
    const [err] = await conn.eval("return box.error.new({type = 'MyError', reason = 'r', code = 77, foo = 'bar', n = 5})")
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.message, 'r')
    assert.equal(err.errcode, 77)
    assert.equal(err.type, 'CustomError')
    assert.deepEqual(err.fields, { custom_type: 'MyError', foo: 'bar', n: 5 })
    assert.equal(err.cause, undefined)
    const [builtin] = await conn.eval("return box.error.new(box.error.SPACE_EXISTS, 'some space')")
    assert.equal(builtin.code, 'ER_SPACE_EXISTS')
    assert.equal(builtin.type, 'ClientError')
    assert.equal(builtin.message, "Space 'some space' already exists")
    assert.deepEqual(builtin.fields, { name: 'SPACE_EXISTS', space: 'some space' })
    const dup = await rejection(conn.insert('named', [1, 'dup']))
    assert.equal(dup.code, 'ER_TUPLE_FOUND')
    assert.deepEqual(dup.fields.new_tuple, [1, 'dup'])
    assert.deepEqual(dup.fields.old_tuple, [1, 'one', 10])
  })

  test('causes set with set_prev become the cause chain, each with its own type and stack', async (t) => {
    if (!has('error_extension')) return t.skip('needs error_extension (2.10+)')
    const [err] = await conn.eval(`local e = box.error.new({type = 'MyError', reason = 'r', code = 77})
      e:set_prev(box.error.new({type = 'CauseError', reason = 'cause', code = 78})) return e`)
    assert.equal(err.message, 'r')
    assert.equal(err.fields.custom_type, 'MyError')
    assert.ok(err.cause instanceof TarantoolError)
    assert.equal(err.cause.message, 'cause')
    assert.equal(err.cause.errcode, 78)
    assert.equal(err.cause.type, 'CustomError')
    assert.equal(err.cause.fields.custom_type, 'CauseError')
    assert.equal(err.cause.cause, undefined)
    assert.equal(err.serverStack.length, 2)
    assert.equal(err.cause.serverStack.length, 1)
  })

  test('errors nested in tables decode too', async (t) => {
    if (!has('error_extension')) return t.skip('needs error_extension (2.10+)')
    const [{ err }] = await conn.eval("return {err = box.error.new({reason = 'in a table', code = 5})}")
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.message, 'in a table')
    assert.equal(err.errcode, 5)
  })

  test('without error_extension an error value arrives as its message string', async () => {
    await withConnection({ features: [] }, async (c) => {
      assert.deepEqual(await c.eval("return box.error.new({reason = 'r', code = 77})"), ['r'])
    })
  })

  test('a raised error keeps its custom type and its cause; a Lua error has no fields', async () => {
    const raised = await rejection(conn.eval(`local e = box.error.new({type = 'MyError', reason = 'r', code = 77})
      e:set_prev(box.error.new({type = 'CauseError', reason = 'cause', code = 78})) box.error(e)`))
    assert.ok(raised instanceof TarantoolError)
    assert.equal(raised.message, 'r')
    assert.equal(raised.errcode, 77)
    assert.equal(raised.type, 'CustomError')
    assert.ok(raised.cause instanceof TarantoolError, 'a raised error keeps its cause')
    assert.equal(raised.cause.message, 'cause')
    assert.equal(raised.cause.errcode, 78)
    const lua = await rejection(conn.eval("error('plain lua error')"))
    assert.equal(lua.code, 'ER_PROC_LUA')
    assert.equal(lua.fields, undefined)
  })
})

describe('names in requests', TIMEOUT, () => {
  test('every request by space and index name, with no schema at all', async (t) => {
    if (!has('space_and_index_names')) return t.skip('needs space_and_index_names (3.0+)')
    await withConnection({ fetchSchema: false }, async (c) => {
      assert.deepEqual(await c.select('named', 'by_name', ['two']), [[2, 'two', 20]])
      assert.deepEqual(await c.select('named', 0, [1]), [[1, 'one', 10]])
      assert.deepEqual(await c.insert('named', [3, 'three', 30]), [3, 'three', 30])
      assert.deepEqual(await c.replace('named', [3, 'three', 31]), [3, 'three', 31])
      assert.deepEqual(await c.update('named', 'by_name', ['three'], [['=', 2, 33]]), [3, 'three', 33])
      assert.equal(await c.upsert('named', [4, 'four', 40], [['+', 2, 1]]), undefined)
      await c.upsert('named', [4, 'four', 40], [['+', 2, 1]])
      assert.deepEqual(await c.delete('named', 'by_name', ['four']), [4, 'four', 41])
      assert.deepEqual(await c.delete('named', 'pk', [3]), [3, 'three', 33])
      assert.equal(c.schema.fetches, 0)
    })
  })
})

describe('pagination', TIMEOUT, () => {
  const all = { iterator: 'ALL', limit: 3, fetchPos: true }

  test('pages of 3 through 10 tuples: a position or a tuple as `after`; past the end, no position', async (t) => {
    if (!has('pagination')) return t.skip('needs pagination (2.11+)')
    const first = await conn.select('pg', 0, [], all)
    assert.deepEqual(first.tuples.map((tuple) => tuple[0]), [1, 2, 3])
    assert.ok(Buffer.isBuffer(first.position))
    const [luaPosition] = await conn.eval("local _, pos = box.space.pg:select({}, {iterator = 'ALL', limit = 3, fetch_pos = true}) return pos")
    assert.equal(first.position.toString('latin1'), luaPosition, 'the bytes the server gave')
    // the server takes a position as MP_STR only (MP_BIN is ER_INVALID_MSGPACK): kharon sends its bytes so
    const second = await conn.select('pg', 0, [], { ...all, after: first.position })
    assert.deepEqual(second.tuples.map((tuple) => tuple[0]), [4, 5, 6])
    const third = await conn.select('pg', 0, [], { ...all, after: second.tuples[2] })
    assert.deepEqual(third.tuples.map((tuple) => tuple[0]), [7, 8, 9])
    const last = await conn.select('pg', 0, [], { ...all, after: [9] })
    assert.deepEqual(last.tuples, [[10, 0, 'v10']])
    assert.deepEqual(await conn.select('pg', 0, [], { ...all, after: [10] }), { tuples: [], position: null })
  })

  test("a bad position is the server's ITERATOR_POSITION error", async (t) => {
    if (!has('pagination')) return t.skip('needs pagination (2.11+)')
    const err = await rejection(conn.select('pg', 0, [], { iterator: 'ALL', limit: 3, after: 'garbage' }))
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_ITERATOR_POSITION')
    assert.equal(err.errcode, 247)
  })

  test('pagination options are checked before anything is sent', async () => {
    const sent = conn.transport.bytesSent
    await assert.rejects(() => conn.select('pg', 0, [], { fetchPos: 1 }), TypeError)
    await assert.rejects(() => conn.select('pg', 0, [], { after: 5 }), TypeError)
    assert.equal(conn.transport.bytesSent, sent)
  })
})

describe('tuple formats', TIMEOUT, () => {
  const skip = () => has('dml_tuple_extension') && has('call_ret_tuple_extension')
    ? false
    : 'needs dml_tuple_extension and call_ret_tuple_extension (3.0+)'

  test("DML results decode to objects keyed by the response's formats, with no schema", async (t) => {
    if (skip()) return t.skip(skip())
    await withConnection({ fetchSchema: false, tuples: 'objects' }, async (c) => {
      assert.deepEqual(await c.insert('fmt', [2, 'b']), { id: 2, name: 'b' })
      assert.deepEqual(await c.select('fmt', 0, [], { iterator: 'ALL' }), [{ id: 1, name: 'a' }, { id: 2, name: 'b' }])
      assert.deepEqual(await c.replace('fmt', [2, 'bb']), { id: 2, name: 'bb' })
      assert.deepEqual(await c.update('fmt', 0, [2], [['=', 2, 'bbb']]), { id: 2, name: 'bb', 2: 'bbb' })
      assert.deepEqual(await c.delete('fmt', 0, [2]), { id: 2, name: 'bb', 2: 'bbb' })
      assert.deepEqual(await c.select('test', 0, []), [{ 0: 1, 1: 'hello', 2: 42 }], 'no format: keys are positions')
      assert.deepEqual(await c.select('fmt', 0, [99]), [])
      assert.equal(c.schema.fetches, 0)
    })
  })

  test('box.tuple values in call and eval results decode to objects, nested ones too', async (t) => {
    if (skip()) return t.skip(skip())
    await withConnection({ fetchSchema: false, tuples: 'objects' }, async (c) => {
      assert.deepEqual(await c.call('tuple_fmt'), [{ id: 1, name: 'a' }])
      assert.deepEqual(await c.call('box.space.fmt:get', [1]), [{ id: 1, name: 'a' }])
      assert.deepEqual(await c.eval(`local f = box.tuple.format.new({{'id', 'unsigned'}, {'name', 'string'}})
        return box.tuple.new({1, 'a'}, {format = f}), box.tuple.new({2, 'b'}, {format = f}),
          box.space.fmt:get(1), box.tuple.new({7, 'no format'})`),
      [{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 1, name: 'a' }, { 0: 7, 1: 'no format' }])
      assert.deepEqual(await c.call('echo', [1, 'x']), [1, 'x'])
      assert.deepEqual(await c.eval('return box.space.fmt:select()'), [[{ id: 1, name: 'a' }]])
    })
  })

  test('in arrays mode the same responses decode to plain arrays; `tuples` per call overrides', async (t) => {
    if (skip()) return t.skip(skip())
    await withConnection({ fetchSchema: false }, async (c) => {
      assert.deepEqual(await c.insert('fmt', [2, 'b']), [2, 'b'])
      assert.deepEqual(await c.select('fmt', 0, [], { iterator: 'ALL' }), [[1, 'a'], [2, 'b']])
      assert.deepEqual(await c.delete('fmt', 0, [2]), [2, 'b'])
      assert.deepEqual(await c.call('tuple_fmt'), [[1, 'a']])
      assert.deepEqual(await c.call('tuple_fmt', [], { tuples: 'objects' }), [{ id: 1, name: 'a' }])
    })
  })

  test('without the extensions a call result is a plain array, as from 2.x, even in objects mode', async () => {
    await withConnection({ features: [], tuples: 'objects' }, async (c) => {
      assert.deepEqual(await c.call('box.space.fmt:get', [1]), [[1, 'a']])
      assert.deepEqual(await c.select('fmt', 0, [], { tuples: 'arrays' }), [[1, 'a']])
    })
  })
})

describe('datetime and interval values', TIMEOUT, () => {
  const skip = () => (atLeast(2, 10) ? false : 'needs datetime and interval (2.10+)')

  test('datetimes exact to the nanosecond, with offset and tz index', async (t) => {
    if (skip()) return t.skip(skip())
    const [[plain, plainText], [offset, offsetText], [zoned]] = await conn.eval(`local datetime = require('datetime')
      local a = datetime.new{year = 2024, month = 3, day = 15, hour = 12, min = 34, sec = 56}
      local b = datetime.new{year = 2024, month = 3, day = 15, hour = 12, min = 34, sec = 56, nsec = 123456789, tzoffset = 180}
      local c = datetime.new{year = 2024, month = 3, day = 15, hour = 12, min = 34, sec = 56, tz = 'Europe/Moscow'}
      return {a, tostring(a)}, {b, tostring(b)}, {c, tostring(c)}`)
    assert.ok(plain instanceof Datetime)
    assert.deepEqual({ ...plain }, { seconds: 1710506096n, nsec: 0, tzoffset: 0, tzindex: 0 })
    assert.equal(plainText, '2024-03-15T12:34:56Z')
    assert.deepEqual({ ...offset }, { seconds: 1710495296n, nsec: 123456789, tzoffset: 180, tzindex: 0 })
    assert.equal(offset.toISOString(), '2024-03-15T12:34:56.123456789+03:00')
    assert.equal(offsetText, '2024-03-15T12:34:56.123456789+0300')
    assert.equal(offset.toDate().toISOString(), '2024-03-15T09:34:56.123Z', 'toDate keeps milliseconds only')
    assert.deepEqual({ ...zoned }, { seconds: 1710495296n, nsec: 0, tzoffset: 180, tzindex: 947 })
  })

  test('intervals with every field, and each adjust', async (t) => {
    if (skip()) return t.skip(skip())
    const [all, last, excess] = await conn.eval(`local interval = require('datetime').interval
      return interval.new{year = 1, month = 2, week = 3, day = 4, hour = 5, min = 6, sec = 7, nsec = 8},
        interval.new{month = -1, adjust = 'last'}, interval.new{adjust = 'excess'}`)
    assert.ok(all instanceof Interval)
    assert.deepEqual({ ...all }, { year: 1, month: 2, week: 3, day: 4, hour: 5, min: 6, sec: 7, nsec: 8, adjust: 'none' })
    assert.equal(last.month, -1)
    assert.equal(last.adjust, 'last')
    assert.equal(excess.adjust, 'excess')
  })

  test('client-built datetimes and intervals reach the server as such, and come back equal', async (t) => {
    if (skip()) return t.skip(skip())
    const dt = new Datetime({ seconds: 1710506096, nsec: 5, tzoffset: -60 })
    const iv = new Interval({ year: 1, day: 2, adjust: 'excess' })
    const [dtBack, ivBack] = await conn.call('echo', [dt, iv])
    assert.deepEqual({ ...dtBack }, { ...dt })
    assert.deepEqual({ ...ivBack }, { ...iv })
    const seen = await conn.eval(`local datetime = require('datetime') local dt, iv = ...
      return datetime.is_datetime(dt), tostring(dt), datetime.interval.is_interval(iv), iv:totable()`, [dt, iv])
    assert.deepEqual(seen, [true, '2024-03-15T11:34:56.000000005-0100', true,
      { year: 1, month: 0, week: 0, day: 2, hour: 0, min: 0, sec: 0, nsec: 0, adjust: 'excess' }])
  })
})

describe('SQL', TIMEOUT, () => {
  test('a full scan needs SEQSCAN from 3.0 (ER_SQL_SEQ_SCAN without it); before, it just runs', async () => {
    await conn.execute('CREATE TABLE sq (id INT PRIMARY KEY, name TEXT)')
    assert.equal((await conn.execute("INSERT INTO sq VALUES (1, 'a'), (2, 'b')")).rowCount, 2)
    const scan = conn.execute("SELECT * FROM sq WHERE name = 'a'")
    if (atLeast(3, 0)) {
      const err = await rejection(scan)
      assert.ok(err instanceof TarantoolError)
      assert.equal(err.code, 'ER_SQL_SEQ_SCAN')
      assert.equal(err.errcode, 259)
    } else {
      assert.deepEqual((await scan).rows, [[1, 'a']])
    }
    assert.deepEqual((await conn.execute(`SELECT * FROM ${seqScan('sq')} WHERE name = 'a'`)).rows, [[1, 'a']])
  })
})
