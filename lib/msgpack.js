'use strict'

// MessagePack for Tarantool's value model, tuned for decoding large selects: module-level
// cursor, ASCII fast path for short strings, integers as numbers unless they exceed 2^53.
// Every byte decoded comes from the server and is untrusted: no read leaves [start, end) (nor an
// extension's payload), time and memory stay linear in the input, nesting is bounded, data
// never sets a prototype, and what can't be decoded is a ProtocolError with an ERR_MSGPACK_ code.

const { Decimal, Uuid, Datetime, Interval, Extension, BoxTuple, INTERVAL_FIELDS, ADJUST } = require('./types')
const { view: bufferView } = require('./views')

const EXT_DECIMAL = 1
const EXT_UUID = 2
const EXT_ERROR = 3
const EXT_DATETIME = 4
const EXT_INTERVAL = 6
const EXT_TUPLE = 7
const TUPLE_FORMATS = 0x60

// As the native frame checker's MAX_DEPTH (src/protocol/msgpack.rs): a container at this depth
// may not have elements. Extension payloads the checker can't see inside count as a level too.
const MAX_DEPTH = 512
// Arrays longer than this grow as they are read: a declared length is bounded only by the bytes
// left, and nested arrays could each claim all of them before one element is read.
const MAX_PREALLOCATED = 1024

const TRUNCATED = 'ERR_MSGPACK_TRUNCATED'
const INVALID = 'ERR_MSGPACK_INVALID'
const TOO_DEEP = 'ERR_MSGPACK_TOO_DEEP'

let ProtocolError = null

/** The error for bytes that are not a value kharon can decode: a ProtocolError with `code`. */
function malformed(message, code = INVALID) {
  // errors.js requires this module: its class is looked up once an error is made.
  ProtocolError ??= require('./errors').ProtocolError
  return new ProtocolError(message, code)
}

function truncated(what = 'value') {
  return malformed(`MessagePack ${what} is truncated`, TRUNCATED)
}

function tooDeep() {
  return malformed(`MessagePack nesting is deeper than ${MAX_DEPTH}`, TOO_DEEP)
}

// ---------------------------------------------------------------- decoding

let src = null
let pos = 0
// Where the value being read must end: decode's `end`, or the payload end of the extension
// being read. Every length is checked against it.
let limit = 0
// Multi-byte numbers are read through a DataView (faster than Buffer's readers) once the bytes
// are checked to be there. Made on first use: small responses often need none.
let view = null

function dv() {
  if (view === null) view = new DataView(src.buffer, src.byteOffset, src.length)
  return view
}
let decodeErrorExt = null
// Field names by format id while a body is decoded with its TUPLE_FORMATS: MP_TUPLE values then
// become objects. Null: they become arrays.
let tupleNames = null

/** Installs the decoder for MP_ERROR payloads (errors.js depends on this module). */
function setErrorDecoder(fn) {
  decodeErrorExt = fn
}

/**
 * Decodes one value from `buf[start..end]`. `formats` (from tupleFormatsOf) turns MP_TUPLE
 * values (3.x tuples with their format) into objects keyed by field name.
 */
function decode(buf, start = 0, end = buf.length, formats = null) {
  const savedSrc = src
  const savedPos = pos
  const savedLimit = limit
  const savedView = view
  const savedNames = tupleNames
  src = buf
  pos = start
  limit = end < buf.length ? end : buf.length
  view = null
  tupleNames = formats
  try {
    return read(0)
  } finally {
    src = savedSrc
    pos = savedPos
    limit = savedLimit
    view = savedView
    tupleNames = savedNames
  }
}

/**
 * Where the value of integer key `key` lies in the map at `buf[start..end]`: [from, to], or
 * null when the map has no such key. Other values are skipped, not decoded.
 */
function findKey(buf, start, end, key) {
  const savedSrc = src
  const savedPos = pos
  const savedLimit = limit
  const savedView = view
  src = buf
  pos = start
  limit = end < buf.length ? end : buf.length
  view = null
  try {
    const b = u8()
    const n = b >= 0x80 && b < 0x90 ? b & 0x0f : b === 0xde ? u16() : b === 0xdf ? u32() : -1
    if (n < 0) throw malformed('a response body must be a map')
    for (let i = 0; i < n; i++) {
      const k = read(1)
      const from = pos
      skip(1)
      if (k === key) return [from, pos]
    }
    return null
  } finally {
    src = savedSrc
    pos = savedPos
    limit = savedLimit
    view = savedView
  }
}

/**
 * The TUPLE_FORMATS (0x60) of a response body as field names by format id, for decode(); null
 * when the body has none. The server writes it after DATA, so it is found first and DATA is
 * decoded with it.
 */
function tupleFormatsOf(buf, start, end) {
  if (end <= start) return null
  const at = findKey(buf, start, end, TUPLE_FORMATS)
  if (at === null) return null
  const formats = decode(buf, at[0], at[1])
  const names = new Map()
  if (formats === null || typeof formats !== 'object') return names
  for (const id of Object.keys(formats)) {
    const fields = formats[id]
    names.set(Number(id), Array.isArray(fields) ? fields.map((f, i) => (typeof f?.name === 'string' ? f.name : String(i))) : [])
  }
  return names
}

/** The exact bytes of the MP_STR (or MP_BIN) at `buf[from..to]`, as a new Buffer. */
function rawString(buf, from, to) {
  const b = buf[from]
  let head
  if (b >= 0xa0 && b < 0xc0) head = 1
  else if (b === 0xd9 || b === 0xc4) head = 2
  else if (b === 0xda || b === 0xc5) head = 3
  else if (b === 0xdb || b === 0xc6) head = 5
  else throw malformed(`expected a MessagePack string, got byte 0x${b.toString(16)}`)
  return Buffer.from(buf.subarray(from + head, to))
}

// Skips one value, `d` containers deep, without building it.
function skip(d) {
  const b = u8()
  if (b < 0x80 || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return
  if (b < 0x90) return skipMany(2 * (b & 0x0f), d)
  if (b < 0xa0) return skipMany(b & 0x0f, d)
  if (b < 0xc0) return skipBytes(b & 0x1f)
  switch (b) {
    case 0xc4: case 0xd9: return skipBytes(u8())
    case 0xc5: case 0xda: return skipBytes(u16())
    case 0xc6: case 0xdb: return skipBytes(u32())
    case 0xc7: return skipBytes(u8() + 1)
    case 0xc8: return skipBytes(u16() + 1)
    case 0xc9: return skipBytes(u32() + 1)
    case 0xca: case 0xce: case 0xd2: return skipBytes(4)
    case 0xcb: case 0xcf: case 0xd3: return skipBytes(8)
    case 0xcc: case 0xd0: return skipBytes(1)
    case 0xcd: case 0xd1: return skipBytes(2)
    case 0xd4: return skipBytes(2)
    case 0xd5: return skipBytes(3)
    case 0xd6: return skipBytes(5)
    case 0xd7: return skipBytes(9)
    case 0xd8: return skipBytes(17)
    case 0xdc: return skipMany(u16(), d)
    case 0xdd: return skipMany(u32(), d)
    case 0xde: return skipMany(2 * u16(), d)
    case 0xdf: return skipMany(2 * u32(), d)
    default: throw invalidByte(b)
  }
}

function skipBytes(n) {
  need(n)
  pos += n
}

function skipMany(n, d) {
  if (n === 0) return
  if (n > limit - pos) throw truncated('container')
  if (d >= MAX_DEPTH) throw tooDeep()
  for (let i = 0; i < n; i++) skip(d + 1)
}

function invalidByte(b) {
  return malformed(`invalid MessagePack byte 0x${b.toString(16)}`)
}

// Reads one value, `d` containers (or extension payloads) deep.
function read(d) {
  if (pos >= limit) throw truncated()
  const b = src[pos++]
  if (b < 0x80) return b
  if (b < 0x90) return readMap(b & 0x0f, d)
  if (b < 0xa0) return readArray(b & 0x0f, d)
  if (b < 0xc0) return readStr(b & 0x1f)
  if (b >= 0xe0) return b - 0x100
  switch (b) {
    case 0xc0: return null
    case 0xc2: return false
    case 0xc3: return true
    case 0xc4: return readBin(u8())
    case 0xc5: return readBin(u16())
    case 0xc6: return readBin(u32())
    case 0xc7: return readExt(u8(), d)
    case 0xc8: return readExt(u16(), d)
    case 0xc9: return readExt(u32(), d)
    case 0xca: {
      if (pos + 4 > limit) throw truncated()
      const v = dv().getFloat32(pos)
      pos += 4
      return v
    }
    case 0xcb: {
      if (pos + 8 > limit) throw truncated()
      const v = dv().getFloat64(pos)
      pos += 8
      return v
    }
    case 0xcc: return u8()
    case 0xcd: return u16()
    case 0xce: return u32()
    case 0xcf: {
      const hi = u32()
      const lo = u32()
      if (hi < 0x200000) return hi * 0x100000000 + lo
      return (BigInt(hi) << 32n) | BigInt(lo)
    }
    case 0xd0: {
      if (pos + 1 > limit) throw truncated()
      const v = dv().getInt8(pos)
      pos += 1
      return v
    }
    case 0xd1: {
      if (pos + 2 > limit) throw truncated()
      const v = dv().getInt16(pos)
      pos += 2
      return v
    }
    case 0xd2: {
      if (pos + 4 > limit) throw truncated()
      const v = dv().getInt32(pos)
      pos += 4
      return v
    }
    case 0xd3: {
      if (pos + 8 > limit) throw truncated()
      const hi = dv().getInt32(pos)
      const lo = dv().getUint32(pos + 4)
      pos += 8
      // A number only within ±(2^53-1): -(2^53) itself is not safe.
      if ((hi > -0x200000 || (hi === -0x200000 && lo > 0)) && hi < 0x200000) return hi * 0x100000000 + lo
      return (BigInt(hi) << 32n) | BigInt(lo)
    }
    case 0xd4: return readExt(1, d)
    case 0xd5: return readExt(2, d)
    case 0xd6: return readExt(4, d)
    case 0xd7: return readExt(8, d)
    case 0xd8: return readExt(16, d)
    case 0xd9: return readStr(u8())
    case 0xda: return readStr(u16())
    case 0xdb: return readStr(u32())
    case 0xdc: return readArray(u16(), d)
    case 0xdd: return readArray(u32(), d)
    case 0xde: return readMap(u16(), d)
    case 0xdf: return readMap(u32(), d)
    default: throw invalidByte(b)
  }
}

// A length or number that runs past the end is truncation, never a read of bytes beyond it.
function need(n) {
  if (n > limit - pos) throw truncated()
}

function u8() {
  if (pos >= limit) throw truncated()
  return src[pos++]
}

// Lengths and unsigned ints from bytes: a call's result array has a 32-bit length, and making a
// DataView for it cost more than decoding the rest of a small reply.
function u16() {
  need(2)
  const v = (src[pos] << 8) | src[pos + 1]
  pos += 2
  return v
}

function u32() {
  need(4)
  const v = src[pos] * 0x1000000 + ((src[pos + 1] << 16) | (src[pos + 2] << 8) | src[pos + 3])
  pos += 4
  return v
}

function readArray(n, d) {
  if (n === 0) return []
  // Every element takes a byte at least.
  if (n > limit - pos) throw truncated('array')
  if (d >= MAX_DEPTH) throw tooDeep()
  const e = d + 1
  // Short arrays (tuples) as literals: made packed, in one step. Elements are read in order.
  switch (n) {
    case 1: return [read(e)]
    case 2: return [read(e), read(e)]
    case 3: return [read(e), read(e), read(e)]
    case 4: return [read(e), read(e), read(e), read(e)]
    case 5: return [read(e), read(e), read(e), read(e), read(e)]
    case 6: return [read(e), read(e), read(e), read(e), read(e), read(e)]
    case 7: return [read(e), read(e), read(e), read(e), read(e), read(e), read(e)]
    case 8: return [read(e), read(e), read(e), read(e), read(e), read(e), read(e), read(e)]
  }
  if (n <= MAX_PREALLOCATED) {
    const a = new Array(n)
    for (let i = 0; i < n; i++) a[i] = read(e)
    return a
  }
  const a = []
  for (let i = 0; i < n; i++) a.push(read(e))
  return a
}

// Maps become plain objects (integer keys become property names, as in JS); a map with any
// other kind of key (array, boolean, nil, binary, extension) becomes a Map. Keys are always own
// data properties: `__proto__` too, which an assignment would take as the object's prototype.
function readMap(n, d) {
  if (n === 0) return {}
  if (n > limit - pos) throw truncated('map')
  if (d >= MAX_DEPTH) throw tooDeep()
  const e = d + 1
  const o = {}
  for (let i = 0; i < n; i++) {
    const b = src[pos]
    const c = src[pos + 1]
    // A short string key not starting with a digit: no array index, so `o` keeps it in wire
    // order. Bytes past the limit decide nothing.
    if (b > 0xa0 && b < 0xc0 && (c > 0x39 || c < 0x30) && pos + 1 < limit) {
      pos++
      const key = readStr(b & 0x1f)
      if (key === '__proto__') ownProperty(o, key, read(e))
      else o[key] = read(e)
    } else {
      return readMapFrom(o, i, n, e)
    }
  }
  return o
}

// The rest of a map from entry i on, with its entries also kept in wire order: should a key
// then turn out to be neither string nor number, they become a Map without anything being
// read twice (reading the map again, as a Map, made nested maps take exponential time).
function readMapFrom(o, i, n, e) {
  const kept = i === 0 ? [] : entriesOf(o)
  let k = kept.length
  for (; i < n; i++) {
    const key = read(e)
    if (typeof key !== 'string' && typeof key !== 'number') return mapOf(kept, key, n - i - 1, e)
    const value = read(e)
    kept[k++] = key
    kept[k++] = value
    if (key === '__proto__') ownProperty(o, key, value)
    else o[key] = value
  }
  return o
}

function entriesOf(o) {
  const kept = []
  for (const k of Object.keys(o)) kept.push(k, o[k])
  return kept
}

// A Map of the entries `kept`, then `key` with the value at pos, then `rest` more entries.
function mapOf(kept, key, rest, e) {
  const m = new Map()
  for (let i = 0; i < kept.length; i += 2) m.set(kept[i], kept[i + 1])
  m.set(key, read(e))
  for (let i = 0; i < rest; i++) {
    const k = read(e)
    m.set(k, read(e))
  }
  return m
}

function ownProperty(o, key, value) {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true })
}

const fcc = String.fromCharCode

function readStr(n) {
  if (n > limit - pos) throw truncated('string')
  const end = pos + n
  // Short ASCII strings dominate tuples; building them in JS beats a native call.
  if (n <= 32) {
    const s = ascii32(pos, n)
    if (s !== null) {
      pos = end
      return s
    }
  } else if (n <= 64) {
    const s = ascii32(pos, 32)
    const rest = s === null ? null : ascii32(pos + 32, n - 32)
    if (rest !== null) {
      pos = end
      return s + rest
    }
  }
  const s = src.utf8Slice(pos, end)
  pos = end
  return s
}

// At most 32 bytes as one string in one fromCharCode call: a flat string made in one step
// (building it from pieces made a cons string and cost a quarter of a 10k-tuple select's
// decode time). Null if any byte is not ASCII. Written out: a loop can't pass the bytes as
// arguments without an array, and fromCharCode.apply measured slower still.
function ascii32(p, n) {
  switch (n) {
    case 0: return ''
    case 1: {
      const c0 = src[p]
      return (c0) & 0x80 ? null : fcc(c0)
    }
    case 2: {
      const c0 = src[p], c1 = src[p + 1]
      return (c0 | c1) & 0x80 ? null : fcc(c0, c1)
    }
    case 3: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2]
      return (c0 | c1 | c2) & 0x80 ? null : fcc(c0, c1, c2)
    }
    case 4: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3]
      return (c0 | c1 | c2 | c3) & 0x80 ? null : fcc(c0, c1, c2, c3)
    }
    case 5: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4]
      return (c0 | c1 | c2 | c3 | c4) & 0x80 ? null : fcc(c0, c1, c2, c3, c4)
    }
    case 6: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5]
      return (c0 | c1 | c2 | c3 | c4 | c5) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5)
    }
    case 7: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6)
    }
    case 8: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7)
    }
    case 9: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8)
    }
    case 10: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9)
    }
    case 11: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10)
    }
    case 12: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11)
    }
    case 13: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12)
    }
    case 14: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13)
    }
    case 15: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14)
    }
    case 16: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15)
    }
    case 17: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16)
    }
    case 18: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17)
    }
    case 19: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18)
    }
    case 20: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19)
    }
    case 21: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20)
    }
    case 22: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21)
    }
    case 23: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22)
    }
    case 24: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23)
    }
    case 25: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24)
    }
    case 26: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25)
    }
    case 27: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25], c26 = src[p + 26]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25 | c26) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26)
    }
    case 28: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25], c26 = src[p + 26], c27 = src[p + 27]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25 | c26 | c27) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27)
    }
    case 29: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25], c26 = src[p + 26], c27 = src[p + 27], c28 = src[p + 28]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25 | c26 | c27 | c28) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28)
    }
    case 30: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25], c26 = src[p + 26], c27 = src[p + 27], c28 = src[p + 28], c29 = src[p + 29]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25 | c26 | c27 | c28 | c29) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29)
    }
    case 31: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25], c26 = src[p + 26], c27 = src[p + 27], c28 = src[p + 28], c29 = src[p + 29], c30 = src[p + 30]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25 | c26 | c27 | c28 | c29 | c30) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29, c30)
    }
    case 32: {
      const c0 = src[p], c1 = src[p + 1], c2 = src[p + 2], c3 = src[p + 3], c4 = src[p + 4], c5 = src[p + 5], c6 = src[p + 6], c7 = src[p + 7], c8 = src[p + 8], c9 = src[p + 9], c10 = src[p + 10], c11 = src[p + 11], c12 = src[p + 12], c13 = src[p + 13], c14 = src[p + 14], c15 = src[p + 15], c16 = src[p + 16], c17 = src[p + 17], c18 = src[p + 18], c19 = src[p + 19], c20 = src[p + 20], c21 = src[p + 21], c22 = src[p + 22], c23 = src[p + 23], c24 = src[p + 24], c25 = src[p + 25], c26 = src[p + 26], c27 = src[p + 27], c28 = src[p + 28], c29 = src[p + 29], c30 = src[p + 30], c31 = src[p + 31]
      return (c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 | c9 | c10 | c11 | c12 | c13 | c14 | c15 | c16 | c17 | c18 | c19 | c20 | c21 | c22 | c23 | c24 | c25 | c26 | c27 | c28 | c29 | c30 | c31) & 0x80 ? null : fcc(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29, c30, c31)
    }
  }
}

function readBin(n) {
  if (n > limit - pos) throw truncated('binary')
  const b = Buffer.from(src.subarray(pos, pos + n))
  pos += n
  return b
}

function readExt(n, d) {
  need(n + 1)
  const type = (src[pos] << 24) >> 24
  const start = pos + 1
  const end = start + n
  pos = start
  // Every tuple of a 3.x select is one.
  if (type === EXT_TUPLE) return readTuple(end, d)
  let value
  switch (type) {
    case EXT_UUID:
      if (n !== 16) throw malformed(`a uuid of ${n} bytes`)
      value = new Uuid(src.subarray(start, end))
      break
    case EXT_DATETIME:
      if (n !== 8 && n !== 16) throw malformed(`a datetime of ${n} bytes`)
      value = readDatetime(start, n)
      break
    case EXT_DECIMAL: case EXT_ERROR: case EXT_INTERVAL:
      value = readPayload(type, end, d)
      break
    default: value = new Extension(type, Buffer.from(src.subarray(start, end)))
  }
  pos = end
  return value
}

// An extension whose payload holds MessagePack: the payload is read as an input of its own,
// which nothing may run past and which must be used up.
function readPayload(type, end, d) {
  if (d >= MAX_DEPTH) throw tooDeep()
  const e = d + 1
  const outer = limit
  limit = end
  let value
  switch (type) {
    case EXT_DECIMAL: value = readDecimal(end, e); break
    case EXT_ERROR: value = read(e); break
    default: value = readInterval(e)
  }
  if (pos !== end) throw leftOver(type, end)
  limit = outer
  return type === EXT_ERROR ? decodeErrorExt(value) : value
}

function leftOver(type, end) {
  return malformed(`${end - pos} bytes left over in a MessagePack extension ${type}`)
}

// Tarantool decimals have at most 38 digits and exponents within a few hundred; a scale
// beyond this bound would only be a way to make the decoder build a huge string.
const MAX_DECIMAL_SCALE = 400

function readDecimal(end, d) {
  const scale = read(d)
  if (!Number.isInteger(scale) || scale > MAX_DECIMAL_SCALE || scale < -MAX_DECIMAL_SCALE) {
    // Only a number is shown: anything else decoded could throw when made a string.
    throw malformed(`decimal scale ${typeof scale === 'number' ? scale : typeof scale} is out of range`)
  }
  if (pos === end) throw malformed('a decimal without digits')
  let digits = ''
  let negative = false
  for (let i = pos; i < end; i++) {
    const byte = src[i]
    const hi = byte >> 4
    const lo = byte & 0x0f
    const last = i === end - 1
    if (hi > 9 || (!last && lo > 9)) throw malformed('invalid BCD digit in a decimal')
    digits += hi
    if (last) negative = lo === 0x0d || lo === 0x0b
    else digits += lo
  }
  pos = end
  return Decimal.fromDigits(negative, digits, scale)
}

// MP_TUPLE (3.x): the format id, then the tuple's array; a payload as readPayload reads one.
function readTuple(end, d) {
  if (d >= MAX_DEPTH) throw tooDeep()
  const outer = limit
  limit = end
  const formatId = read(d + 1)
  const tuple = read(d + 1)
  if (pos !== end) throw leftOver(EXT_TUPLE, end)
  if (!Array.isArray(tuple)) throw malformed('an MP_TUPLE without an array')
  limit = outer
  return tupleNames === null ? tuple : objectOf(tuple, tupleNames.get(formatId) || [])
}

/**
 * A tuple as an object keyed by field name; fields beyond the format (or whose name is not a
 * string) keep their position. Names are own data properties, `__proto__` too. A row that is
 * not an array is returned as it is.
 */
function tupleObject(row, names) {
  return Array.isArray(row) ? objectOf(row, names) : row
}

function objectOf(row, names) {
  const o = {}
  for (let i = 0; i < row.length; i++) {
    const name = i < names.length ? names[i] : i
    if (typeof name !== 'string') o[i] = row[i]
    else if (name === '__proto__') ownProperty(o, name, row[i])
    else o[name] = row[i]
  }
  return o
}

function readDatetime(start, n) {
  const seconds = dv().getBigInt64(start, true)
  if (n === 8) return new Datetime({ seconds })
  return new Datetime({
    seconds,
    nsec: dv().getInt32(start + 8, true),
    tzoffset: dv().getInt16(start + 12, true),
    tzindex: dv().getInt16(start + 14, true),
  })
}

function readInterval(d) {
  const count = u8()
  // A missing adjust field is wire value 0.
  const fields = { adjust: ADJUST[0] }
  for (let i = 0; i < count; i++) {
    const id = read(d)
    const v = read(d)
    if (!Number.isInteger(id) || !(Number.isInteger(v) || typeof v === 'bigint')) throw malformed('an interval field is not an integer')
    // Unknown field ids are left out; an unknown adjust is the default.
    const name = INTERVAL_FIELDS[id]
    if (name === 'adjust') fields.adjust = ADJUST[v] || ADJUST[0]
    else if (name !== undefined) fields[name] = v
  }
  return new Interval(fields)
}

// ---------------------------------------------------------------- encoding

/**
 * Appends MessagePack to a growable buffer. One Encoder is reused for every request: it is
 * reset, filled, and its bytes are copied out by the transport before the next use.
 */
class Encoder {
  constructor(size = 8192) {
    this.buf = Buffer.allocUnsafe(size)
    this.pos = 0
    // Tuple formats met ({ id, format } by format key): while null, a BoxTuple is a plain array.
    this.formats = null
  }

  reset() {
    this.pos = 0
    this.formats = null
    return this
  }

  /** From here on a BoxTuple is written as MP_TUPLE, its format collected (call_arg_tuple_extension). */
  collectTupleFormats() {
    this.formats = new Map()
  }

  // MP_TUPLE: an ext whose payload is the format id and the values; its length is patched in.
  tuple(t) {
    if (this.formats === null) return this.value(t.values)
    let known = this.formats.get(t._formatKey)
    if (known === undefined) {
      known = { id: this.formats.size, format: t.format }
      this.formats.set(t._formatKey, known)
    }
    const id = known.id
    this.reserve(6)
    const head = this.pos
    this.buf[head] = 0xc9
    this.buf[head + 5] = EXT_TUPLE
    this.pos += 6
    this.uint(id)
    this.value(t.values)
    this.buf.writeUInt32BE(this.pos - head - 6, head + 1)
  }

  /** The formats collected, as IPROTO_TUPLE_FORMATS' value: { [id]: [{ name, type? }, ...] }. */
  tupleFormats() {
    this.mapHeader(this.formats.size)
    for (const { id, format } of this.formats.values()) {
      this.uint(id)
      this.value(format)
    }
  }

  bytes() {
    return bufferView(this.buf, 0, this.pos)
  }

  /** Bytes encoded so far: an Encoder passes for a request body (see lib/requests.js). */
  get length() {
    return this.pos
  }

  /** Copies what was encoded into out[at..]; returns where it ends. */
  copyInto(out, at) {
    const n = this.pos
    const buf = this.buf
    // Most bodies are a few dozen bytes: a loop beats a native copy's call.
    if (n <= 64) for (let i = 0; i < n; i++) out[at + i] = buf[i]
    else buf.copy(out, at, 0, n)
    return at + n
  }

  /** A Buffer of its own holding what was encoded. */
  toBuffer() {
    return Buffer.from(this.bytes())
  }

  reserve(n) {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buf.copy(grown, 0, 0, this.pos)
    this.buf = grown
  }

  byte(b) {
    this.reserve(1)
    this.buf[this.pos++] = b
  }

  mapHeader(n) {
    this.reserve(5)
    if (n < 16) this.buf[this.pos++] = 0x80 | n
    else if (n < 0x10000) { this.buf[this.pos++] = 0xde; this.buf.writeUInt16BE(n, this.pos); this.pos += 2 }
    else { this.buf[this.pos++] = 0xdf; this.buf.writeUInt32BE(n, this.pos); this.pos += 4 }
  }

  arrayHeader(n) {
    this.reserve(5)
    if (n < 16) this.buf[this.pos++] = 0x90 | n
    else if (n < 0x10000) { this.buf[this.pos++] = 0xdc; this.buf.writeUInt16BE(n, this.pos); this.pos += 2 }
    else { this.buf[this.pos++] = 0xdd; this.buf.writeUInt32BE(n, this.pos); this.pos += 4 }
  }

  uint(n) {
    this.reserve(9)
    const buf = this.buf
    if (n < 0x80) buf[this.pos++] = n
    else if (n < 0x100) { buf[this.pos++] = 0xcc; buf[this.pos++] = n }
    else if (n < 0x10000) { buf[this.pos++] = 0xcd; buf.writeUInt16BE(n, this.pos); this.pos += 2 }
    else if (n < 0x100000000) { buf[this.pos++] = 0xce; buf.writeUInt32BE(n, this.pos); this.pos += 4 }
    else { buf[this.pos++] = 0xcf; buf.writeBigUInt64BE(BigInt(n), this.pos); this.pos += 8 }
  }

  int(n) {
    if (n >= 0) return this.uint(n)
    this.reserve(9)
    const buf = this.buf
    if (n >= -32) buf[this.pos++] = n & 0xff
    else if (n >= -0x80) { buf[this.pos++] = 0xd0; buf.writeInt8(n, this.pos); this.pos += 1 }
    else if (n >= -0x8000) { buf[this.pos++] = 0xd1; buf.writeInt16BE(n, this.pos); this.pos += 2 }
    else if (n >= -0x80000000) { buf[this.pos++] = 0xd2; buf.writeInt32BE(n, this.pos); this.pos += 4 }
    else { buf[this.pos++] = 0xd3; buf.writeBigInt64BE(BigInt(n), this.pos); this.pos += 8 }
  }

  bigint(n) {
    this.reserve(9)
    if (n >= 0n) {
      if (n > 0xffffffffffffffffn) throw new RangeError(`${n} does not fit in uint64`)
      if (n <= 0xffffffffn) return this.uint(Number(n))
      this.buf[this.pos++] = 0xcf
      this.buf.writeBigUInt64BE(n, this.pos)
    } else {
      if (n < -0x8000000000000000n) throw new RangeError(`${n} does not fit in int64`)
      if (n >= -0x80000000n) return this.int(Number(n))
      this.buf[this.pos++] = 0xd3
      this.buf.writeBigInt64BE(n, this.pos)
    }
    this.pos += 8
  }

  float(n) {
    this.reserve(9)
    this.buf[this.pos++] = 0xcb
    this.buf.writeDoubleBE(n, this.pos)
    this.pos += 8
  }

  str(s) {
    const max = s.length * 3
    this.reserve(max + 5)
    const buf = this.buf
    if (s.length < 32) {
      // Short ASCII strings: write bytes directly, no native call.
      const start = this.pos
      let p = start + 1
      let ascii = true
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) { ascii = false; break }
        buf[p++] = c
      }
      if (ascii) {
        buf[start] = 0xa0 | s.length
        this.pos = p
        return
      }
    }
    // Header sized for the worst case, then fixed up to the real byte length.
    const headerLen = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5
    const start = this.pos
    const n = buf.utf8Write(s, start + headerLen)
    if (headerLen === 1) buf[start] = 0xa0 | n
    else if (headerLen === 2) { buf[start] = 0xd9; buf[start + 1] = n }
    else if (headerLen === 3) { buf[start] = 0xda; buf.writeUInt16BE(n, start + 1) }
    else { buf[start] = 0xdb; buf.writeUInt32BE(n, start + 1) }
    this.pos = start + headerLen + n
  }

  /** A string given as its exact bytes (kept as they are, never re-encoded). */
  strBytes(bytes) {
    const n = bytes.length
    this.reserve(n + 5)
    if (n < 32) this.buf[this.pos++] = 0xa0 | n
    else if (n < 0x100) { this.buf[this.pos++] = 0xd9; this.buf[this.pos++] = n }
    else if (n < 0x10000) { this.buf[this.pos++] = 0xda; this.buf.writeUInt16BE(n, this.pos); this.pos += 2 }
    else { this.buf[this.pos++] = 0xdb; this.buf.writeUInt32BE(n, this.pos); this.pos += 4 }
    this.buf.set(bytes, this.pos)
    this.pos += n
  }

  bin(bytes) {
    const n = bytes.length
    this.reserve(n + 5)
    if (n < 0x100) { this.buf[this.pos++] = 0xc4; this.buf[this.pos++] = n }
    else if (n < 0x10000) { this.buf[this.pos++] = 0xc5; this.buf.writeUInt16BE(n, this.pos); this.pos += 2 }
    else { this.buf[this.pos++] = 0xc6; this.buf.writeUInt32BE(n, this.pos); this.pos += 4 }
    this.buf.set(bytes, this.pos)
    this.pos += n
  }

  ext(type, payload) {
    const n = payload.length
    this.reserve(n + 6)
    const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[n]
    if (fixed !== undefined) this.buf[this.pos++] = fixed
    else if (n < 0x100) { this.buf[this.pos++] = 0xc7; this.buf[this.pos++] = n }
    else if (n < 0x10000) { this.buf[this.pos++] = 0xc8; this.buf.writeUInt16BE(n, this.pos); this.pos += 2 }
    else { this.buf[this.pos++] = 0xc9; this.buf.writeUInt32BE(n, this.pos); this.pos += 4 }
    this.buf.writeInt8(type, this.pos++)
    this.buf.set(payload, this.pos)
    this.pos += n
  }

  /** Any JS value, following kharon's type mapping (README, "MessagePack types"). */
  value(v) {
    switch (typeof v) {
      case 'number':
        if (Number.isSafeInteger(v)) this.int(v)
        else if (Number.isInteger(v) && v >= -0x8000000000000000 && v < 0x10000000000000000) this.bigint(BigInt(v))
        else this.float(v)
        return
      case 'string': return this.str(v)
      case 'boolean': return this.byte(v ? 0xc3 : 0xc2)
      case 'undefined': return this.byte(0xc0)
      case 'bigint': return this.bigint(v)
      case 'object':
        if (v === null) return this.byte(0xc0)
        if (Array.isArray(v)) {
          this.arrayHeader(v.length)
          for (let i = 0; i < v.length; i++) this.value(v[i])
          return
        }
        if (v instanceof Uint8Array) return this.bin(v)
        if (v instanceof Decimal) return this.ext(EXT_DECIMAL, decimalPayload(v))
        if (v instanceof Uuid) return this.ext(EXT_UUID, v._bytes())
        if (v instanceof Datetime) return this.ext(EXT_DATETIME, datetimePayload(v))
        if (v instanceof Date) return this.ext(EXT_DATETIME, datetimePayload(Datetime.fromDate(v)))
        if (v instanceof Interval) return this.ext(EXT_INTERVAL, intervalPayload(v))
        if (v instanceof Extension) return this.ext(v.type, v.data)
        if (v instanceof BoxTuple) return this.tuple(v)
        if (v instanceof Map) {
          this.mapHeader(v.size)
          for (const [k, x] of v) {
            this.value(k)
            this.value(x)
          }
          return
        }
        return this.object(v)
      default:
        throw new TypeError(`cannot encode a ${typeof v} as MessagePack`)
    }
  }

  object(o) {
    const keys = Object.keys(o)
    this.mapHeader(keys.length)
    for (let i = 0; i < keys.length; i++) {
      this.str(keys[i])
      this.value(o[keys[i]])
    }
  }
}

function decimalPayload(d) {
  const { negative, digits, scale } = d.parts()
  const trimmed = digits.replace(/^0+(?=\d)/, '')
  if (trimmed.length > 38) throw new RangeError('Tarantool decimals have at most 38 digits')
  const e = new Encoder(32)
  e.int(scale)
  // Digits then the sign nibble, packed two per byte; an odd total starts with a 0 nibble.
  const nibbles = (trimmed.length % 2 === 0 ? '0' : '') + trimmed
  for (let i = 0; i < nibbles.length; i += 2) {
    const hi = nibbles.charCodeAt(i) - 48
    const lo = i + 1 < nibbles.length ? nibbles.charCodeAt(i + 1) - 48 : negative ? 0x0d : 0x0c
    e.byte((hi << 4) | lo)
  }
  return e.bytes()
}

function datetimePayload(d) {
  const full = d.nsec !== 0 || d.tzoffset !== 0 || d.tzindex !== 0
  const b = Buffer.alloc(full ? 16 : 8)
  b.writeBigInt64LE(d.seconds, 0)
  if (full) {
    b.writeInt32LE(d.nsec, 8)
    b.writeInt16LE(d.tzoffset, 12)
    b.writeInt16LE(d.tzindex, 14)
  }
  return b
}

function intervalPayload(iv) {
  const e = new Encoder(64)
  const present = []
  INTERVAL_FIELDS.forEach((name, id) => {
    const v = name === 'adjust' ? ADJUST.indexOf(iv.adjust) : iv[name]
    if (v !== 0) present.push([id, v])
  })
  e.byte(present.length)
  for (const [id, v] of present) {
    e.uint(id)
    e.int(v)
  }
  return e.bytes()
}

/** Encodes one value into a new Buffer. */
function encode(value) {
  const e = new Encoder(256)
  e.value(value)
  return e.toBuffer()
}

module.exports = { decode, encode, Encoder, setErrorDecoder, findKey, tupleFormatsOf, rawString, tupleObject, malformed, MAX_DEPTH }
