'use strict'

// vshard's bucket of a key, computed on the client: the number vshard.router.bucket_id_strcrc32
// and bucket_id_mpcrc32 return on a server for the same key sent as a call argument. vshard
// (vshard/hash.lua) hashes the Lua value the server decoded:
//
//   strcrc32(key) = digest.crc32(tostring(key)), for an array key the crc32 updated with
//                   tostring() of each part in turn;
//   mpcrc32(key)  = digest.crc32(msgpackffi.encode(key)), a string's raw bytes instead of its
//                   encoding, for an array key updated part by part the same way;
//   bucket id     = hash % bucketCount + 1.
//
// digest.crc32 is CRC-32C (Castagnoli) started at 0xFFFFFFFF and never inverted at the end, and
// updating it part by part is the CRC of the parts' bytes one after the other. So both hashes are
// one CRC over bytes this module writes as the server would: what a JS value becomes in Lua
// (kharon's encoding, then the server's decoding) and what tostring() or msgpackffi makes of it.
// The rules, checked against 2.6 and 3.8 by __test__/bucket-id.test.js:
//
// - An integer (a number that is a safe integer, an integral number within [-2^63, 2^64) and a
//   BigInt within int64/uint64 alike) arrives as a Lua number when its magnitude is at most
//   1e14 - 1, else as cdata: uint64_t when positive, int64_t when negative. tostring() writes
//   the number's digits, or the cdata's with a ULL / LL suffix. msgpackffi writes the smallest
//   MessagePack integer either way (-0 is 0).
// - Any other number is a Lua double: tostring() writes it as C's "%.14g" ('0.1', '1e+20',
//   'inf', '-inf', 'nan'); msgpackffi writes a MessagePack double (0xcb), never a float, and a
//   NaN as 0xfff8000000000000, the only NaN LuaJIT keeps. An integral double beyond
//   int64/uint64 (1e20, -1e19) is a double to 3.x's msgpackffi (`obj >= -2^63 and obj < 2^64`
//   makes an integer) and so here; 2.6's (`obj > -1e63 and obj < 1e64`) converts it to a 64-bit
//   integer, which C leaves undefined: its bytes differ between LuaJIT's interpreter and its
//   compiled code, so nothing can match vshard there.
// - A boolean is 'true' / 'false', 0xc3 / 0xc2.
// - null and undefined arrive as box.NULL, a cdata NULL pointer, not nil (so a null part never
//   ends an array key, as a Lua nil would end ipairs): 'cdata<void *>: NULL', 0xc0.
// - A string is its UTF-8 bytes (a lone surrogate as U+FFFD, as kharon sends it); inside a
//   nested array msgpackffi writes it with its MessagePack str header.
// - Binary data (a Uint8Array) is its bytes to strcrc32. mpcrc32 throws for it: 2.6 decodes it
//   to a Lua string (hashed raw), 3.x to a varbinary, which msgpackffi encodes as MP_BIN.
// - A Uuid arrives as a struct tt_uuid: its canonical lower-case text, MP_EXT 2 (0xd8 0x02 and
//   the 16 bytes).
// - An array is an array key; an array inside it is, for mpcrc32, one part that msgpackffi
//   encodes as a MessagePack array. strcrc32 throws for it: tostring() of a Lua table is its
//   address. Other values (objects, Maps, Decimals, Datetimes...) throw a TypeError: their
//   server-side hash is undefined (a map's order) or depends on the server version (a
//   decimal's tostring() is '1000' on 2.6, '1E+3' on 3.x).
//
// On 2.6 vshard itself sometimes strays from these rules: once LuaJIT has compiled the loop in
// strcrc32, the first part of an array key may be left out of the hash ({1, 'a'} hashed as
// {'a'}). The interpreter, and 3.8 compiled or not, hash every part, as this module does.

const { Uuid } = require('./types')

// ---------------------------------------------------------------------------------------------
// CRC-32C as Tarantool's digest.crc32 computes it

const CRC_INIT = 0xffffffff

/** CRC-32C's byte table: the reflected Castagnoli polynomial 0x82F63B78. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    table[i] = c
  }
  return table
})()

// The CRC is carried as an int32 between steps (the table's entries xored with a shifted int),
// made unsigned only where a caller sees it.

function crcByte(crc, b) {
  return CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8)
}

function crcBytes(crc, bytes) {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8)
  return crc
}

/** Big-endian, the 4 bytes of the uint32 `u`. */
function crcU32(crc, u) {
  crc = crcByte(crc, u >>> 24)
  crc = crcByte(crc, u >>> 16)
  crc = crcByte(crc, u >>> 8)
  return crcByte(crc, u)
}

/** A string's UTF-8 bytes, encoded as they are hashed: no buffer. A lone surrogate is U+FFFD. */
function crcString(crc, s) {
  const table = CRC_TABLE
  for (let i = 0, n = s.length; i < n; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      crc = table[(crc ^ c) & 0xff] ^ (crc >>> 8)
      continue
    }
    if (c < 0x800) {
      crc = crcByte(crc, 0xc0 | (c >> 6))
    } else {
      if (c >= 0xd800 && c < 0xe000) {
        const d = c < 0xdc00 && i + 1 < n ? s.charCodeAt(i + 1) : 0
        if (d >= 0xdc00 && d < 0xe000) {
          i++
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          crc = crcByte(crc, 0xf0 | (c >> 18))
          crc = crcByte(crc, 0x80 | ((c >> 12) & 0x3f))
        } else {
          c = 0xfffd
          crc = crcByte(crc, 0xe0 | (c >> 12))
        }
      } else {
        crc = crcByte(crc, 0xe0 | (c >> 12))
      }
      crc = crcByte(crc, 0x80 | ((c >> 6) & 0x3f))
    }
    crc = crcByte(crc, 0x80 | (c & 0x3f))
  }
  return crc
}

/** The length of crcString()'s bytes. */
function utf8Length(s) {
  let len = s.length
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) len += 1
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 2 // 4 bytes for the 2 units
      i++
    } else {
      len += 2
    }
  }
  return len
}

/**
 * Tarantool's digest.crc32 of `data` (a string, as its UTF-8 bytes, or a Uint8Array): CRC-32C
 * from `crc` (default 0xFFFFFFFF, digest.crc32's start) with no final inversion, an unsigned
 * 32-bit number. Passing the previous result as `crc` continues it, as digest.crc32.new()'s
 * update() does. The standard CRC-32C of the bytes is `(crc32c(data) ^ 0xFFFFFFFF) >>> 0`.
 */
function crc32c(data, crc = CRC_INIT) {
  if (!Number.isInteger(crc) || crc < 0 || crc > 0xffffffff) throw new RangeError('crc32c(): crc must be an unsigned 32-bit integer')
  if (typeof data === 'string') return crcString(crc | 0, data) >>> 0
  if (data instanceof Uint8Array) return crcBytes(crc | 0, data) >>> 0
  throw new TypeError('crc32c() takes a string or a Uint8Array')
}

// ---------------------------------------------------------------------------------------------
// what a JS value is on the server

const TWO_63 = 2 ** 63
const TWO_64 = 2 ** 64
// luaL_pushint64 / luaL_pushuint64 keep an integer a Lua number up to this magnitude, beyond it
// cdata (so that tostring(), with its 14 digits, loses nothing).
const NUMBER_MAX = 1e14 - 1
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n
// A table this deep in a key part: 2.6's msgpackffi writes nil, 3.x's raises an error.
const MP_MAX_DEPTH = 16

/** A BigInt key as the integer it is sent as: a number when safe. */
function bigintValue(v) {
  if (v < INT64_MIN || v > UINT64_MAX) throw new RangeError(`${v} does not fit in int64 or uint64`)
  return v >= -0x1fffffffffffffn && v <= 0x1fffffffffffffn ? Number(v) : v
}

// -- tostring()

const FLOAT64 = new Float64Array(1)
const FLOAT64_BYTES = new Uint8Array(FLOAT64.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Lua's tostring() of a Lua number that is a double: C's "%.14g". */
function formatG14(x) {
  if (Number.isInteger(x) && x > -1e14 && x < 1e14) return Object.is(x, -0) ? '-0' : String(x)
  if (x !== x) return 'nan'
  if (x === Infinity) return 'inf'
  if (x === -Infinity) return '-inf'
  // 14 significant digits, a tie rounded away from zero: LuaJIT's rounding too (it adds 5 past
  // the last digit of the exact decimal value, then truncates).
  const e = x.toExponential(13)
  const neg = e.charCodeAt(0) === 45 // '-'
  const at = e.indexOf('e')
  const exp = Number(e.slice(at + 1))
  const digits = e[neg ? 1 : 0] + e.slice(neg ? 3 : 2, at)
  const sign = neg ? '-' : ''
  if (exp < -4 || exp >= 14) {
    const d = digits.replace(/0+$/, '')
    const expText = exp < 0 ? `-${exp > -10 ? '0' : ''}${-exp}` : `+${exp < 10 ? '0' : ''}${exp}`
    return `${sign}${d[0]}${d.length > 1 ? `.${d.slice(1)}` : ''}e${expText}`
  }
  const int = exp >= 0 ? digits.slice(0, exp + 1) : '0'
  const frac = (exp >= 0 ? digits.slice(exp + 1) : '0'.repeat(-exp - 1) + digits).replace(/0+$/, '')
  return `${sign}${int}${frac ? `.${frac}` : ''}`
}

/** tostring() of an integer as the server holds it: a number's digits, a cdata's with a suffix. */
function integerText(n) {
  if (typeof n === 'number' && n >= -NUMBER_MAX && n <= NUMBER_MAX) return n === 0 ? '0' : String(n)
  return n >= 0 ? `${n}ULL` : `${n}LL`
}

/** The CRC updated with tostring() of a scalar key or key part. */
function crcTostring(crc, v) {
  switch (typeof v) {
    case 'string': return crcString(crc, v)
    case 'number':
      if (Number.isSafeInteger(v)) return crcString(crc, integerText(v))
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_64) return crcString(crc, integerText(BigInt(v)))
      return crcString(crc, formatG14(v))
    case 'bigint': return crcString(crc, integerText(bigintValue(v)))
    case 'boolean': return crcString(crc, v ? 'true' : 'false')
    case 'undefined': return crcString(crc, 'cdata<void *>: NULL')
    case 'object':
      if (v === null) return crcString(crc, 'cdata<void *>: NULL')
      if (v instanceof Uuid) return crcString(crc, v.toString())
      if (v instanceof Uint8Array) return crcBytes(crc, v)
      if (Array.isArray(v)) throw new TypeError('bucketIdStrcrc32(): an array inside an array key is a Lua table, whose tostring() is its address')
  }
  throw unsupported('bucketIdStrcrc32', v)
}

// -- msgpackffi.encode()

/** The CRC updated with the MessagePack of an integer, a number within ±(2^53 - 1) or a BigInt. */
function crcInteger(crc, n) {
  if (typeof n === 'number') {
    if (n >= 0) {
      if (n <= 0x7f) return crcByte(crc, n)
      if (n <= 0xff) return crcByte(crcByte(crc, 0xcc), n)
      if (n <= 0xffff) return crcByte(crcByte(crcByte(crc, 0xcd), n >>> 8), n)
      if (n <= 0xffffffff) return crcU32(crcByte(crc, 0xce), n)
      return crcU32(crcU32(crcByte(crc, 0xcf), Math.floor(n / 0x100000000)), n % 0x100000000)
    }
    if (n >= -0x20) return crcByte(crc, n & 0xff)
    if (n >= -0x80) return crcByte(crcByte(crc, 0xd0), n & 0xff)
    if (n >= -0x8000) return crcByte(crcByte(crcByte(crc, 0xd1), (n >> 8) & 0xff), n & 0xff)
    if (n >= -0x80000000) return crcU32(crcByte(crc, 0xd2), n >>> 0)
    const hi = Math.floor(n / 0x100000000)
    return crcU32(crcU32(crcByte(crc, 0xd3), hi >>> 0), n - hi * 0x100000000)
  }
  const u = BigInt.asUintN(64, n)
  crc = crcByte(crc, n >= 0n ? 0xcf : 0xd3)
  return crcU32(crcU32(crc, Number(u >> 32n)), Number(u & 0xffffffffn))
}

/**
 * The CRC updated with the MessagePack double (0xcb) of `x`. A NaN is LuaJIT's one NaN,
 * 0xfff8000000000000, whatever bits it arrived with (LuaJIT canonicalizes every NaN it is given).
 */
function crcDouble(crc, x) {
  crc = crcByte(crc, 0xcb)
  if (x !== x) return crcU32(crcU32(crc, 0xfff80000), 0)
  FLOAT64[0] = x
  if (LITTLE_ENDIAN) for (let i = 7; i >= 0; i--) crc = crcByte(crc, FLOAT64_BYTES[i])
  else for (let i = 0; i < 8; i++) crc = crcByte(crc, FLOAT64_BYTES[i])
  return crc
}

/** The CRC updated with msgpackffi.encode() of a value `depth` tables deep in a key part. */
function crcMsgpack(crc, v, depth) {
  switch (typeof v) {
    case 'number':
      if (Number.isSafeInteger(v)) return crcInteger(crc, v)
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_64) return crcInteger(crc, BigInt(v))
      return crcDouble(crc, v)
    case 'bigint': return crcInteger(crc, bigintValue(v))
    case 'boolean': return crcByte(crc, v ? 0xc3 : 0xc2)
    case 'undefined': return crcByte(crc, 0xc0)
    case 'string': {
      const len = utf8Length(v)
      if (len <= 31) crc = crcByte(crc, 0xa0 | len)
      else if (len <= 0xff) crc = crcByte(crcByte(crc, 0xd9), len)
      else if (len <= 0xffff) crc = crcByte(crcByte(crcByte(crc, 0xda), len >>> 8), len)
      else crc = crcU32(crcByte(crc, 0xdb), len)
      return crcString(crc, v)
    }
    case 'object':
      if (v === null) return crcByte(crc, 0xc0)
      if (v instanceof Uuid) return crcBytes(crcByte(crcByte(crc, 0xd8), 0x02), v._bytes())
      if (v instanceof Uint8Array) throw new TypeError('bucketIdMpcrc32(): binary data is a string to 2.6 and a varbinary to 3.x, which msgpackffi hashes differently')
      if (Array.isArray(v)) {
        if (depth >= MP_MAX_DEPTH) throw new RangeError(`bucketIdMpcrc32(): an array ${depth} levels deep in a key part`)
        const n = v.length
        if (n <= 0xf) crc = crcByte(crc, 0x90 | n)
        else if (n <= 0xffff) crc = crcByte(crcByte(crcByte(crc, 0xdc), n >>> 8), n)
        else crc = crcU32(crcByte(crc, 0xdd), n)
        for (let i = 0; i < n; i++) crc = crcMsgpack(crc, v[i], depth + 1)
        return crc
      }
  }
  throw unsupported('bucketIdMpcrc32', v)
}

function unsupported(fn, v) {
  const what = v === null || typeof v !== 'object' ? typeof v : (v.constructor && v.constructor.name) || 'object'
  return new TypeError(`${fn}(): cannot hash a ${what} as the server would (a key part is a string, number, BigInt, boolean, null or Uuid; a key is one, or an array of them)`)
}

// ---------------------------------------------------------------------------------------------
// the hashes and the bucket ids

/** vshard.hash.strcrc32 of `key` as the server sees it (a call argument): an unsigned 32-bit number. */
function strcrc32(key) {
  if (!Array.isArray(key)) return crcTostring(CRC_INIT, key) >>> 0
  let crc = CRC_INIT
  for (let i = 0; i < key.length; i++) crc = crcTostring(crc, key[i])
  return crc >>> 0
}

/** vshard.hash.mpcrc32 of `key` as the server sees it (a call argument): an unsigned 32-bit number. */
function mpcrc32(key) {
  if (typeof key === 'string') return crcString(CRC_INIT, key) >>> 0
  if (!Array.isArray(key)) return crcMsgpack(CRC_INIT, key, 0) >>> 0
  let crc = CRC_INIT
  for (let i = 0; i < key.length; i++) {
    const part = key[i]
    crc = typeof part === 'string' ? crcString(crc, part) : crcMsgpack(crc, part, 0)
  }
  return crc >>> 0
}

function checkBucketCount(fn, bucketCount) {
  if (!Number.isInteger(bucketCount) || bucketCount < 1 || bucketCount > 0xffffffff) {
    throw new RangeError(`${fn}(): bucketCount must be an integer from 1 to 2^32 - 1, not ${String(bucketCount)}`)
  }
}

/** vshard.router.bucket_id_strcrc32(key) of a cluster of `bucketCount` buckets: 1..bucketCount. */
function bucketIdStrcrc32(key, bucketCount) {
  checkBucketCount('bucketIdStrcrc32', bucketCount)
  return strcrc32(key) % bucketCount + 1
}

/** vshard.router.bucket_id_mpcrc32(key) of a cluster of `bucketCount` buckets: 1..bucketCount. */
function bucketIdMpcrc32(key, bucketCount) {
  checkBucketCount('bucketIdMpcrc32', bucketCount)
  return mpcrc32(key) % bucketCount + 1
}

module.exports = { bucketIdStrcrc32, bucketIdMpcrc32, strcrc32, mpcrc32, crc32c, formatG14 }
