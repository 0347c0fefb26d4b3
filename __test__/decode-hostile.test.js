'use strict'

// What the server sends is untrusted, stored data most of all: the JS decoder against values
// built to corrupt or stall it (prototype keys, exponential shapes, deep nesting, huge declared
// lengths, extension payloads that run past their end), then the same values stored in a real
// server and read back through select, call, SQL, watchers and errors.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { inspect } = require('node:util')

const { connect, ProtocolError, TarantoolError, Decimal, Uuid, Datetime, Interval, Extension } = require('..')
const { decode, encode, tupleObject, tupleFormatsOf, findKey, MAX_DEPTH } = require('../lib/msgpack')
const { dataOf } = require('../lib/call')
const { fromErrorResponse } = require('../lib/errors')
const { startTarantool, stopAll, atLeast } = require('./helpers/tarantool')

const TIMEOUT = { timeout: 60000 }

const cat = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))))
const arr32 = (n) => [0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]

/** `fn` throws a ProtocolError with `code`. */
function throwsCode(fn, code, what) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof ProtocolError, `${what}: expected a ProtocolError, got ${err?.name}: ${err?.message}`)
    assert.equal(err.code, code, `${what}: ${err.message}`)
    return true
  }, what)
}

const TRUNCATED = 'ERR_MSGPACK_TRUNCATED'
const INVALID = 'ERR_MSGPACK_INVALID'
const TOO_DEEP = 'ERR_MSGPACK_TOO_DEEP'

/** The descriptor of an own, plain data property. */
const dataProperty = (value) => ({ value, writable: true, enumerable: true, configurable: true })

function assertPlain(o, what) {
  assert.equal(Object.getPrototypeOf(o), Object.prototype, `${what}: prototype`)
  assert.equal(o.admin, undefined, `${what}: nothing inherited from data`)
  assert.equal(Object.prototype.hasOwnProperty.call(o, '__proto__'), true, `${what}: __proto__ is its own`)
}

// { a: <inner>, [true]: 0 } nested `levels` times.
function boolKeyAfterNested(levels) {
  let inner = Buffer.from([0x00])
  for (let i = 0; i < levels; i++) inner = cat([0x82, 0xa1, 0x61], inner, [0xc3, 0x00])
  return inner
}

function assertBoolKeyNest(v, levels) {
  for (let i = 0; i < levels; i++) {
    assert.ok(v instanceof Map, `level ${i}`)
    assert.deepEqual([...v.keys()], ['a', true], `level ${i}`)
    assert.equal(v.get(true), 0)
    v = v.get('a')
  }
  assert.equal(v, 0)
}

after(() => {
  // Nothing decoded above may have reached Object.prototype.
  assert.equal({}.admin, undefined)
  assert.equal({}.polluted, undefined)
})

test('an error stack of 20,000 entries keeps its newest 64: the cause chain costs linear time, not quadratic', () => {
  const entries = Array.from({ length: 20000 }, (_, i) => new Map([[0, 'ClientError'], [3, `entry ${i}`], [5, 1]]))
  const payload = encode(new Map([[0, entries]]))
  const head = Buffer.alloc(6)
  head[0] = 0xc9
  head.writeUInt32BE(payload.length, 1)
  head[5] = 3
  const err = decode(cat(head, payload))
  assert.ok(err instanceof TarantoolError)
  assert.equal(err.message, 'entry 0')
  assert.equal(err.serverStack.length, 64)
  let depth = 0
  for (let e = err; e !== undefined; e = e.cause) depth++
  assert.equal(depth, 64)
})

describe('prototype keys are plain data', TIMEOUT, () => {
  test('a map key __proto__ is an own data property, never the prototype', () => {
    const bytes = encode(new Map([['__proto__', { admin: true }]]))
    const o = decode(bytes)
    assertPlain(o, 'decoded map')
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, '__proto__'), dataProperty({ admin: true }))
    assert.deepEqual(Object.keys(o), ['__proto__'])
    assert.equal(o.hasOwnProperty('admin'), false, 'Object.prototype methods still work')
    assert.equal(JSON.stringify(o), '{"__proto__":{"admin":true}}')
    assert.deepEqual(encode(o), bytes, 'encodes back to the same bytes')
  })

  test('constructor, prototype and the names of Object.prototype methods are own data too', () => {
    const o = decode(encode(new Map([
      ['constructor', { prototype: { polluted: true } }], ['prototype', 1], ['hasOwnProperty', 'h'],
      ['toString', 't'], ['valueOf', 'v'], ['__defineGetter__', 0], ['isPrototypeOf', null],
    ])))
    assert.equal(Object.getPrototypeOf(o), Object.prototype)
    assert.deepEqual(Object.keys(o), ['constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', 'isPrototypeOf'])
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, 'constructor'), dataProperty({ prototype: { polluted: true } }))
    assert.equal(o.toString, 't')
    assert.equal(Object.prototype.toString.call(o), '[object Object]')
    assert.equal(String({}), '[object Object]')
  })

  test('__proto__ nested, repeated, in a str8 encoding, after an integer key, before a non-string key', () => {
    const nested = decode(encode({ a: new Map([['__proto__', { x: 1 }]]) }))
    assertPlain(nested.a, 'nested')
    assert.deepEqual(nested.a.__proto__, { x: 1 })

    const repeated = decode(cat([0x82], encode('__proto__'), encode({ x: 1 }), encode('__proto__'), encode({ x: 2 })))
    assert.deepEqual(Object.keys(repeated), ['__proto__'])
    assert.deepEqual(Object.getOwnPropertyDescriptor(repeated, '__proto__'), dataProperty({ x: 2 }))

    const str8 = decode(cat([0x81, 0xd9, 0x09], Buffer.from('__proto__'), encode({ admin: true })))
    assertPlain(str8, 'str8 key')
    assert.deepEqual(Object.getOwnPropertyDescriptor(str8, '__proto__'), dataProperty({ admin: true }))

    const afterInt = decode(encode(new Map([[1, 'one'], ['__proto__', { admin: true }]])))
    assertPlain(afterInt, 'after an integer key')
    assert.deepEqual(Object.keys(afterInt), ['1', '__proto__'])

    const asMap = decode(encode(new Map([['__proto__', { admin: true }], [true, 2]])))
    assert.ok(asMap instanceof Map)
    assert.deepEqual([...asMap], [['__proto__', { admin: true }], [true, 2]])
    assert.equal(Object.getPrototypeOf(asMap.get('__proto__')), Object.prototype)
  })

  test('tuple objects take field names as own properties; other names keep positions', () => {
    const o = tupleObject([1, { admin: true }, 'c', 'p', 5], ['id', '__proto__', 'constructor', 'prototype'])
    assertPlain(o, 'tuple object')
    assert.deepEqual(Object.keys(o), ['4', 'id', '__proto__', 'constructor', 'prototype'])
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, '__proto__'), dataProperty({ admin: true }))
    assert.equal(o.constructor, 'c')
    assert.equal(o[4], 5)
    // A name that is not a string (from a hostile format or SQL metadata) is never made a key.
    const hostileName = decode(encode(new Map([['toString', 1], ['valueOf', 2]])))
    assert.deepEqual(tupleObject(['x', 'y'], [hostileName, 'b']), { 0: 'x', b: 'y' })
    const notARow = { length: 2 ** 31 }
    assert.equal(tupleObject(notARow, ['a']), notARow, 'a row that is not an array is left as it is')
  })

  test('MP_TUPLE objects through a body whose TUPLE_FORMATS names __proto__ and constructor', () => {
    const tuple = new Extension(7, cat(encode(1), encode([1, { admin: true }, 'c', 'extra'])))
    const body = encode(new Map([
      [0x30, [tuple]],
      [0x60, new Map([[1, [{ name: 'id', type: 'unsigned' }, { name: '__proto__', type: 'any' }, { name: 'constructor', type: 'any' }]]])],
    ]))
    const [row] = dataOf(body, 0, body.length, true)
    assertPlain(row, 'MP_TUPLE object')
    assert.deepEqual(Object.keys(row), ['3', 'id', '__proto__', 'constructor'])
    assert.deepEqual(Object.getOwnPropertyDescriptor(row, '__proto__'), dataProperty({ admin: true }))
    assert.equal(row.constructor, 'c')
    assert.deepEqual(dataOf(body, 0, body.length, false), [[1, { admin: true }, 'c', 'extra']], 'arrays mode')

    // A format id spelled __proto__ names nothing and pollutes nothing.
    const odd = encode(new Map([[0x30, []], [0x60, new Map([['__proto__', [{ name: 'x' }]], [1, [{ name: 'id' }]]])]]))
    const formats = tupleFormatsOf(odd, 0, odd.length)
    assert.deepEqual([...formats.keys()], [1, NaN])
    assert.deepEqual(formats.get(1), ['id'])
  })

  test('error fields, in an MP_ERROR value and in an error response, are plain own data', () => {
    const entry = new Map([[0, 'CustomError'], [1, 'file.lua'], [2, 3], [3, 'boom'], [4, 0], [5, 32],
      [6, new Map([['__proto__', { admin: true }], ['constructor', 'c']])]])
    const errorMap = new Map([[0, [entry]]])
    const asValue = decode(encode([new Extension(3, encode(errorMap))]))[0]
    assert.ok(asValue instanceof TarantoolError)
    assert.equal(asValue.message, 'boom')
    assert.equal(asValue.errcode, 32)
    assertPlain(asValue.fields, 'MP_ERROR fields')
    assert.deepEqual(Object.getOwnPropertyDescriptor(asValue.fields, '__proto__'), dataProperty({ admin: true }))
    assert.equal(asValue.fields.constructor, 'c')

    const body = encode(new Map([[0x31, 'boom'], [0x52, errorMap]]))
    const response = fromErrorResponse(32, body, 0, body.length)
    assert.equal(response.message, 'boom')
    assertPlain(response.fields, 'error response fields')
    assert.deepEqual(response.fields.__proto__, { admin: true })
  })
})

describe('decoding takes time linear in the input', TIMEOUT, () => {
  test('a non-string key after a nested map: 20, 30, 64 and 512 levels, each byte read once', () => {
    const started = performance.now()
    for (const levels of [20, 30, 64, 512]) assertBoolKeyNest(decode(boolKeyAfterNested(levels)), levels)
    // Reading each level again took 83 ms at 20 levels and over a minute at 30.
    const ms = performance.now() - started
    assert.ok(ms < 2000, `${ms} ms`)
  })

  test('non-string keys at every level of 64 nested maps: wire order and key types kept', () => {
    let value = 'bottom'
    for (let i = 0; i < 64; i++) {
      value = new Map([['b', i], [7, 'seven'], ['8', 'eight'], [-1, 'minus'], ['-1', 'minus string'],
        ['__proto__', { x: i }], ['', 'empty'], [1, 'one'], ['1', 'one string'], [true, value]])
    }
    const started = performance.now()
    let v = decode(encode(value))
    const ms = performance.now() - started
    for (let i = 63; i >= 0; i--) {
      assert.ok(v instanceof Map, `level ${i}`)
      const entries = [...v]
      assert.deepEqual(entries.slice(0, -1), [['b', i], [7, 'seven'], ['8', 'eight'], [-1, 'minus'], ['-1', 'minus string'],
        ['__proto__', { x: i }], ['', 'empty'], [1, 'one'], ['1', 'one string']], `level ${i}`)
      assert.equal(entries[9][0], true)
      v = entries[9][1]
    }
    assert.equal(v, 'bottom')
    assert.ok(ms < 2000, `${ms} ms`)
  })

  test('a map turns into a Map at its last key as at its first', () => {
    assert.deepEqual([...decode(encode(new Map([[null, 1], ['a', 2]])))], [[null, 1], ['a', 2]])
    assert.deepEqual([...decode(encode(new Map([['a', [1, { b: 2 }]], ['c', 3], [[1], 4]])))], [['a', [1, { b: 2 }]], ['c', 3], [[1], 4]])
    const bin = Buffer.from([1, 2])
    assert.deepEqual([...decode(encode(new Map([['a', 1], ['a', 2], [bin, 3]])))], [['a', 2], [bin, 3]], 'a repeated key: first place, last value')
    assert.deepEqual(decode(encode(new Map([[1.5, 'x'], ['y', 2]]))), { 1.5: 'x', y: 2 }, 'numbers and strings alone stay an object')
  })

  test('huge declared lengths fail at once', () => {
    const started = performance.now()
    throwsCode(() => decode(Buffer.from([...arr32(0xffffffff), 0x01])), TRUNCATED, 'array32')
    throwsCode(() => decode(Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01])), TRUNCATED, 'map32')
    throwsCode(() => decode(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])), TRUNCATED, 'str32')
    throwsCode(() => decode(Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x61])), TRUNCATED, 'bin32')
    throwsCode(() => decode(Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x03, 0x80])), TRUNCATED, 'ext32')
    throwsCode(() => decode(Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x20, 0x80])), TRUNCATED, 'unknown ext32')
    // 512 arrays, each declaring as many elements as there are bytes left in 1 MB: an old
    // decoder allocated all of them up front and ran out of memory.
    const size = 1 << 20
    const parts = []
    for (let i = 0; i < 512; i++) parts.push(arr32(size - 5 * (i + 1)))
    throwsCode(() => decode(cat(...parts, Buffer.alloc(size - 5 * 512))), TRUNCATED, 'nested arrays claiming the rest')
    const ms = performance.now() - started
    assert.ok(ms < 5000, `${ms} ms`)
  })
})

describe(`nesting is bounded at ${MAX_DEPTH}, as the native frame checker bounds it`, TIMEOUT, () => {
  const nestedArrays = (n, leaf = [0x01]) => cat(Buffer.alloc(n, 0x91), leaf)
  const nestedMaps = (n) => {
    let v = Buffer.from([0x01])
    for (let i = 0; i < n; i++) v = cat([0x81, 0xa1, 0x6b], v)
    return v
  }

  test(`${MAX_DEPTH} containers nest; one more is ERR_MSGPACK_TOO_DEEP, however deep it goes`, () => {
    let v = decode(nestedArrays(MAX_DEPTH))
    for (let i = 0; i < MAX_DEPTH; i++) v = v[0]
    assert.equal(v, 1)
    assert.equal(decode(nestedArrays(MAX_DEPTH, [0x90])).flat(Infinity).length, 0, 'an empty container below the last level')
    throwsCode(() => decode(nestedArrays(MAX_DEPTH + 1)), TOO_DEEP, `${MAX_DEPTH + 1} arrays`)
    throwsCode(() => decode(nestedArrays(100000)), TOO_DEEP, '100,000 arrays (no stack overflow)')

    v = decode(nestedMaps(MAX_DEPTH))
    for (let i = 0; i < MAX_DEPTH; i++) v = v.k
    assert.equal(v, 1)
    throwsCode(() => decode(nestedMaps(MAX_DEPTH + 1)), TOO_DEEP, `${MAX_DEPTH + 1} maps`)
    throwsCode(() => decode(boolKeyAfterNested(MAX_DEPTH + 1)), TOO_DEEP, 'maps turning into Maps')
  })

  test('extension payloads count as a level: MP_ERROR and MP_TUPLE nested in themselves', () => {
    const nestedErrors = (n) => {
      let v = Buffer.from([0x80])
      for (let i = 0; i < n; i++) v = v.length < 256 ? cat([0xc7, v.length, 0x03], v) : cat([0xc8, v.length >> 8, v.length & 0xff, 0x03], v)
      return v
    }
    assert.ok(decode(nestedErrors(1)) instanceof TarantoolError)
    throwsCode(() => decode(nestedErrors(20000)), TOO_DEEP, '20,000 MP_ERRORs')
    let tuple = Buffer.from([0x90])
    for (let i = 0; i < 600; i++) tuple = cat([0xc8, (tuple.length + 2) >> 8, (tuple.length + 2) & 0xff, 0x07, 0x01, 0x91], tuple)
    throwsCode(() => decode(tuple), TOO_DEEP, '600 MP_TUPLEs')
  })

  test('the values findKey skips are bounded too', () => {
    const body = cat([0x82, 0x30], nestedArrays(100000), [0x60, 0x80])
    throwsCode(() => findKey(body, 0, body.length, 0x60), TOO_DEEP, 'findKey')
    throwsCode(() => dataOf(body, 0, body.length, true), TOO_DEEP, 'dataOf, objects')
  })
})

describe('reads stay within [start, end) and within each extension payload', TIMEOUT, () => {
  // Decimal and Uuid keep their value in private fields, which deepEqual does not compare.
  const shown = (v) => (v instanceof TarantoolError ? `TarantoolError ${v.message}` : inspect(v, { depth: Infinity }))

  const samples = [
    300, -300, 70000, 2 ** 40, -(2 ** 40), 2n ** 64n - 1n, 1.5, 'abc', 'x'.repeat(40), 'y'.repeat(300),
    [1, [2, 'three']], { a: 1, b: [true, false, null] }, new Map([[[1], 2]]), new Map([[1, 'a'], [true, 'b']]),
    Buffer.from([1, 2, 3]), new Decimal('-12.345'), new Uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
    new Datetime({ seconds: 5n, nsec: 7, tzoffset: 60 }), new Interval({ year: 1, month: -2, adjust: 'last' }),
    new Extension(3, encode({ 0: [{ 0: 'ClientError', 3: 'message', 5: 32 }] })),
    new Extension(7, cat(encode(1), encode([1, 'a']))), new Extension(42, Buffer.from([9, 9])),
  ]

  test('a body cut short fails even when the bytes after it would complete it', () => {
    for (const value of samples) {
      const bytes = encode(value)
      // The receive buffer is reused: past a body's end lie the bytes of an older response.
      const buf = cat([0xff, 0xff], bytes, bytes)
      assert.equal(shown(decode(buf, 2, 2 + bytes.length)), shown(decode(bytes)), `${bytes.toString('hex')} decodes whole`)
      for (let n = 0; n < bytes.length; n++) {
        throwsCode(() => decode(buf, 2, 2 + n), TRUNCATED, `${bytes.toString('hex')} cut to ${n} bytes`)
      }
    }
  })

  test("an extension's MessagePack never reaches past its declared length", () => {
    const after = [0x00, 0x90, 0x02, 0x05, 0x01, 0x01]
    const cases = {
      'MP_ERROR map': [0xd4, 0x03, 0x81],
      'decimal scale': [0xd4, 0x01, 0xcd],
      'interval pairs': [0xd5, 0x06, 0x02, 0x01],
      'MP_TUPLE array': [0xd6, 0x07, 0x01, 0x93, 0x01, 0x02],
      'MP_TUPLE format id': [0xd4, 0x07, 0xcd],
    }
    for (const [what, ext] of Object.entries(cases)) {
      throwsCode(() => decode(cat([0x92], ext, after)), TRUNCATED, what)
    }
  })

  test('extension payloads of the wrong size or shape are ERR_MSGPACK_INVALID', () => {
    const cases = {
      'bytes left over in MP_TUPLE': cat([0xd6, 0x07, 0x01, 0x91, 0x01, 0x05]),
      'bytes left over in MP_ERROR': cat([0xd5, 0x03, 0x80, 0x00]),
      'bytes left over in an interval': cat([0xd6, 0x06, 0x01, 0x00, 0x01, 0x07]),
      'a uuid of 8 bytes': cat([0xd7, 0x02], Buffer.alloc(8)),
      'a datetime of 4 bytes': cat([0xd6, 0x04], Buffer.alloc(4)),
      'a datetime of 12 bytes': cat([0xc7, 12, 0x04], Buffer.alloc(12)),
      'a decimal without digits': cat([0xd4, 0x01, 0x00]),
      'a decimal with a bad digit': cat([0xd5, 0x01, 0x00, 0xac]),
      'a decimal scale beyond 400': cat([0xd6, 0x01, 0xcd, 0x01, 0xf4, 0x1c]),
      'a decimal scale that is a map with its own toString': cat([0xc7, 0x0c, 0x01, 0x81, 0xa8], Buffer.from('toString'), [0x01, 0x1c]),
      'an interval field id that is a string': cat([0xc7, 0x0e, 0x06, 0x01, 0xab], Buffer.from('constructor'), [0x01]),
      'an interval adjust that is a string': cat([0xc7, 0x0d, 0x06, 0x01, 0x08, 0xaa], Buffer.from('__proto__x')),
      'an MP_TUPLE of no array': cat([0xd5, 0x07, 0x01, 0x05]),
      'the byte 0xc1': cat([0x92, 0x01, 0xc1]),
    }
    for (const [what, bytes] of Object.entries(cases)) throwsCode(() => decode(bytes), INVALID, what)
  })

  test('response bodies that are not a map, or whose DATA is not an array, are ERR_MSGPACK_INVALID', () => {
    throwsCode(() => dataOf(Buffer.from([0xc0])), INVALID, 'a nil body')
    throwsCode(() => dataOf(Buffer.from([0x81, 0x30, 0x05])), INVALID, 'DATA a number')
    throwsCode(() => dataOf(Buffer.from([0x81, 0x30, 0x80])), INVALID, 'DATA a map')
    throwsCode(() => dataOf(Buffer.from([0x05]), 0, 1, true), INVALID, 'a number body, objects')
    assert.equal(dataOf(encode(new Map([[true, 1]]))), undefined, 'a body with no DATA')
    assert.deepEqual(dataOf(Buffer.from([0x81, 0x30, 0x91, 0x07])), [7])
  })
})

// ---------------------------------------------------------------------------------------------
// stored in a real server and read back

describe('hostile values stored in Tarantool', TIMEOUT, () => {
  let server
  let uri
  let conn
  let objConn

  before(async () => {
    server = await startTarantool()
    uri = `tester:secret@127.0.0.1:${server.port}`
    conn = await connect(uri)
    await conn.eval(`
      local adv = box.schema.space.create('adv', {if_not_exists = true})
      adv:create_index('pk', {if_not_exists = true})
      local fmt = box.schema.space.create('adv_fmt', {if_not_exists = true, format = {
        {name = 'id', type = 'unsigned'}, {name = '__proto__', type = 'any'},
        {name = 'constructor', type = 'any'}, {name = 'prototype', type = 'any'}}})
      fmt:create_index('pk', {if_not_exists = true})
      adv:replace{1, {__proto__ = {admin = true}, constructor = {prototype = {polluted = true}}, prototype = 'p', hasOwnProperty = 'h'}}
      fmt:replace{1, {admin = true}, {prototype = {polluted = true}}, 'p'}`)
    objConn = await connect(uri, { tuples: 'objects' })
  }, TIMEOUT)

  after(async () => {
    if (conn) conn.destroy()
    if (objConn) objConn.destroy()
    await stopAll()
  }, TIMEOUT)

  function assertStoredMap(o, what) {
    assertPlain(o, what)
    assert.deepEqual(Object.keys(o).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'prototype'], what)
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, '__proto__'), dataProperty({ admin: true }), what)
    assert.deepEqual(o.constructor, { prototype: { polluted: true } }, what)
    assert.equal(o.prototype, 'p', what)
    assert.equal(o.hasOwnProperty, 'h', what)
  }

  function assertFormatRow(o, what) {
    assertPlain(o, what)
    assert.deepEqual(Object.keys(o), ['id', '__proto__', 'constructor', 'prototype'], what)
    assert.deepEqual(Object.getOwnPropertyDescriptor(o, '__proto__'), dataProperty({ admin: true }), what)
    assert.deepEqual(o.constructor, { prototype: { polluted: true } }, what)
    assert.equal(o.prototype, 'p', what)
  }

  test('a map stored with __proto__ and constructor keys comes back as own data: select, call, eval', async () => {
    const [[id, viaSelect]] = await conn.select('adv', 0, [1])
    assert.equal(id, 1)
    assertStoredMap(viaSelect, 'select')
    const [[, viaCall]] = await conn.call('box.space.adv:get', [1])
    assertStoredMap(viaCall, 'call')
    const [viaEval] = await conn.eval('return box.space.adv:get(1)[2]')
    assertStoredMap(viaEval, 'eval')
    // No format: the object's keys are positions.
    const [{ 0: key, 1: viaObjects }] = await objConn.select('adv', 0, [1])
    assert.equal(key, 1)
    assertStoredMap(viaObjects, "select, tuples: 'objects', no format")
  })

  test("tuples: 'objects' with fields named __proto__, constructor and prototype", async () => {
    assertFormatRow((await objConn.select('adv_fmt', 0, [1]))[0], 'select')
    const replaced = await objConn.replace('adv_fmt', [2, { admin: true }, { prototype: { polluted: true } }, 'p'])
    assertFormatRow(replaced, 'replace')
    assert.equal(replaced.id, 2)
    assert.deepEqual((await conn.select('adv_fmt', 0, [1]))[0], [1, { admin: true }, { prototype: { polluted: true } }, 'p'], 'arrays')
  })

  test('3.x: the same through MP_TUPLE and TUPLE_FORMATS, with no schema, and in call results', async (t) => {
    if (!conn.protocol.features.includes('dml_tuple_extension')) return t.skip('needs the tuple extensions (3.0+)')
    const c = await connect(uri, { tuples: 'objects', fetchSchema: false })
    try {
      assertFormatRow((await c.select('adv_fmt', 0, [1]))[0], 'select, formats from the response')
      assert.equal(c.schema.fetches, 0)
      assertFormatRow((await c.call('box.space.adv_fmt:get', [1]))[0], 'call')
      const [tuples] = await c.eval('return box.space.adv_fmt:select()')
      assert.equal(tuples.length, 2)
      for (const row of tuples) assertFormatRow(row, 'eval, nested')
    } finally {
      c.destroy()
    }
    assert.deepEqual(await conn.call('box.space.adv_fmt:get', [1]), [[1, { admin: true }, { prototype: { polluted: true } }, 'p']], 'arrays mode')
  })

  test('a non-string key after a nested map, 64 levels deep: stored as sent, read back once', async () => {
    let nest = 0
    for (let i = 0; i < 64; i++) nest = new Map([['a', nest], [true, 0]])
    // INSERT keeps the bytes as the client wrote them: key order too.
    await conn.insert('adv', [2, nest])
    const started = performance.now()
    const [[, viaSelect]] = await conn.select('adv', 0, [2])
    assert.ok(performance.now() - started < 2000)
    assertBoolKeyNest(viaSelect, 64)
    const [{ 1: viaObjects }] = await objConn.select('adv', 0, [2])
    assertBoolKeyNest(viaObjects, 64)
    // Lua rebuilds the value: its key order is Lua's, its shape the same.
    let [viaEval] = await conn.eval('return box.space.adv:get(2)[2]')
    for (let i = 0; i < 64; i++) {
      assert.ok(viaEval instanceof Map)
      assert.equal(viaEval.size, 2)
      assert.equal(viaEval.get(true), 0)
      viaEval = viaEval.get('a')
    }
    assert.equal(viaEval, 0)
  })

  test('SQL rows as objects keep __proto__ and constructor as column names', async () => {
    const r = await conn.execute('SELECT 1 AS "__proto__", 2 AS "constructor", 3 AS "prototype"', [], { tuples: 'objects' })
    assert.deepEqual(r.metadata.map((f) => f.name), ['__proto__', 'constructor', 'prototype'])
    const [row] = r.rows
    assert.equal(Object.getPrototypeOf(row), Object.prototype)
    assert.deepEqual(Object.keys(row), ['__proto__', 'constructor', 'prototype'])
    assert.deepEqual(Object.getOwnPropertyDescriptor(row, '__proto__'), dataProperty(1))
    assert.equal(row.constructor, 2)
  })

  test('watched values are plain own data (2.10+)', async (t) => {
    if (!atLeast(2, 10)) return t.skip('needs box.broadcast (2.10+)')
    await conn.eval("box.broadcast('kharon.hostile', {__proto__ = {admin = true}, constructor = 'c'})")
    const value = await conn.watchOnce('kharon.hostile')
    assertPlain(value, 'watchOnce')
    assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__'), dataProperty({ admin: true }))
    assert.equal(value.constructor, 'c')
    const w = conn.watch('kharon.hostile')
    try {
      const { value: watched } = await w.next()
      assertPlain(watched, 'watch')
      assert.equal(watched.constructor, 'c')
    } finally {
      w.close()
    }
  })

  test('error payload fields, raised and returned, are plain own data (3.x)', async (t) => {
    if (!atLeast(3, 0)) return t.skip('needs error payload fields (3.0+)')
    const make = "box.error.new({type = 'Hostile', message = 'boom', __proto__ = {admin = true}, constructor = 'c'})"
    const raised = await conn.eval(`error(${make})`).catch((err) => err)
    assert.ok(raised instanceof TarantoolError, `${raised}`)
    assert.equal(raised.message, 'boom')
    assertPlain(raised.fields, 'raised')
    assert.deepEqual(raised.fields.__proto__, { admin: true })
    assert.equal(raised.fields.constructor, 'c')
    const [returned] = await conn.eval(`return ${make}`)
    assert.ok(returned instanceof TarantoolError, `${returned}`)
    assert.equal(returned.type, 'CustomError')
    assertPlain(returned.fields, 'returned')
    assert.equal(returned.fields.constructor, 'c')
  })
})
