'use strict'

// The MessagePack mapping: values round-tripped through Tarantool (`echo` returns its
// arguments), values Lua creates, and, for what Tarantool 2.6 lacks (datetime, interval), the
// codec alone. Where the server's version matters, the expectation says which version does what.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, Decimal, Uuid, Datetime, Interval, Extension, TarantoolError, ProtocolError } = require('..')
const { encode, decode } = require('../lib/msgpack')
const { startTarantool, stopAll, atLeast } = require('./helpers/tarantool')

const TIMEOUT = { timeout: 60000 } // for each suite and hook: nothing here may hang the run
let server
let conn

before(async () => {
  server = await startTarantool()
  conn = await connect(`tester:secret@127.0.0.1:${server.port}`)
}, TIMEOUT)

after(async () => {
  if (conn) await conn.close()
  await stopAll()
}, TIMEOUT)

async function echo(value) {
  const out = await conn.call('echo', [value])
  assert.equal(out.length, 1)
  return out[0]
}

// ---------------------------------------------------------------------------------------------
// through the server

describe('integers', TIMEOUT, () => {
  test('safe integers come back as the same numbers', async () => {
    const values = [
      0, 1, -1, 31, 32, -32, -33, 127, 128, 255, 256, -128, -129, 65535, 65536, -32768, -32769,
      2 ** 31, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31) - 1, 2 ** 32, 2 ** 32 - 1, -(2 ** 32), 2 ** 40, -(2 ** 40),
      Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1,
    ]
    const out = await conn.call('echo', values)
    assert.equal(out.length, values.length)
    out.forEach((v, i) => {
      assert.equal(typeof v, 'number', `${values[i]} came back as ${typeof v}`)
      assert.equal(v, values[i])
    })
  })

  test('integers beyond ±(2^53-1) come back as BigInt', async () => {
    const values = [2n ** 63n - 1n, 18446744073709551615n, -(2n ** 63n), 2n ** 53n, 2n ** 63n, -(2n ** 53n) - 1n]
    const out = await conn.call('echo', values)
    out.forEach((v, i) => {
      assert.equal(typeof v, 'bigint', `${values[i]} came back as ${typeof v}`)
      assert.equal(v, values[i])
    })
  })

  test('-(2^53) is outside ±(2^53-1), so it comes back as BigInt like 2^53 does', async () => {
    assert.equal(await echo(2n ** 53n), 2n ** 53n)
    assert.equal(await echo(-(2n ** 53n)), -(2n ** 53n))
  })

  test('a BigInt within the safe range comes back as a number', async () => {
    const out = await conn.call('echo', [5n, -5n, 0n, BigInt(Number.MAX_SAFE_INTEGER), -(2n ** 40n)])
    assert.deepEqual(out, [5, -5, 0, Number.MAX_SAFE_INTEGER, -(2 ** 40)])
  })

  test('an integral number beyond 2^53 is sent as an integer', async () => {
    assert.equal(await echo(2 ** 60), 2n ** 60n)
    assert.equal(await echo(-(2 ** 60)), -(2n ** 60n))
    assert.deepEqual(await conn.eval('return tostring(...)', [2 ** 60]), ['1152921504606846976ULL'])
  })

  test('BigInts outside int64/uint64 are RangeErrors', async () => {
    await assert.rejects(() => conn.call('echo', [2n ** 64n]), RangeError)
    await assert.rejects(() => conn.call('echo', [-(2n ** 63n) - 1n]), RangeError)
  })
})

describe('floats, booleans, nil', TIMEOUT, () => {
  test('floats', async () => {
    const out = await conn.call('echo', [1.5, -0.25, 0.1, 5e-324, Number.MIN_VALUE, Infinity, -Infinity, NaN])
    assert.deepEqual(out.slice(0, 7), [1.5, -0.25, 0.1, 5e-324, Number.MIN_VALUE, Infinity, -Infinity])
    assert.ok(Number.isNaN(out[7]))
    assert.deepEqual(await conn.eval('return ... * 2', [1.25]), [2.5])
  })

  test('integral numbers beyond the int64/uint64 range are sent as doubles', async () => {
    // Number.isInteger(1e20) is true, but no MessagePack integer holds it; a double does.
    for (const n of [2 ** 64, 1e20, -1e20, 1e300, Number.MAX_VALUE, -Number.MAX_VALUE]) {
      const out = await conn.call('echo', [n]).then((r) => r[0], (err) => err)
      assert.equal(out, n, `${n}: ${out instanceof Error ? `${out.name}: ${out.message}` : out}`)
    }
  })

  test('booleans', async () => {
    assert.deepEqual(await conn.call('echo', [true, false]), [true, false])
    assert.deepEqual(await conn.eval('return type(...)', [true]), ['boolean'])
  })

  test('null and undefined become nil, which comes back as null', async () => {
    assert.equal(await echo(null), null)
    assert.equal(await echo(undefined), null)
    assert.deepEqual(await echo([1, null, undefined, 4]), [1, null, null, 4])
    assert.deepEqual(await conn.eval('return ... == nil', [null]), [true])
  })
})

describe('strings and binary', TIMEOUT, () => {
  test('strings, including non-ASCII and every header size', async () => {
    const values = [
      '', 'a', 'hello', 'héllo wörld', '日本語テキスト', 'emoji 😀👍🏽', 'x'.repeat(23), 'x'.repeat(24),
      'x'.repeat(31), 'x'.repeat(32), 'ü'.repeat(15), 'ü'.repeat(16), 'ü'.repeat(31), 'x'.repeat(255), 'x'.repeat(256),
      'x'.repeat(65535), 'x'.repeat(65536), 'a\u0000b',
    ]
    const out = await conn.call('echo', values)
    out.forEach((v, i) => assert.equal(v, values[i], `string #${i} (length ${values[i].length})`))
    // the server sees the same characters, not just the same bytes
    assert.deepEqual(await conn.eval('return #(...)', ['héllo']), [6])
    assert.deepEqual(await conn.eval("return 'ünï' .. 'cødé'"), ['ünïcødé'])
  })

  test('every length from 0 to 70: ASCII, and with one non-ASCII character first, inside or last', async () => {
    const values = []
    for (let n = 0; n <= 70; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(0x21 + (i % 90))).join('')
      values.push(ascii)
      if (n > 0) {
        for (const at of new Set([0, n >> 1, n - 1])) values.push(ascii.slice(0, at) + 'é' + ascii.slice(at + 1))
      }
    }
    const out = await conn.call('echo', values)
    assert.equal(out.length, values.length)
    out.forEach((v, i) => assert.equal(v, values[i], `string #${i} (length ${values[i].length})`))
  })

  test('arrays of every length from 0 to 20 keep their elements in order', async () => {
    const arrays = Array.from({ length: 21 }, (_, n) => Array.from({ length: n }, (_, i) => (i % 2 ? `e${i}` : i)))
    assert.deepEqual(await conn.call('echo', arrays), arrays)
  })

  test('long strings (> 64 KiB), ASCII and multi-byte', async () => {
    const ascii = 'abcdefghij'.repeat(10000)
    const wide = 'é✓😀'.repeat(20000) // 180 000 bytes of UTF-8
    assert.equal(await echo(ascii), ascii)
    assert.equal(await echo(wide), wide)
    assert.deepEqual(await conn.eval('return #(...)', [wide]), [Buffer.byteLength(wide)])
  })

  // Lua before 3.0 has no binary type: a bin argument becomes a Lua string and `echo` returns
  // it as str (3.0 echoes a varbinary back as bin). A varbinary tuple field and SQL keep MP_BIN
  // on every version, so those carry the round trip.
  before(async () => {
    await conn.eval(`
      local s = box.schema.space.create('bins', {format = {{name = 'id', type = 'unsigned'}, {name = 'b', type = 'varbinary'}}})
      s:create_index('pk')`)
  }, TIMEOUT)

  test('a Buffer is sent as bin and comes back as a Buffer', async () => {
    const bufs = [Buffer.alloc(0), Buffer.from([0, 1, 2, 255]), Buffer.alloc(300, 7), Buffer.alloc(70000, 9)]
    for (const [i, buf] of bufs.entries()) {
      const inserted = await conn.insert('bins', [i, buf]) // a varbinary field takes only MP_BIN
      assert.ok(Buffer.isBuffer(inserted[1]), `length ${buf.length} came back as ${typeof inserted[1]}`)
      assert.ok(inserted[1].equals(buf))
      const [[, selected]] = await conn.select('bins', 'pk', [i])
      assert.ok(Buffer.isBuffer(selected))
      assert.ok(selected.equals(buf))
    }
    const sql = await conn.execute('SELECT ?, typeof(?)', [Buffer.from([1, 2]), Buffer.from([3])])
    assert.ok(Buffer.isBuffer(sql.rows[0][0]))
    assert.deepEqual([...sql.rows[0][0]], [1, 2])
    assert.equal(sql.rows[0][1], 'varbinary')
    // the str MessagePack type is not accepted where varbinary is required
    const err = await conn.insert('bins', [100, 'text']).then(() => null, (e) => e)
    assert.ok(err instanceof TarantoolError)
    assert.equal(err.code, 'ER_FIELD_TYPE')
  })

  test('a Uint8Array is sent as bin and comes back as a Buffer', async () => {
    const [, out] = await conn.insert('bins', [200, new Uint8Array([10, 20, 30])])
    assert.ok(Buffer.isBuffer(out))
    assert.deepEqual([...out], [10, 20, 30])
    // a view into a larger buffer sends only its own bytes
    const view = new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 3)
    const [, viewOut] = await conn.insert('bins', [201, view])
    assert.deepEqual([...viewOut], [2, 3])
    const pooled = Buffer.from([6, 7, 8, 9]).subarray(2) // a slice of Node's shared pool
    const [, pooledOut] = await conn.insert('bins', [202, pooled])
    assert.deepEqual([...pooledOut], [8, 9])
  })

  test('a bin the server produces decodes as a Buffer', async () => {
    const r = await conn.execute("SELECT X'0aff00'")
    assert.ok(Buffer.isBuffer(r.rows[0][0]))
    assert.deepEqual([...r.rows[0][0]], [0x0a, 0xff, 0x00])
  })
})

describe('arrays and maps', TIMEOUT, () => {
  test('nested arrays', async () => {
    const v = [1, [2, [3, [4, []]]], ['a', ['b']], []]
    assert.deepEqual(await echo(v), v)
    const long = Array.from({ length: 70000 }, (_, i) => i)
    assert.deepEqual(await echo(long), long)
  })

  test('objects come back as plain objects', async () => {
    const v = { a: 1, b: 'two', c: { d: [1, 2, { e: null }] }, 'with space': true }
    const out = await echo(v)
    assert.deepEqual(out, v)
    assert.equal(Object.getPrototypeOf(out), Object.prototype)
    assert.deepEqual(await echo({}), {})
    const big = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))
    assert.deepEqual(await echo(big), big)
  })

  test('a Map with integer keys comes back as an object with those keys', async () => {
    const out = await echo(new Map([[1, 'a'], [2, 'b'], [300, 'c']]))
    assert.ok(!(out instanceof Map))
    assert.deepEqual(out, { 1: 'a', 2: 'b', 300: 'c' })
    // the server saw integer keys
    assert.deepEqual(await conn.eval('return (...)[300]', [new Map([[300, 'x']])]), ['x'])
  })

  test('a Map with an array key comes back as a Map', async () => {
    const out = await echo(new Map([[[1, 2], 'pair'], ['s', 1]]))
    assert.ok(out instanceof Map)
    // Lua tables do not keep key order
    const entries = [...out.entries()].sort((a, b) => (typeof a[0] === 'string' ? 1 : 0) - (typeof b[0] === 'string' ? 1 : 0))
    assert.deepEqual(entries, [[[1, 2], 'pair'], ['s', 1]])
  })

  test('a Map with a boolean key comes back as a Map', async () => {
    const out = await echo(new Map([[true, 'yes']]))
    assert.ok(out instanceof Map)
    assert.deepEqual([...out.entries()], [[true, 'yes']])
  })
})

describe('decimal (ext 1)', TIMEOUT, () => {
  test('round trips keep every digit', async () => {
    for (const text of ['-12.340', '0.001', '12345678901234567890.123456789', '0', '-1', '1.50', '99999999999999999999999999999999999999']) {
      const out = await echo(new Decimal(text))
      assert.ok(out instanceof Decimal, `${text} came back as ${typeof out}`)
      assert.equal(out.toString(), text)
    }
  })

  test('the server reads a Decimal as a decimal', async () => {
    assert.deepEqual(await conn.eval("return require('decimal').is_decimal(...)", [new Decimal('1.1')]), [true])
    const [sum] = await conn.eval('local d = ... return d + 1', [new Decimal('0.1')])
    assert.ok(sum instanceof Decimal)
    assert.equal(sum.toString(), '1.1')
    assert.deepEqual(await conn.eval('return tostring(...)', [new Decimal('-12.340')]), ['-12.340'])
  })

  test('a decimal created in Lua decodes as Decimal', async () => {
    const [d] = await conn.eval("return require('decimal').new('1.5')")
    assert.ok(d instanceof Decimal)
    assert.equal(d.toNumber(), 1.5)
    assert.equal(d.toString(), '1.5')
    const [big, neg, tiny] = await conn.eval("local dec = require('decimal') return dec.new('1e10'), dec.new('-0.5'), dec.new('1e-20')")
    assert.equal(big.toString(), '10000000000')
    assert.equal(neg.toString(), '-0.5')
    assert.equal(tiny.toString(), '0.00000000000000000001')
  })
})

describe('uuid (ext 2)', TIMEOUT, () => {
  const text = '6ba7b810-9dad-11d1-80b4-00c04fd430c8'

  test('a Uuid round trips', async () => {
    const out = await echo(new Uuid(text))
    assert.ok(out instanceof Uuid)
    assert.equal(out.toString(), text)
    assert.ok(out.equals(new Uuid(text)))
    assert.deepEqual(await conn.eval('return tostring(...)', [new Uuid(text.toUpperCase())]), [text])
  })

  test('a uuid created in Lua decodes as Uuid with the canonical text', async () => {
    const [u] = await conn.eval(`return require('uuid').fromstr('${text.toUpperCase()}')`)
    assert.ok(u instanceof Uuid)
    assert.equal(u.toString(), text)
    const [fresh, str] = await conn.eval("local u = require('uuid').new() return u, u:str()")
    assert.ok(fresh instanceof Uuid)
    assert.equal(fresh.toString(), str)
  })
})

describe('error (ext 3)', TIMEOUT, () => {
  test('an error returned as a value decodes as TarantoolError', async () => {
    // Before 2.10 the server sends an error value as MP_ERROR only when the session asks for it
    // (error_marshaling_enabled; 3.0 has no such setting). From 2.10 on, connect() negotiates the
    // error_extension feature with IPROTO_ID instead, and the same value arrives with no setting.
    const negotiated = atLeast(2, 10)
    if (negotiated && conn.protocol !== undefined) {
      assert.ok(conn.protocol.features.includes('error_extension'), `negotiated: ${JSON.stringify(conn.protocol)}`)
    }
    const setting = negotiated ? '' : 'box.session.settings.error_marshaling_enabled = true '
    const [err] = await conn.eval(`${setting}return box.error.new({code = 33, reason = 'custom'})`)
    assert.ok(err instanceof TarantoolError, `got ${err && err.constructor && err.constructor.name}`)
    assert.equal(err.code, 'ER_NO_SUCH_PROC')
    assert.equal(err.errcode, 33)
    assert.equal(err.message, 'custom')
    assert.ok(Array.isArray(err.serverStack))
    assert.equal(err.serverStack[0].message, 'custom')
    assert.equal(err.serverStack[0].code, 33)
    assert.equal(err.serverStack[0].type, 'ClientError')
  })
})

describe('tuple fields', TIMEOUT, () => {
  before(async () => {
    await conn.eval(`
      local s = box.schema.space.create('u64', {format = {{name = 'id', type = 'unsigned'}}})
      s:create_index('pk')
      local t = box.schema.space.create('i64', {format = {{name = 'id', type = 'integer'}, {name = 'd', type = 'decimal', is_nullable = true}}})
      t:create_index('pk')`)
  }, TIMEOUT)

  test('an unsigned field stores 18446744073709551615n exactly', async () => {
    const max = 18446744073709551615n
    assert.deepEqual(await conn.insert('u64', [max]), [max])
    const rows = await conn.select('u64', 'pk', [max])
    assert.equal(rows.length, 1)
    assert.equal(typeof rows[0][0], 'bigint')
    assert.equal(rows[0][0], max)
    assert.deepEqual(await conn.eval("return tostring(box.space.u64:get{18446744073709551615ULL}[1])"), ['18446744073709551615ULL'])
  })

  test('an integer field stores -(2^63) and a decimal field a Decimal', async () => {
    const min = -(2n ** 63n)
    await conn.insert('i64', [min, new Decimal('3.14')])
    const [[id, d]] = await conn.select('i64', 'pk', [min])
    assert.equal(id, min)
    assert.ok(d instanceof Decimal)
    assert.equal(d.toString(), '3.14')
  })
})

// ---------------------------------------------------------------------------------------------
// the codec alone

describe('codec: datetime (ext 4)', TIMEOUT, () => {
  test('a full Datetime round trips', () => {
    const dt = new Datetime({ seconds: 1700000000n, nsec: 123456789, tzoffset: 180, tzindex: 0 })
    const out = decode(encode(dt))
    assert.ok(out instanceof Datetime)
    assert.equal(out.seconds, 1700000000n)
    assert.equal(out.nsec, 123456789)
    assert.equal(out.tzoffset, 180)
    assert.equal(out.tzindex, 0)
  })

  test('seconds only, negative seconds, and a tzindex', () => {
    for (const fields of [{ seconds: 0n }, { seconds: -1n }, { seconds: -62135596800n, nsec: 1 }, { seconds: 86400n, tzoffset: -300, tzindex: 42 }]) {
      const out = decode(encode(new Datetime(fields)))
      assert.ok(out instanceof Datetime)
      assert.deepEqual(
        { seconds: out.seconds, nsec: out.nsec, tzoffset: out.tzoffset, tzindex: out.tzindex },
        { nsec: 0, tzoffset: 0, tzindex: 0, ...fields },
      )
    }
  })

  test("the wire layout is Tarantool's (8 bytes, or 16 with nsec/tzoffset/tzindex)", () => {
    assert.deepEqual([...encode(new Datetime({ seconds: 1n }))], [0xd7, 0x04, 1, 0, 0, 0, 0, 0, 0, 0])
    assert.deepEqual(
      [...encode(new Datetime({ seconds: 1n, nsec: 2, tzoffset: 3, tzindex: 4 }))],
      [0xd8, 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 4, 0],
    )
  })

  test('a Date is sent as a datetime', () => {
    const date = new Date(1700000000123)
    const out = decode(encode(date))
    assert.ok(out instanceof Datetime)
    assert.equal(out.seconds, 1700000000n)
    assert.equal(out.nsec, 123000000)
    assert.equal(out.toDate().getTime(), date.getTime())
    assert.equal(Datetime.fromDate(new Date(-1500)).toDate().getTime(), -1500)
  })
})

describe('codec: interval (ext 6)', TIMEOUT, () => {
  test('an Interval round trips', () => {
    const fields = { year: 1, month: -2, week: 3, day: -4, hour: 5, min: 6, sec: -7, nsec: 8, adjust: 'last' }
    const out = decode(encode(new Interval(fields)))
    assert.ok(out instanceof Interval)
    assert.deepEqual({ ...out }, fields)
    for (const adjust of ['none', 'excess', 'last']) {
      assert.equal(decode(encode(new Interval({ day: 1, adjust }))).adjust, adjust)
    }
    const empty = decode(encode(new Interval()))
    assert.deepEqual({ ...empty }, { year: 0, month: 0, week: 0, day: 0, hour: 0, min: 0, sec: 0, nsec: 0, adjust: 'none' })
  })

  test("adjust uses Tarantool's wire values (excess 0, none 1, last 2)", () => {
    // src/lib/core/mp_interval.c packs the number of non-zero fields, then (field id, value)
    // pairs; adjust is field 8 holding dt_adjust_t (DT_EXCESS = 0, DT_LIMIT = 1 for 'none',
    // DT_SNAP = 2 for 'last'), and 0 is left out. datetime.interval.new{month = 1} therefore
    // travels as count 2, month 1, adjust 1.
    const tarantoolBytes = Buffer.from([0xc7, 0x05, 0x06, 0x02, 0x01, 0x01, 0x08, 0x01])
    const decoded = decode(tarantoolBytes)
    assert.equal(decoded.month, 1)
    assert.equal(decoded.adjust, 'none')
    assert.deepEqual([...encode(new Interval({ month: 1 }))], [...tarantoolBytes])
    assert.deepEqual([...encode(new Interval({ month: 1, adjust: 'excess' }))], [0xc7, 0x03, 0x06, 0x01, 0x01, 0x01])
    assert.equal(decode(Buffer.from([0xc7, 0x03, 0x06, 0x01, 0x01, 0x01])).adjust, 'excess') // no adjust field: DT_EXCESS
    assert.deepEqual([...encode(new Interval({ month: 1, adjust: 'last' }))], [0xc7, 0x05, 0x06, 0x02, 0x01, 0x01, 0x08, 0x02])
  })
})

describe('codec: other values', TIMEOUT, () => {
  test("a Decimal is encoded as Tarantool's documentation shows", () => {
    // https://www.tarantool.io/en/doc/latest/reference/internals/msgpack_extensions/ : -12.34
    assert.deepEqual([...encode(new Decimal('-12.34'))], [0xd6, 0x01, 0x02, 0x01, 0x23, 0x4d])
    assert.equal(decode(Buffer.from([0xd6, 0x01, 0x02, 0x01, 0x23, 0x4d])).toString(), '-12.34')
  })

  test('an unknown extension decodes as Extension and encodes back', () => {
    const bytes = Buffer.from([0xd5, 0x20, 0xab, 0xcd])
    const out = decode(bytes)
    assert.ok(out instanceof Extension)
    assert.equal(out.type, 0x20)
    assert.deepEqual([...out.data], [0xab, 0xcd])
    assert.deepEqual([...encode(new Extension(0x20, Buffer.from([0xab, 0xcd])))], [...bytes])
  })

  test('truncated input throws', () => {
    const samples = [
      300, -300, 70000, 2 ** 40, -(2 ** 40), 18446744073709551615n, 1.5, 'abc', 'x'.repeat(40), 'y'.repeat(300),
      'z'.repeat(70000), [1, [2, 'three']], { a: 1, b: [true, false, null] }, new Map([[[1], 2]]),
      new Decimal('-1.25'), new Uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
      new Datetime({ seconds: 5n, nsec: 7, tzoffset: 60 }), new Interval({ year: 1, adjust: 'last' }),
    ]
    for (const value of samples) {
      const bytes = encode(value)
      const whole = decode(bytes)
      if (value instanceof Decimal || value instanceof Uuid) assert.equal(String(whole), String(value))
      else assert.deepEqual(whole, value)
      for (let n = 0; n < bytes.length; n++) {
        assert.throws(() => decode(bytes.subarray(0, n)), { name: 'ProtocolError', code: 'ERR_MSGPACK_TRUNCATED' }, `${bytes.length}-byte encoding of ${String(value).slice(0, 20)} cut to ${n}`)
      }
    }
  })

  test('truncated binary throws', () => {
    for (const value of [Buffer.from([1, 2, 3]), Buffer.alloc(300), Buffer.alloc(70000)]) {
      const bytes = encode(value)
      assert.ok(decode(bytes).equals(value))
      for (let n = 0; n < bytes.length; n++) {
        assert.throws(() => decode(bytes.subarray(0, n)), { name: 'ProtocolError', code: 'ERR_MSGPACK_TRUNCATED' }, `${bytes.length}-byte bin cut to ${n} bytes`)
      }
    }
  })

  test('0xc1 (never used) throws ERR_MSGPACK_INVALID', () => {
    const invalid = (err) => err instanceof ProtocolError && err.code === 'ERR_MSGPACK_INVALID'
    assert.throws(() => decode(Buffer.from([0xc1])), invalid)
    assert.throws(() => decode(Buffer.from([0x92, 0x01, 0xc1])), invalid)
    assert.throws(() => decode(Buffer.from([0x81, 0xa1, 0x61, 0xc1])), invalid)
  })
})
