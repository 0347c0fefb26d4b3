'use strict'

// Bounded-time fuzzing of the JS decoder, as src/protocol/fuzz_tests.rs fuzzes the native
// reader: random bytes and mutations of valid encodings of every type kharon decodes (extensions
// and response bodies too). Each decode returns a value or throws a ProtocolError with an
// ERR_MSGPACK_ code, never anything else; it never hangs; no object it returns has a prototype
// other than the classes kharon decodes to; and a body decodes the same whatever bytes follow
// its end in the buffer. A deterministic generator keeps failures reproducible;
// KHARON_FUZZ_ITERS raises the iteration counts for a longer run.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')

const { ProtocolError, TarantoolError, Decimal, Uuid, Datetime, Interval, Extension } = require('..')
const { decode, encode, findKey, tupleObject } = require('../lib/msgpack')
const { dataOf } = require('../lib/call')

const TIMEOUT = { timeout: 180000 }
const CODES = new Set(['ERR_MSGPACK_TRUNCATED', 'ERR_MSGPACK_INVALID', 'ERR_MSGPACK_TOO_DEEP'])
const PROTOTYPES = new Set([Object.prototype, Array.prototype, Map.prototype, Buffer.prototype, Decimal.prototype,
  Uuid.prototype, Datetime.prototype, Interval.prototype, Extension.prototype, TarantoolError.prototype])

function iterations(fallback) {
  const n = Number(process.env.KHARON_FUZZ_ITERS)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

// xorshift32: small, fast, deterministic.
function generator(seed) {
  let x = seed >>> 0
  const next = () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
  const below = (n) => Math.floor(next() * n)
  return { next, below, pick: (a) => a[below(a.length)], bytes: (n) => Buffer.from(Array.from({ length: n }, () => below(256))) }
}

const cat = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))))
const tupleExt = (formatId, tuple) => new Extension(7, cat(encode(formatId), encode(tuple)))
const errorMap = (fields) => new Map([[0, [new Map([[0, 'ClientError'], [1, 'file.c'], [2, 10], [3, 'message'], [4, 0], [5, 32], [6, fields]])]]])

/** Valid encodings of every type kharon decodes, alone and in response bodies, to mutate. */
function seeds() {
  const values = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768,
    -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53 - 1), 0.5, -1.25, 1e300, NaN, 2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n,
    true, false, null, '', 'a', '__proto__', 'constructor', 'ü✓€', 'x'.repeat(31), 'y'.repeat(40), 'z'.repeat(300),
    Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(300, 7),
    [], [1, 2, 3], Array.from({ length: 20 }, (_, i) => i), [[[[[1]]]]],
    {}, { a: 1, b: [2, 3], c: { d: 'e' } }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    new Map([['__proto__', { admin: true }], ['constructor', { prototype: 1 }]]),
    new Map([[1, 'one'], ['two', 2], ['3', [4, 5]]]), new Map([['a', { b: 1 }], [true, 0]]),
    new Map([[null, 1], [[1], 2], [Buffer.from([1]), 3], [new Decimal('1.5'), 4], ['x', 5]]),
    new Decimal('-12.50'), new Decimal('123456789012345678901234567890.12345678'), new Decimal('0'),
    new Uuid('3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2'),
    new Datetime({ seconds: 1700000000 }), new Datetime({ seconds: -5, nsec: 123456789, tzoffset: 180, tzindex: 5 }),
    new Interval({ year: 1, month: -2, day: 3, nsec: 5, adjust: 'last' }), new Interval(),
    new Extension(42, Buffer.from([1, 2, 3, 4, 5])), new Extension(-7, Buffer.alloc(16, 1)),
    new Extension(3, encode(errorMap(new Map([['__proto__', { admin: true }], ['k', [1]]])))),
    new Extension(3, encode(new Map([[0, []]]))),
    tupleExt(1, [1, 'a', { x: 1 }]), tupleExt(2, []),
  ]
  const formats = new Map([[1, [{ name: 'id', type: 'unsigned' }, { name: '__proto__' }, { name: 'constructor' }]], [2, []]])
  const bodies = [
    new Map([[0x30, [[1, 'a', 2.5], [2, 'b', null]]]]),
    new Map([[0x30, [tupleExt(1, [1, { admin: true }, 'c']), tupleExt(1, [2, 'x', 'y', 'z'])]], [0x60, formats]]),
    new Map([[0x30, [new Decimal('1.25'), new Uuid('3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2'), new Interval({ day: 1 })]]]),
    new Map([[0x31, 'boom'], [0x52, errorMap(new Map([['constructor', 'c']]))]]),
    new Map([[0x32, [new Map([[0, '__proto__'], [1, 'integer']]), new Map([[0, 'b'], [1, 'string']])]], [0x30, [[1, 'x']]]]),
    new Map([[0x42, [0x35, 'key']], [0x30, [new Map([['__proto__', 1], [7, [true]]])]]]),
  ]
  const out = []
  for (const v of [...values, ...bodies]) out.push(encode(v))
  // Extensions, where bytes become objects, weigh more.
  for (const v of values) if (v instanceof Extension || v instanceof Decimal || v instanceof Interval) out.push(encode([v, 1]), encode({ k: v }))
  return out
}

// Bytes that start long or odd encodings: lengths beyond the input, nesting, 0xc1, extensions.
const INTERESTING = [0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc,
  0xdd, 0xde, 0xdf, 0xcf, 0xd3, 0xff, 0x00, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa9, 0xbf, 0xc3,
  0x01, 0x02, 0x03, 0x04, 0x06, 0x07]

function mutate(rng, input, seedsList) {
  let b = Buffer.from(input)
  for (let m = 1 + rng.below(4); m > 0; m--) {
    if (b.length === 0) b = Buffer.from([rng.pick(INTERESTING)])
    const at = rng.below(b.length)
    switch (rng.below(7)) {
      case 0: b[at] ^= 1 << rng.below(8); break
      case 1: b = b.subarray(0, at); break
      case 2: b = cat(b.subarray(0, at), Array.from({ length: 1 + rng.below(8) }, () => (rng.next() < 0.5 ? rng.pick(INTERESTING) : rng.below(256))), b.subarray(at)); break
      case 3: b[at] = rng.pick(INTERESTING); break
      // A huge or odd length where a length-prefixed type starts.
      case 4: b = cat(b.subarray(0, at), [rng.pick([0xc6, 0xc9, 0xdb, 0xdd, 0xdf, 0xdc, 0xde, 0xc8]), rng.pick([0x00, 0x7f, 0xff]), rng.below(256), rng.below(256), rng.below(256), rng.below(256)], b.subarray(at)); break
      // Another seed spliced in: nesting and shapes that no one seed has.
      case 5: b = cat(b.subarray(0, at), rng.pick(seedsList), b.subarray(at)); break
      default: b = b.subarray(rng.below(Math.min(b.length, 8)))
    }
  }
  return b
}

/** What a call gave, as text: a value (its every type and byte), or the error it threw. */
function outcome(fn) {
  try {
    return { value: fn() }
  } catch (err) {
    return { err }
  }
}

function shown(v) {
  if (v === null || typeof v !== 'object') return typeof v === 'number' && Object.is(v, -0) ? '-0' : `${typeof v}:${String(v)}`
  if (Buffer.isBuffer(v)) return `bin:${v.toString('hex')}`
  if (Array.isArray(v)) return `[${v.map(shown).join(',')}]`
  if (v instanceof Map) return `Map{${[...v].map(([k, x]) => `${shown(k)}=>${shown(x)}`).join(',')}}`
  if (v instanceof Decimal || v instanceof Uuid) return `${v.constructor.name}(${v})`
  if (v instanceof TarantoolError) return `TarantoolError(${v.message},${v.errcode},${shown(v.serverStack)},${shown(v.cause ?? null)})`
  return `${v.constructor?.name}{${Reflect.ownKeys(v).map((k) => `${String(k)}:${shown(v[k])}`).join(',')}}`
}

const showOutcome = (o) => ('err' in o ? `throws ${o.err?.name} ${o.err?.code} ${o.err?.message}` : shown(o.value))

function checkError(err, what) {
  assert.ok(err instanceof ProtocolError && CODES.has(err.code), `${what}: threw ${err?.name} ${err?.code}: ${err?.message}\n${err?.stack}`)
}

/** Every object reachable from `v` is of a class kharon decodes to, with data properties only. */
function walk(v, what, seen = new Set()) {
  if (v === null || typeof v !== 'object' || seen.has(v)) return
  seen.add(v)
  const proto = Object.getPrototypeOf(v)
  assert.ok(PROTOTYPES.has(proto), `${what}: an object whose prototype is ${proto === null ? 'null' : proto.constructor?.name}: ${shown(v)}`)
  if (Buffer.isBuffer(v) || v instanceof Decimal || v instanceof Uuid) return
  if (v instanceof Map) {
    for (const [k, x] of v) {
      walk(k, what, seen)
      walk(x, what, seen)
    }
    return
  }
  if (v instanceof TarantoolError) {
    walk(v.serverStack, what, seen)
    walk(v.fields, what, seen)
    walk(v.cause ?? null, what, seen)
    return
  }
  for (const key of Reflect.ownKeys(v)) {
    const d = Object.getOwnPropertyDescriptor(v, key)
    assert.ok('value' in d, `${what}: an accessor property ${String(key)}`)
    walk(d.value, what, seen)
  }
}

// One input through every decoding entry point, checked.
function exercise(rng, input, stats) {
  const what = input.subarray(0, 96).toString('hex')
  const started = performance.now()
  const alone = outcome(() => decode(input))
  if ('err' in alone) {
    checkError(alone.err, what)
    stats.threw++
  } else {
    walk(alone.value, what)
    stats.returned++
    // Decoded names, as from a hostile format or SQL metadata.
    if (Array.isArray(alone.value)) walk(tupleObject(alone.value, alone.value), `${what} as its own names`)
  }

  // The same bytes inside a receive buffer, after other bytes and before an older response's.
  const at = rng.below(4)
  const buf = cat(rng.bytes(at), input, rng.next() < 0.5 ? rng.bytes(1 + rng.below(16)) : rng.pick(stats.seeds))
  const inside = outcome(() => decode(buf, at, at + input.length))
  assert.equal(showOutcome(inside), showOutcome(alone), `${what}: decoded differently with bytes after its end`)

  for (const objects of [false, true]) {
    const body = outcome(() => dataOf(buf, at, at + input.length, objects))
    if ('err' in body) checkError(body.err, `${what} as a body (objects: ${objects})`)
    else walk(body.value, `${what} as a body (objects: ${objects})`)
  }
  const key = outcome(() => findKey(buf, at, at + input.length, 0x30))
  if ('err' in key) checkError(key.err, `${what}: findKey`)
  else if (key.value !== null) assert.ok(key.value[0] >= at && key.value[1] <= at + input.length, `${what}: findKey beyond the body`)
  stats.maxMs = Math.max(stats.maxMs, performance.now() - started)
}

describe('the JS decoder against fuzzed bytes', TIMEOUT, () => {
  const seedList = seeds()

  test('the seeds decode', () => {
    for (const s of seedList) {
      const r = outcome(() => decode(s))
      assert.ok(!('err' in r), `${s.toString('hex')}: ${showOutcome(r)}`)
      walk(r.value, s.toString('hex'))
    }
  })

  test('random bytes: a value or a typed error, never another exception', () => {
    const rng = generator(0x9e3779b9)
    const stats = { returned: 0, threw: 0, maxMs: 0, seeds: seedList }
    for (let i = iterations(20000); i > 0; i--) exercise(rng, rng.bytes(rng.below(64)), stats)
    assert.ok(stats.returned > 0 && stats.threw > 0, JSON.stringify({ ...stats, seeds: undefined }))
    assert.ok(stats.maxMs < 1000, `one input took ${stats.maxMs} ms`)
  })

  test('mutated encodings of every type: a value or a typed error, never another exception', () => {
    const rng = generator(0x2545f491)
    const stats = { returned: 0, threw: 0, maxMs: 0, seeds: seedList }
    for (let i = iterations(20000); i > 0; i--) exercise(rng, mutate(rng, rng.pick(seedList), seedList), stats)
    // Mutations both mild and wild enough to reach past the first byte.
    assert.ok(stats.returned > 2000 && stats.threw > 2000, JSON.stringify({ ...stats, seeds: undefined }))
    assert.ok(stats.maxMs < 1000, `one input took ${stats.maxMs} ms`)
  })
})
