'use strict'

// Classes for Tarantool's MessagePack extension types.

const DECIMAL_RE = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

/** An exact decimal (MP_EXT 1). Keeps every digit; arithmetic is up to you. */
const kCanonical = Symbol('canonical decimal text')

class Decimal {
  #text

  /** From a string ('-12.50', '1e-3'), a number, or a BigInt. */
  constructor(value, canonical) {
    if (value === kCanonical) {
      this.#text = canonical
      return
    }
    if (typeof value === 'bigint') value = value.toString()
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError('a Decimal must be finite')
      value = String(value)
    }
    if (typeof value !== 'string') throw new TypeError('Decimal takes a string, number or bigint')
    const m = DECIMAL_RE.exec(value.trim())
    if (m === null || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
      throw new TypeError(`not a decimal number: ${JSON.stringify(value)}`)
    }
    const exp = m[4] === undefined ? 0 : Number(m[4])
    this.#text = normalize(m[1] === '-', m[2] + (m[3] || ''), (m[3] || '').length - exp)
  }

  /** Builds from digits and a scale (value = digits × 10^-scale), as on the wire. */
  static fromDigits(negative, digits, scale) {
    return new Decimal(kCanonical, normalize(negative, digits, scale))
  }

  /** { negative, digits, scale } such that value = digits × 10^-scale, scale >= 0. */
  parts() {
    const negative = this.#text.startsWith('-')
    const abs = negative ? this.#text.slice(1) : this.#text
    const dot = abs.indexOf('.')
    if (dot < 0) return { negative, digits: abs, scale: 0 }
    return { negative, digits: abs.slice(0, dot) + abs.slice(dot + 1), scale: abs.length - dot - 1 }
  }

  toString() {
    return this.#text
  }

  toJSON() {
    return this.#text
  }

  toNumber() {
    return Number(this.#text)
  }

  valueOf() {
    return this.toNumber()
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Decimal(${this.#text})`
  }
}

// Canonical text: no leading zeros, trailing fractional zeros kept (they are significant in
// Tarantool's decimal, e.g. 1.50 has scale 2), '-0' folded to '0'.
function normalize(negative, digits, scale) {
  if (scale < 0) {
    digits += '0'.repeat(-scale)
    scale = 0
  }
  if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits
  let int = digits.slice(0, digits.length - scale).replace(/^0+(?=\d)/, '')
  if (int === '') int = '0'
  const frac = digits.slice(digits.length - scale)
  const text = frac === '' ? int : `${int}.${frac}`
  return negative && /[1-9]/.test(digits) ? `-${text}` : text
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A UUID (MP_EXT 2). `new Uuid('...')` is how a string is sent as a uuid. */
class Uuid {
  #bytes

  constructor(value) {
    if (typeof value === 'string') {
      if (!UUID_RE.test(value)) throw new TypeError(`not a UUID: ${JSON.stringify(value)}`)
      this.#bytes = Buffer.from(value.replace(/-/g, ''), 'hex')
    } else if (value instanceof Uint8Array && value.length === 16) {
      this.#bytes = Buffer.from(value)
    } else {
      throw new TypeError('Uuid takes a canonical UUID string or 16 bytes')
    }
  }

  /** The 16 bytes in RFC 4122 order (a copy). */
  toBuffer() {
    return Buffer.from(this.#bytes)
  }

  _bytes() {
    return this.#bytes
  }

  toString() {
    const h = this.#bytes.toString('hex')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }

  toJSON() {
    return this.toString()
  }

  equals(other) {
    return other instanceof Uuid && this.#bytes.equals(other._bytes())
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Uuid(${this.toString()})`
  }
}

/** A datetime (MP_EXT 4, Tarantool >= 2.10): seconds since the epoch plus nanoseconds. */
class Datetime {
  /** seconds: number or bigint; nsec 0..999999999; tzoffset minutes; tzindex Tarantool's zone id. */
  constructor({ seconds = 0, nsec = 0, tzoffset = 0, tzindex = 0 } = {}) {
    this.seconds = typeof seconds === 'bigint' ? seconds : BigInt(Math.trunc(seconds))
    this.nsec = nsec
    this.tzoffset = tzoffset
    this.tzindex = tzindex
  }

  /** From a Date (milliseconds, UTC: tzoffset and tzindex 0). */
  static fromDate(date) {
    const ms = date.getTime()
    if (!Number.isFinite(ms)) throw new RangeError('invalid Date')
    const seconds = Math.floor(ms / 1000)
    return new Datetime({ seconds, nsec: (ms - seconds * 1000) * 1e6 })
  }

  /** The same instant as a Date: below a millisecond is cut off, and the offset is not kept. */
  toDate() {
    return new Date(Number(this.seconds) * 1000 + Math.floor(this.nsec / 1e6))
  }

  /** ISO 8601 in the datetime's own offset, to the nanosecond: 2024-03-15T12:34:56.123456789+03:00. */
  toISOString() {
    const local = new Date((Number(this.seconds) + this.tzoffset * 60) * 1000).toISOString().slice(0, 19)
    const sign = this.tzoffset < 0 ? '-' : '+'
    const abs = Math.abs(this.tzoffset)
    const offset = this.tzoffset === 0 ? 'Z' : `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`
    return `${local}.${String(this.nsec).padStart(9, '0')}${offset}`
  }

  toJSON() {
    return this.toISOString()
  }
}

function pad2(n) {
  return String(n).padStart(2, '0')
}

const INTERVAL_FIELDS = ['year', 'month', 'week', 'day', 'hour', 'min', 'sec', 'nsec', 'adjust']
// Wire values of `adjust`, as Tarantool's mp_interval.c numbers them.
const ADJUST = ['excess', 'none', 'last']

/** A datetime interval (MP_EXT 6, Tarantool >= 2.10). `adjust` is 'none' (the default), 'excess' or 'last'. */
class Interval {
  constructor(fields = {}) {
    for (const name of INTERVAL_FIELDS) this[name] = name === 'adjust' ? 'none' : 0
    for (const [name, value] of Object.entries(fields)) {
      if (!INTERVAL_FIELDS.includes(name)) throw new TypeError(`unknown Interval field ${name}`)
      if (name === 'adjust' && !ADJUST.includes(value)) throw new TypeError(`adjust must be one of ${ADJUST.join(', ')}`)
      this[name] = value
    }
  }
}

/** An extension type kharon does not know: its type number and raw payload. */
class Extension {
  constructor(type, data) {
    this.type = type
    this.data = data
  }
}

/**
 * A tuple with its format, as a call or eval argument: where the server has
 * call_arg_tuple_extension (3.0+), the function receives a box.tuple whose fields have these
 * names (`t.name` in Lua); elsewhere it receives the values as a plain array. `format` is the
 * field names, or `{ name, type }` definitions as in a space format.
 */
class BoxTuple {
  constructor(values, format) {
    if (!Array.isArray(values)) throw new TypeError('a BoxTuple takes an array of values')
    if (!Array.isArray(format)) throw new TypeError('a BoxTuple takes a format: an array of field names or { name, type }')
    this.values = values
    this.format = Object.freeze(format.map(fieldDefinition))
    // Tuples of one request with equal formats share one format id.
    this._formatKey = JSON.stringify(this.format)
  }

  /** A BoxTuple of an object's own enumerable fields, named by its keys, in their order. */
  static fromObject(object) {
    if (object === null || typeof object !== 'object') throw new TypeError('BoxTuple.fromObject takes an object')
    const names = Object.keys(object)
    return new BoxTuple(names.map((n) => object[n]), names)
  }
}

function fieldDefinition(field) {
  if (typeof field === 'string') return Object.freeze({ name: field })
  if (field !== null && typeof field === 'object' && typeof field.name === 'string') {
    if (field.type !== undefined && typeof field.type !== 'string') throw new TypeError(`the type of field '${field.name}' must be a string`)
    return Object.freeze(field.type === undefined ? { name: field.name } : { name: field.name, type: field.type })
  }
  throw new TypeError('a BoxTuple format field is a name or { name, type }')
}

module.exports = { Decimal, Uuid, Datetime, Interval, Extension, BoxTuple, INTERVAL_FIELDS, ADJUST }
