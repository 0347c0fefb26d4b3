'use strict'

// kharon against a scripted peer replaying recorded Tarantool 3.3.0 frames (not a real server:
// helpers/recorded-session.peer.js). Only 2.6 can be installed here; these are the 2.10+ behaviours
// checked byte for byte against what a real 3.3.0 sent: negotiation, errors as values, names
// in requests, pagination, tuple formats, datetime/interval/decimal values, pushes and SQL.
// A request whose encoding differs from what the recorder sent gets no recorded reply, so
// these tests also pin kharon's encodings to what the server was seen to accept.

const { test, describe } = require('node:test')
const assert = require('node:assert/strict')

const { connect, Transport, TarantoolError, UnsupportedError, Datetime, Decimal, Uuid, Interval } = require('..')
const { startRecordedPeer, loadScenario } = require('./helpers/recorded-peer')
const { replaySessions } = require('./helpers/replay')
const { rejection, sleep } = require('./helpers/wait')

const TIMEOUT = { timeout: 20000 }
const ALL_3_3_FEATURES = [
  'streams', 'transactions', 'error_extension', 'watchers', 'pagination', 'space_and_index_names',
  'watch_once', 'dml_tuple_extension', 'call_ret_tuple_extension', 'call_arg_tuple_extension',
  'is_sync', 'insert_arrow',
]

const session = replaySessions({ timeout: TIMEOUT.timeout })
const { replay } = session

describe('negotiation with a 3.3 server', TIMEOUT, () => {
  test('ID goes first, in the same write as AUTH, offering what kharon implements', async () => {
    await replay([], [])
    const [id, auth] = session.peer.requests
    assert.equal(id.type, 73)
    assert.deepEqual(id.body, { '0x54': 5, '0x55': [2, 4, 5, 7, 8] })
    assert.equal(auth.type, 7)
    assert.deepEqual(session.sent(), [], 'fetchSchema: false reads nothing at connect')
    while (session.peer.requests.length < 3) await sleep(1)
    assert.deepEqual(session.peer.requests[2].body, { '0x57': 'box.shutdown' }, 'then it watches box.shutdown')
  })

  test('session.conn.protocol is the server\'s whole set, by net.box\'s names', async () => {
    await replay([], [])
    assert.deepEqual(session.conn.protocol, { version: 10, features: ALL_3_3_FEATURES })
    assert.equal(session.conn.transport.protocol, session.conn.protocol)
    assert.equal(session.conn.transport.serverVersion, '3.3.0')
    assert.ok(Object.isFrozen(session.conn.protocol) && Object.isFrozen(session.conn.protocol.features))
  })

  test('the raw Transport negotiates too, and `features` narrows the offer', async () => {
    session.peer = await startRecordedPeer({ scenarios: [] })
    const t = await Transport.connect({ port: session.peer.port, host: session.peer.host, user: 'u', password: 'p', features: ['error_extension'] })
    try {
      assert.deepEqual(session.peer.requests[0].body, { '0x54': 5, '0x55': [2] })
      assert.deepEqual(t.protocol.features, ALL_3_3_FEATURES)
    } finally {
      await t.close()
    }
    assert.throws(() => Transport.connect({ port: session.peer.port, features: ['streams'] }), TypeError)
    assert.throws(() => Transport.connect({ port: session.peer.port, features: 'pagination' }), TypeError)
  })

  test('required: met, or refused naming what is missing and the server version', async () => {
    session.peer = await startRecordedPeer({ scenarios: [] })
    const ok = await connect(session.peer.uri, { fetchSchema: false, required: { version: 3, features: ['watchers', 'pagination'] } })
    ok.destroy()
    const err = await rejection(connect(session.peer.uri, { fetchSchema: false, required: { version: 11 } }))
    assert.ok(err instanceof UnsupportedError)
    assert.equal(err.code, 'ERR_UNSUPPORTED')
    assert.equal(err.serverVersion, '3.3.0')
    assert.match(err.message, /Tarantool 3\.3\.0 lacks .*IPROTO version 11 \(it speaks 10\)/)
    await assert.rejects(connect(session.peer.uri, { required: { features: ['no_such_feature'] } }), TypeError)
  })

  test('a wrong password still fails as the server says, after ID', async () => {
    session.peer = await startRecordedPeer({ scenarios: [] })
    const err = await rejection(connect(`u:wrong@${session.peer.host}:${session.peer.port}`, { fetchSchema: false }))
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.errcode, 47)
    assert.ok(!err.message.includes('wrong'), 'the password is not in the message')
  })
})

describe('errors as values (03-errors)', TIMEOUT, () => {
  test('an error returned by a function is a TarantoolError with type, code, fields', async () => {
    await replay(['03-errors'], ['X'], { features: ['error_extension'] })
    const [err] = await session.conn.call('err_value')
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.message, 'r')
    assert.equal(err.errcode, 77)
    assert.equal(err.type, 'CustomError')
    assert.equal(err.fields.custom_type, 'MyError')
    assert.equal(err.fields.foo, 'bar')
    assert.equal(err.fields.n, 5)
    assert.equal(err.cause, undefined)
  })

  test('causes set with set_prev become the cause chain', async () => {
    await replay(['03-errors'], ['X'], { features: ['error_extension'] })
    const [err] = await session.conn.call('err_chain')
    assert.equal(err.message, 'r')
    assert.ok(err.cause instanceof TarantoolError)
    assert.equal(err.cause.message, 'cause')
    assert.equal(err.cause.errcode, 78)
    assert.equal(err.cause.type, 'CustomError')
    assert.equal(err.cause.fields.custom_type, 'CauseError')
    assert.equal(err.serverStack.length, 2)
    assert.equal(err.cause.serverStack.length, 1)
  })

  test('built-in errors carry their name; errors nested in tables decode too', async () => {
    await replay(['03-errors'], ['X'], { features: ['error_extension'] })
    const [builtin] = await session.conn.call('err_builtin_value')
    assert.equal(builtin.code, 'ER_ILLEGAL_PARAMS')
    assert.equal(builtin.fields.name, 'ILLEGAL_PARAMS')
    assert.equal(builtin.message, 'bad param')
    const [{ err }] = await session.conn.eval("return {err = box.error.new({reason = 'in a table', code = 5})}")
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.message, 'in a table')
  })

  test('without error_extension a 3.x server sends the message string', async () => {
    await replay(['03-errors'], ['Z'], { features: [] })
    assert.deepEqual(await session.conn.call('err_value'), ['r'])
  })

  test('raised errors: cause chain, fields with tuples, Lua errors, duplicates', async () => {
    await replay(['03-errors'], ['X'], { features: ['error_extension'] })
    const raised = await rejection(session.conn.call('err_raise'))
    assert.ok(raised instanceof TarantoolError)
    const chained = await rejection(session.conn.call('err_raise_chain'))
    assert.ok(chained.cause instanceof TarantoolError, 'a raised error keeps its cause')
    const lua = await rejection(session.conn.call('lua_raise'))
    assert.equal(lua.code, 'ER_PROC_LUA')
    assert.equal(lua.fields, undefined)
    const missing = await rejection(session.conn.call('no_such_function'))
    assert.equal(missing.errcode, 33)
    const dup = await rejection(session.conn.insert(512, [1, 'dup']))
    assert.equal(dup.code, 'ER_TUPLE_FOUND')
    assert.deepEqual(dup.fields.new_tuple, [1, 'dup'], 'fields keep their tuples')
    assert.ok(Array.isArray(dup.fields.old_tuple))
  })
})

describe('names in requests (08-space-index-names)', TIMEOUT, () => {
  test('every request by space and index name, with no schema at all', async () => {
    await replay(['08-space-index-names'], ['N'])
    assert.deepEqual(await session.conn.select('named', 'by_name', ['two'], { limit: 10 }), [[2, 'two', 20]])
    assert.deepEqual(await session.conn.select('named', 0, [1], { limit: 10 }), [[1, 'one', 10]])
    assert.deepEqual(await session.conn.insert('named', [3, 'three', 30]), [3, 'three', 30])
    assert.deepEqual(await session.conn.replace('named', [3, 'three', 31]), [3, 'three', 31])
    assert.deepEqual(await session.conn.update('named', 'by_name', ['three'], [['=', 2, 33]]), [3, 'three', 33])
    assert.equal(await session.conn.upsert('named', [4, 'four', 40], [['+', 2, 1]]), undefined)
    await session.conn.upsert('named', [4, 'four', 40], [['+', 2, 1]])
    assert.deepEqual(await session.conn.delete('named', 'by_name', ['four']), [4, 'four', 41])
    assert.equal(session.conn.schema.fetches, 0)
    const names = session.sent().map((r) => [r.body['0x5e'], r.body['0x5f']])
    assert.deepEqual(names[0], ['named', 'by_name'])
  })

  test('unknown names get the server\'s own errors', async () => {
    await replay(['08-space-index-names'], ['N'])
    const space = await rejection(session.conn.select('nope', 0, [], { limit: 100 }))
    assert.equal(space.code, 'ER_NO_SUCH_SPACE')
    const index = await rejection(session.conn.select('named', 'nope', [], { limit: 100 }))
    assert.equal(index.code, 'ER_NO_SUCH_INDEX_NAME')
    assert.equal(index.errcode, 148)
  })
})

describe('pagination (07-pagination)', TIMEOUT, () => {
  const all = { iterator: 'ALL', limit: 3, fetchPos: true }

  test('pages of 3 through 10 tuples visit each once, in order', async () => {
    await replay(['07-pagination'], ['A'])
    const first = await session.conn.select(514, 0, [], all)
    assert.deepEqual(first.tuples.map((t) => t[0]), [1, 2, 3])
    assert.ok(Buffer.isBuffer(first.position))
    assert.equal(first.position.toString('latin1'), 'kQM')
    const second = await session.conn.select(514, 0, [], { ...all, after: first.position })
    assert.deepEqual(second.tuples.map((t) => t[0]), [4, 5, 6])
    const third = await session.conn.select(514, 0, [], { ...all, after: second.tuples[2] })
    assert.deepEqual(third.tuples.map((t) => t[0]), [7, 8, 9])
    const last = await session.conn.select(514, 0, [], { ...all, after: [9] })
    assert.deepEqual(last.tuples, [[10, 0, 'v10']])
    const past = await session.conn.select(514, 0, [], { ...all, after: [10] })
    assert.deepEqual(past, { tuples: [], position: null })
  })

  test('a position goes back as MP_STR with its exact bytes', async () => {
    await replay(['07-pagination'], ['A'])
    const { position } = await session.conn.select(514, 0, [], all)
    await session.conn.select(514, 0, [], { ...all, after: position })
    const sent = session.peer.requests.at(-1).body['0x2e']
    assert.equal(sent, 'kQM', 'sent as a string, not as binary')
  })

  test('a bad position is the server\'s ITERATOR_POSITION error', async () => {
    await replay(['07-pagination'], ['A'])
    const err = await rejection(session.conn.select(514, 0, [], { iterator: 'ALL', limit: 3, after: 'garbage' }))
    assert.equal(err.errcode, 247)
  })

  test('pagination options are checked before anything is sent', async () => {
    await replay(['07-pagination'], ['A'])
    assert.throws(() => session.conn.select(514, 0, [], { fetchPos: 1 }), TypeError)
    assert.throws(() => session.conn.select(514, 0, [], { after: 5 }), TypeError)
  })
})

describe('tuple formats (09-tuple-formats)', TIMEOUT, () => {
  const extensions = ['dml_tuple_extension', 'call_ret_tuple_extension']

  test('DML results decode to objects keyed by the response\'s formats', async () => {
    await replay(['09-tuple-formats'], ['F'], { features: extensions, tuples: 'objects' })
    assert.deepEqual(await session.conn.insert(516, [2, 'b']), { id: 2, name: 'b' })
    assert.deepEqual(await session.conn.select(516, 0, [], { iterator: 'ALL', limit: 100 }), [{ id: 1, name: 'a' }, { id: 2, name: 'b' }])
    assert.deepEqual(await session.conn.replace(516, [2, 'bb']), { id: 2, name: 'bb' })
    assert.deepEqual(await session.conn.update(516, 0, [2], [['=', 2, 'bbb']]), { id: 2, name: 'bb', 2: 'bbb' })
    assert.deepEqual(await session.conn.delete(516, 0, [2]), { id: 2, name: 'bb', 2: 'bbb' })
    assert.deepEqual(await session.conn.select(512, 0, [], { limit: 100 }), [{ 0: 1, 1: 'hello', 2: 42 }], 'no format: keys are positions')
    assert.deepEqual(await session.conn.select(516, 0, [99], { limit: 100 }), [])
  })

  test('box.tuple values in call results decode to objects, nested ones too', async () => {
    await replay(['09-tuple-formats'], ['F'], { features: extensions, tuples: 'objects' })
    assert.deepEqual(await session.conn.call('tuple_fmt'), [{ id: 1, name: 'a' }])
    assert.deepEqual(await session.conn.call('space_tuple'), [{ id: 1, name: 'a' }])
    const mixed = await session.conn.call('tuples_mixed')
    assert.ok(mixed.length > 0 && mixed.every((t) => !Array.isArray(t)), JSON.stringify(mixed))
    assert.deepEqual(await session.conn.call('echo', [1, 'x']), [1, 'x'])
    assert.deepEqual(await session.conn.eval('return box.space.fmt:select()'), [[{ id: 1, name: 'a' }]])
  })

  test('in arrays mode the same responses decode to plain arrays', async () => {
    await replay(['09-tuple-formats'], ['F'], { features: extensions })
    assert.deepEqual(await session.conn.insert(516, [2, 'b']), [2, 'b'])
    assert.deepEqual(await session.conn.select(516, 0, [], { iterator: 'ALL', limit: 100 }), [[1, 'a'], [2, 'b']])
    assert.deepEqual(await session.conn.call('tuple_fmt', [], { tuples: 'arrays' }), [[1, 'a']])
    assert.deepEqual(await session.conn.call('tuple_fmt', [], { tuples: 'objects' }).then((r) => r), [{ id: 1, name: 'a' }])
  })

  test('without the extensions tuples are plain arrays, as from 2.x', async () => {
    await replay(['09-tuple-formats'], ['G'], { features: [] })
    assert.deepEqual(await session.conn.select(516, 0, [], { iterator: 'ALL', limit: 100 }), [[1, 'a']])
    assert.deepEqual(await session.conn.call('tuple_fmt'), [[1, 'a']])
  })
})

describe('values (10-values)', TIMEOUT, () => {
  test('datetimes exact to the nanosecond, with offset and tz index', async () => {
    await replay(['10-values'], ['A'])
    const [[plain, plainText], [offset, offsetText], [zoned]] = await session.conn.call('dt_all')
    assert.ok(plain instanceof Datetime)
    assert.deepEqual({ ...plain }, { seconds: 1710506096n, nsec: 0, tzoffset: 0, tzindex: 0 })
    assert.equal(plainText, '2024-03-15T12:34:56Z')
    assert.deepEqual({ ...offset }, { seconds: 1710495296n, nsec: 123456789, tzoffset: 180, tzindex: 0 })
    assert.equal(offset.toISOString(), '2024-03-15T12:34:56.123456789+03:00')
    assert.equal(offsetText, '2024-03-15T12:34:56.123456789+0300')
    assert.equal(offset.toDate().toISOString(), '2024-03-15T09:34:56.123Z', 'toDate keeps milliseconds only')
    assert.deepEqual({ ...zoned }, { seconds: 1710495296n, nsec: 0, tzoffset: 180, tzindex: 947 })
  })

  test('intervals, decimals, uuids, 64-bit integers', async () => {
    await replay(['10-values'], ['A'])
    const [[all], [last], [empty]] = await session.conn.call('interval_all')
    assert.deepEqual({ ...all }, { year: 1, month: 2, week: 3, day: 4, hour: 5, min: 6, sec: 7, nsec: 8, adjust: 'none' })
    assert.equal(last.month, -1)
    assert.equal(last.adjust, 'last')
    assert.equal(empty.adjust, 'excess')
    const [neg, big, half, uuid] = await session.conn.call('dec_uuid')
    assert.deepEqual([neg, big, half].map(String), ['-12.345', '10000000000', '0.5'])
    assert.equal(String(uuid), 'f47ac10b-58cc-4372-a567-0e02b2c3d479')
    assert.deepEqual(await session.conn.call('int64_limits'), [9223372036854775807n, -9223372036854775808n, 18446744073709551615n, 4294967296, -1, 0.5])
  })

  test('client-built values reach the server byte for byte (it echoes them back)', async () => {
    await replay(['10-values'], ['A'])
    const sent = [
      new Datetime({ seconds: 1710506096, nsec: 5, tzoffset: -60 }),
      new Decimal('-1.23'),
      new Uuid('f47ac10b-58cc-4372-a567-0e02b2c3d479'),
      new Interval({ year: 1, day: 2, adjust: 'excess' }),
    ]
    const echoed = await session.conn.call('echo', sent)
    assert.deepEqual({ ...echoed[0] }, { ...sent[0] })
    assert.equal(String(echoed[1]), '-1.23')
    assert.ok(echoed[2].equals(sent[2]))
    assert.deepEqual({ ...echoed[3] }, { ...sent[3] })
    assert.deepEqual(await session.conn.call('echo', [Buffer.from([0, 1, 0xfe, 0xff])]), [Buffer.from([0, 1, 0xfe, 0xff])])
  })
})

describe('pushes and SQL on 3.3 (11-session-push, 12-sql)', TIMEOUT, () => {
  test('box.session.push arrives as on 2.x: iterated, then the result', async () => {
    await replay(['11-session-push'], ['A'])
    const call = session.conn.call('pushes', [3])
    const seen = []
    for await (const v of call) seen.push(v)
    assert.deepEqual(seen, [1, 2, 3])
    assert.deepEqual(await call, ['done'])
    const pushed = []
    const values = await session.conn.eval("box.session.push({x = 1}) box.session.push('s') return 1, 2", [], { onPush: (v) => pushed.push(v) })
    assert.deepEqual(pushed, [{ x: 1 }, 's'])
    assert.deepEqual(values, [1, 2])
  })

  test('SQL column names keep their case; full scans need SEQSCAN', async () => {
    await replay(['12-sql'], ['A'])
    await session.conn.execute('CREATE TABLE t (id INT PRIMARY KEY, name TEXT)')
    assert.equal((await session.conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")).rowCount, 2)
    const byId = await session.conn.execute('SELECT * FROM t WHERE id = 1', [], { tuples: 'objects' })
    assert.deepEqual(byId.rows, [{ id: 1, name: 'a' }])
    const scan = await rejection(session.conn.execute("SELECT * FROM t WHERE name = 'a'"))
    assert.equal(scan.errcode, 259)
    assert.equal(scan.code, 'ER_SQL_SEQ_SCAN')
    await rejection(session.conn.execute('SELECT * FROM t'))
    assert.deepEqual((await session.conn.execute("SELECT * FROM SEQSCAN t WHERE name = 'a'")).rows, [[1, 'a']])
  })
})

test('the fixtures are the recorded transcripts (a 3.3.0 greeting)', () => {
  const greeting = loadScenario('01-greeting-id').frames[0].greeting
  assert.match(greeting, /^Tarantool 3\.3\.0 \(Binary\) /)
})
