'use strict'

// A scripted peer replaying recorded Tarantool 3.3.0 frames — not a real server.
//
// Our machines only have Tarantool 2.6, so tests of 2.10+ features (ID, streams, pagination,
// tuple formats, ...) run against this TCP server instead. It greets with a recorded greeting
// and answers each request with the reply a real Tarantool 3.3.0 gave to an equal request in
// the transcripts of __test__/fixtures/wire-3.3/, byte for byte except the SYNC. Its own logic
// is ID, AUTH (a real chap-sha1 check), the matching (a request nobody recorded gets an error
// naming it, so the test fails with a clear message), and two things no replay can do, both
// following the rules the transcripts show (see the fixtures' README): watchers (WATCH /
// UNWATCH / EVENT, 05-watchers) with keys set by the test, and graceful shutdown (06, 06b, 06c).

const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'wire-3.3')
const HOST = '127.0.0.1'

const T = { SELECT: 1, AUTH: 7, EVAL: 8, CALL: 10, ID: 73, WATCH: 74, UNWATCH: 75, EVENT: 76, CHUNK: 0x80 }
const K = { TYPE: 0x00, SYNC: 0x01, SCHEMA_VERSION: 0x05, STREAM_ID: 0x0a, INDEX_ID: 0x11,
  OFFSET: 0x13, ITERATOR: 0x14, TUPLE: 0x21, USER_NAME: 0x23, ERROR_24: 0x31, EVENT_KEY: 0x57,
  EVENT_DATA: 0x58 }
const CREDS_MISMATCH = 0x8000 | 47
const SYNC_AT = 14 // ce u32 | 83 00 ce<u32 type> 01 cf<u64 sync> ...

// ---------------------------------------------------------------------------------------------
// MessagePack decoding into tagged nodes, so that str/bin, int/float and key types stay apart
// when comparing ({ t, v }; maps keep their [key, value] pairs; ints are BigInt)

function decodeAt(buf, pos) {
  const need = (n) => { if (pos + n > buf.length) throw new RangeError(`truncated MessagePack at ${pos}`) }
  const take = (n) => { need(n); const s = buf.subarray(pos, pos + n); pos += n; return s }
  const uint = (n) => { need(n); let x = 0n; for (let i = 0; i < n; i++) x = (x << 8n) | BigInt(buf[pos++]); return x }
  const sint = (n) => BigInt.asIntN(n * 8, uint(n))
  const len = (n) => Number(uint(n))
  const many = (n) => { const a = []; for (let i = 0; i < n; i++) a.push(read()); return { t: 'arr', v: a } }
  const pairs = (n) => { const m = []; for (let i = 0; i < n; i++) { const k = read(); m.push([k, read()]) } return { t: 'map', v: m } }
  const ext = (n) => { const type = Number(sint(1)); return { t: 'ext', type, v: take(n) } }
  const read = () => {
    need(1)
    const b = buf[pos++]
    if (b <= 0x7f) return { t: 'int', v: BigInt(b) }
    if (b >= 0xe0) return { t: 'int', v: BigInt(b - 256) }
    if ((b & 0xf0) === 0x80) return pairs(b & 0x0f)
    if ((b & 0xf0) === 0x90) return many(b & 0x0f)
    if ((b & 0xe0) === 0xa0) return { t: 'str', v: take(b & 0x1f) }
    switch (b) {
      case 0xc0: return { t: 'nil' }
      case 0xc2: return { t: 'bool', v: false }
      case 0xc3: return { t: 'bool', v: true }
      case 0xc4: return { t: 'bin', v: take(len(1)) }
      case 0xc5: return { t: 'bin', v: take(len(2)) }
      case 0xc6: return { t: 'bin', v: take(len(4)) }
      case 0xc7: return ext(len(1))
      case 0xc8: return ext(len(2))
      case 0xc9: return ext(len(4))
      case 0xca: return { t: 'f32', v: take(4).readFloatBE(0) }
      case 0xcb: return { t: 'f64', v: take(8).readDoubleBE(0) }
      case 0xcc: return { t: 'int', v: uint(1) }
      case 0xcd: return { t: 'int', v: uint(2) }
      case 0xce: return { t: 'int', v: uint(4) }
      case 0xcf: return { t: 'int', v: uint(8) }
      case 0xd0: return { t: 'int', v: sint(1) }
      case 0xd1: return { t: 'int', v: sint(2) }
      case 0xd2: return { t: 'int', v: sint(4) }
      case 0xd3: return { t: 'int', v: sint(8) }
      case 0xd4: return ext(1)
      case 0xd5: return ext(2)
      case 0xd6: return ext(4)
      case 0xd7: return ext(8)
      case 0xd8: return ext(16)
      case 0xd9: return { t: 'str', v: take(len(1)) }
      case 0xda: return { t: 'str', v: take(len(2)) }
      case 0xdb: return { t: 'str', v: take(len(4)) }
      case 0xdc: return many(len(2))
      case 0xdd: return many(len(4))
      case 0xde: return pairs(len(2))
      case 0xdf: return pairs(len(4))
      default: throw new Error(`unsupported MessagePack byte 0x${b.toString(16)} at ${pos - 1}`)
    }
  }
  const node = read()
  return [node, pos]
}

/** A string equal for equal values: ints by value, map entries in any order. */
function canon(n) {
  switch (n.t) {
    case 'nil': return 'n'
    case 'bool': return n.v ? 't' : 'f'
    case 'int': return 'i' + n.v
    case 'f32': case 'f64': return 'd' + (Object.is(n.v, -0) ? '-0' : String(n.v))
    case 'str': return 's' + n.v.toString('hex')
    case 'bin': return 'b' + n.v.toString('hex')
    case 'ext': return 'x' + n.type + ':' + n.v.toString('hex')
    case 'arr': return '[' + n.v.map(canon).join(',') + ']'
    case 'map': return '{' + n.v.map(([k, v]) => canon(k) + ':' + canon(v)).sort().join(',') + '}'
  }
  throw new Error(`unknown node ${n.t}`)
}

const utf8 = (b) => { const s = b.toString('utf8'); return Buffer.from(s, 'utf8').equals(b) ? s : null }
const fnum = (v) => (Number.isNaN(v) ? 'NaN' : !Number.isFinite(v) ? (v > 0 ? 'Infinity' : '-Infinity') : Object.is(v, -0) ? '-0' : v)

/** The decoded form the transcripts use (see the fixtures' README); ext is { ext, hex } only. */
function toJson(n) {
  switch (n.t) {
    case 'nil': return null
    case 'bool': return n.v
    case 'int':
      if (n.v >= BigInt(Number.MIN_SAFE_INTEGER) && n.v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(n.v)
      return n.v < 0n ? { i64: n.v.toString() } : { u64: n.v.toString() }
    case 'f32': return { f32: fnum(n.v) }
    case 'f64': return { f64: fnum(n.v) }
    case 'str': { const s = utf8(n.v); return s === null ? { str_hex: n.v.toString('hex') } : s }
    case 'bin': return { bin: n.v.toString('hex') }
    case 'ext': return { ext: n.type, hex: n.v.toString('hex') }
    case 'arr': return n.v.map(toJson)
    case 'map': {
      const o = {}
      for (const [k, v] of n.v) o[keyJson(k)] = toJson(v)
      return o
    }
  }
  throw new Error(`unknown node ${n.t}`)
}

function keyJson(k) {
  if (k.t === 'int') return k.v < 0n ? '-0x' + (-k.v).toString(16) : '0x' + k.v.toString(16)
  if (k.t === 'str') return utf8(k.v) ?? 'str_hex:' + k.v.toString('hex')
  if (k.t === 'bool') return 'bool:' + k.v
  if (k.t === 'nil') return 'nil'
  if (k.t === 'f32' || k.t === 'f64') return k.t + ':' + fnum(k.v)
  return 'key:' + JSON.stringify(toJson(k))
}

const isKey = (k, key) => k.t === 'int' && k.v === BigInt(key)
const mapGet = (m, key) => (m && m.t === 'map' ? m.v.find(([k]) => isKey(k, key))?.[1] : undefined)
const INT0 = { t: 'int', v: 0n }

/**
 * The body as compared: clients differ in which defaults they write, so the defaults are
 * filled in on both sides. A missing body counts as an empty map (ID never gets here).
 */
function normalizeBody(type, body) {
  if (body === null) return { t: 'map', v: [] }
  if (body.t !== 'map') return body
  const pairs = body.v.slice()
  const fill = (key, value) => { if (mapGet(body, key) === undefined) pairs.push([{ t: 'int', v: BigInt(key) }, value]) }
  if (type === T.SELECT) { fill(K.INDEX_ID, INT0); fill(K.OFFSET, INT0); fill(K.ITERATOR, INT0) }
  if (type === T.CALL || type === T.EVAL) fill(K.TUPLE, { t: 'arr', v: [] })
  return { t: 'map', v: pairs }
}

/** One packet (size prefix included): { type, sync, header, body } as nodes, or null if incomplete. */
function parsePacket(buf) {
  if (buf.length === 0) return null
  const b = buf[0]
  const width = b <= 0x7f ? 0 : b === 0xcc ? 1 : b === 0xcd ? 2 : b === 0xce ? 4 : b === 0xcf ? 8 : -1
  if (width < 0) throw new Error(`packet size is not a MessagePack uint (byte 0x${b.toString(16)})`)
  if (buf.length < 1 + width) return null
  let size = width === 0 ? b : 0
  for (let i = 1; i <= width; i++) size = size * 256 + buf[i]
  const start = 1 + width
  if (buf.length < start + size) return null
  const payload = buf.subarray(start, start + size)
  const [header, end] = decodeAt(payload, 0)
  if (header.t !== 'map') throw new Error('packet header is not a map')
  const body = end < payload.length ? decodeAt(payload, end)[0] : null
  const type = mapGet(header, K.TYPE)
  const sync = mapGet(header, K.SYNC)
  return {
    length: start + size,
    type: type && type.t === 'int' ? Number(type.v) : undefined,
    sync: sync && sync.t === 'int' ? BigInt.asUintN(64, sync.v) : 0n,
    header,
    body,
  }
}

// ---------------------------------------------------------------------------------------------
// the transcripts

function loadScenario(name) {
  const file = path.join(FIXTURES, name.endsWith('.json') ? name : `${name}.json`)
  if (!fs.existsSync(file)) {
    const known = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5))
    throw new Error(`recorded peer: no scenario '${name}' (known: ${known.join(', ')})`)
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

/** Packets of one scenario, each with its bytes and parsed header/body. */
function packetsOf(name) {
  const out = []
  for (const [i, fr] of loadScenario(name).frames.entries()) {
    if (!fr.hex || fr.greeting) continue
    const bytes = Buffer.from(fr.hex, 'hex')
    const p = parsePacket(bytes)
    if (!p || p.length !== bytes.length) throw new Error(`recorded peer: ${name} frame ${i} is not one whole packet`)
    if (fr.dir === 's2c' && p.type !== T.EVENT) {
      // the sync rewrite relies on this fixed layout
      const ok = bytes[0] === 0xce && bytes[5] === 0x83 && bytes[6] === 0x00 && bytes[7] === 0xce &&
        bytes[12] === 0x01 && bytes[13] === 0xcf
      if (!ok) throw new Error(`recorded peer: ${name} frame ${i}: unexpected response header layout`)
    }
    out.push({ index: i, conn: fr.conn, dir: fr.dir, bytes, ...p })
  }
  return out
}

/**
 * Recorded requests with their replies: the s2c packets of the same conn and SYNC after the
 * request, up to and including the first that is not a CHUNK. EVENTs are not replies.
 */
function recordedExchanges(name) {
  const packets = packetsOf(name)
  const out = []
  for (const [i, req] of packets.entries()) {
    if (req.dir !== 'c2s') continue
    const replies = []
    for (const p of packets.slice(i + 1)) {
      if (p.dir !== 's2c' || p.conn !== req.conn || p.type === T.EVENT || p.sync !== req.sync) continue
      replies.push(p.bytes)
      if (p.type !== T.CHUNK) break
    }
    out.push({ scenario: name, index: req.index, ...req, replies })
  }
  return out
}

function firstGreeting(name) {
  const fr = loadScenario(name).frames.find((f) => f.greeting)
  if (!fr) throw new Error(`recorded peer: ${name} has no greeting`)
  const bytes = Buffer.from(fr.hex, 'hex')
  if (bytes.length !== 128) throw new Error(`recorded peer: ${name}: the greeting is ${bytes.length} bytes`)
  return bytes
}

/** The first recorded reply to a request of `type` in `name` that satisfies `pick`. */
function recordedReply(name, type, pick) {
  for (const ex of recordedExchanges(name)) {
    if (ex.type !== type) continue
    const reply = ex.replies.find((r) => pick(r.readUInt32BE(8)))
    if (reply) return reply
  }
  throw new Error(`recorded peer: ${name} has no such reply to request type ${type}`)
}

/** Header keys other than type, sync and schema version: they must be equal (e.g. STREAM_ID). */
function headerExtra(header) {
  const rest = header.v.filter(([k]) => !(isKey(k, K.TYPE) || isKey(k, K.SYNC) || isKey(k, K.SCHEMA_VERSION)))
  return canon({ t: 'map', v: rest })
}

function schemaVersion(header) {
  const v = mapGet(header, K.SCHEMA_VERSION)
  return v === undefined ? undefined : canon(v)
}

function withSync(bytes, sync) {
  const out = Buffer.from(bytes)
  out.writeBigUInt64BE(sync, SYNC_AT)
  return out
}

function chapSha1(password, salt) {
  const sha1 = (b) => crypto.createHash('sha1').update(b).digest()
  const h1 = sha1(password)
  const h3 = sha1(Buffer.concat([salt.subarray(0, 20), sha1(h1)]))
  return Buffer.from(h1.map((x, i) => x ^ h3[i]))
}

function strBytes(s) {
  const b = Buffer.from(s)
  let head
  if (b.length < 32) head = Buffer.from([0xa0 | b.length])
  else if (b.length < 0x100) head = Buffer.from([0xd9, b.length])
  else if (b.length < 0x10000) { head = Buffer.alloc(3); head[0] = 0xda; head.writeUInt16BE(b.length, 1) }
  else { head = Buffer.alloc(5); head[0] = 0xdb; head.writeUInt32BE(b.length, 1) }
  return Buffer.concat([head, b])
}

/** An error reply in the recorded header layout: type 0x8000, schema version 96. */
function errorReply(sync, message) {
  return replyFrame(0x8000, sync, Buffer.concat([Buffer.from([0x81, K.ERROR_24]), strBytes(message)]))
}

/**
 * An ID reply as 3.3 lays it out ({VERSION, FEATURES, AUTH_TYPE}), for a server that speaks
 * `version` and has `features` (ids below 128): how an older 2.10+ server would answer.
 */
function idReplyFor({ version, features }) {
  const body = Buffer.concat([
    Buffer.from([0x83, 0x54, version, 0x55, 0x90 | features.length, ...features, 0x5b]),
    strBytes('chap-sha1'),
  ])
  return replyFrame(0, 0n, body)
}

// A response packet in 3.3's header layout: 83 00 ce<u32 type> 01 cf<u64 sync> 05 cf<u64 96>.
function replyFrame(type, sync, body) {
  const head = Buffer.alloc(5 + 27)
  head[0] = 0xce
  head.writeUInt32BE(27 + body.length, 1)
  Buffer.from([0x83, 0x00, 0xce]).copy(head, 5)
  head.writeUInt32BE(type, 8)
  head[12] = 0x01
  head[13] = 0xcf
  head.writeBigUInt64BE(sync, SYNC_AT)
  head[22] = 0x05
  head[23] = 0xcf
  head.writeBigUInt64BE(96n, 24)
  return Buffer.concat([head, body])
}

// ---------------------------------------------------------------------------------------------
// watchers: EVENT packets and key values, encoded the way 3.3 does (smallest widths)

/** A msgpack uint (BigInt) at its smallest width, as in EVENT headers. */
function uintBytes(n) {
  if (n < 0x80n) return Buffer.from([Number(n)])
  const [tag, width] = n < 0x100n ? [0xcc, 1] : n < 0x10000n ? [0xcd, 2] : n < 0x100000000n ? [0xce, 4] : [0xcf, 8]
  const b = Buffer.alloc(1 + width)
  b[0] = tag
  for (let i = 0, x = n; i < width; i++, x >>= 8n) b[width - i] = Number(x & 0xffn)
  return b
}

function intBytes(n) {
  if (n >= 0n) return uintBytes(n)
  if (n >= -32n) return Buffer.from([Number(n) & 0xff])
  const [tag, width] = n >= -0x80n ? [0xd0, 1] : n >= -0x8000n ? [0xd1, 2] : n >= -0x80000000n ? [0xd2, 4] : [0xd3, 8]
  const b = Buffer.alloc(1 + width)
  b[0] = tag
  const u = BigInt.asUintN(width * 8, n)
  for (let i = 0, x = u; i < width; i++, x >>= 8n) b[width - i] = Number(x & 0xffn)
  return b
}

function lengthHead(n, fix, fixMax, tag16, tag32) {
  if (n <= fixMax) return Buffer.from([fix | n])
  const b = Buffer.alloc(n < 0x10000 ? 3 : 5)
  b[0] = n < 0x10000 ? tag16 : tag32
  if (n < 0x10000) b.writeUInt16BE(n, 1)
  else b.writeUInt32BE(n, 1)
  return b
}

/** `{ hex }` alone: exact msgpack bytes, which must be one whole value. */
function rawValue(v) {
  const keys = Object.keys(v)
  if (keys.length !== 1 || keys[0] !== 'hex' || typeof v.hex !== 'string') return null
  const b = Buffer.from(v.hex, 'hex')
  if (b.length * 2 !== v.hex.length) throw new TypeError(`recorded peer: { hex: '${v.hex}' } is not hex`)
  const [, end] = decodeAt(b, 0)
  if (end !== b.length) throw new TypeError(`recorded peer: { hex: '${v.hex}' } is not one MessagePack value`)
  return b
}

const I64_MIN = -(2n ** 63n)
const U64_END = 2n ** 64n

/** A JS value as Tarantool's Lua encoder would send it (integral numbers as ints, others f64). */
function encodeValue(v) {
  if (v === null || v === undefined) return Buffer.from([0xc0])
  if (v === true || v === false) return Buffer.from([v ? 0xc3 : 0xc2])
  if (typeof v === 'bigint') {
    if (v < I64_MIN || v >= U64_END) throw new RangeError(`recorded peer: ${v} does not fit 64 bits`)
    return intBytes(v)
  }
  if (typeof v === 'number') {
    // -0 and 3.0 go out as ints on 3.3 (10-values)
    if (Number.isInteger(v) && BigInt(v) >= I64_MIN && BigInt(v) < U64_END) return intBytes(BigInt(v))
    const b = Buffer.alloc(9)
    b[0] = 0xcb
    b.writeDoubleBE(v, 1)
    return b
  }
  if (typeof v === 'string') return strBytes(v)
  if (v instanceof Uint8Array) {
    const head = v.length < 0x100 ? Buffer.from([0xc4, v.length]) : lengthHead(v.length, 0, -1, 0xc5, 0xc6)
    return Buffer.concat([head, v])
  }
  if (Array.isArray(v)) return Buffer.concat([lengthHead(v.length, 0x90, 15, 0xdc, 0xdd), ...v.map(encodeValue)])
  const proto = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined
  if (proto === Object.prototype || proto === null) {
    const raw = rawValue(v)
    if (raw) return raw
    const entries = Object.entries(v)
    return Buffer.concat([lengthHead(entries.length, 0x80, 15, 0xde, 0xdf),
      ...entries.flatMap(([k, x]) => [strBytes(k), encodeValue(x)])])
  }
  throw new TypeError(`recorded peer: cannot encode ${typeof v} ${Object.prototype.toString.call(v)} as MessagePack`)
}

/** EVENT as 3.3 sends it: `82 00 4c 01 <sync>`, body `{0x57: key, 0x58: value}` or `{0x57: key}`. */
function eventPacket(key, sync, value) {
  const head = Buffer.concat([Buffer.from([0x82, K.TYPE, T.EVENT, K.SYNC]), uintBytes(sync)])
  const body = value === null
    ? Buffer.concat([Buffer.from([0x81, K.EVENT_KEY]), strBytes(key)])
    : Buffer.concat([Buffer.from([0x82, K.EVENT_KEY]), strBytes(key), Buffer.from([K.EVENT_DATA]), value])
  const size = Buffer.alloc(5)
  size[0] = 0xce
  size.writeUInt32BE(head.length + body.length, 1)
  return Buffer.concat([size, head, body])
}

/** The raw bytes of the value under `key` in the map at `pos`, or undefined. */
function rawMapValue(buf, pos, key) {
  const b = buf[pos]
  let n, at
  if ((b & 0xf0) === 0x80) { n = b & 0x0f; at = pos + 1 }
  else if (b === 0xde) { n = buf.readUInt16BE(pos + 1); at = pos + 3 }
  else if (b === 0xdf) { n = buf.readUInt32BE(pos + 1); at = pos + 5 }
  else throw new Error('not a map')
  for (let i = 0; i < n; i++) {
    const [k, valueAt] = decodeAt(buf, at)
    const [, end] = decodeAt(buf, valueAt)
    if (isKey(k, key)) return buf.subarray(valueAt, end)
    at = end
  }
  return undefined
}

const BUILTIN_KEYS = ['box.status', 'box.id', 'box.election', 'box.schema']
const SHUTDOWN_KEY = 'box.shutdown'

/** The payload bytes of the first recorded EVENT of each built-in key (box.shutdown: none). */
function builtinValues() {
  const out = new Map()
  for (const p of packetsOf('05-watchers')) {
    if (p.dir !== 's2c' || p.type !== T.EVENT || p.bytes[0] !== 0xce) continue
    const key = mapGet(p.body, K.EVENT_KEY)
    const name = key && key.t === 'str' ? key.v.toString() : null
    if (!BUILTIN_KEYS.includes(name) || out.has(name)) continue
    const payload = p.bytes.subarray(5)
    const value = rawMapValue(payload, decodeAt(payload, 0)[1], K.EVENT_DATA)
    if (value) out.set(name, Buffer.from(value))
  }
  for (const name of BUILTIN_KEYS) if (!out.has(name)) throw new Error(`recorded peer: 05-watchers has no EVENT for ${name}`)
  return out
}

// ---------------------------------------------------------------------------------------------
// the peer

/**
 * Starts the peer on 127.0.0.1 (a free port). `scenarios` are transcript names (without .json):
 * their recorded requests are what it can answer; the first one's first greeting is sent on
 * every connection. ID and AUTH are always answered, AUTH checking `user` / `password`.
 * `protocol` ({ version, features: [ids] }) answers ID as an older 2.10+ server would.
 * `conns` (recorded connection letters, e.g. ['X']) replays only those connections: a reply
 * depends on what that session negotiated (errors as values, tuple formats).
 * `replyDelay` (ms, also settable later as `peer.replyDelay`) holds back every reply but those
 * to ID and AUTH, so requests can be in flight; replies keep their order per connection.
 *
 * WATCH / UNWATCH are handled here, never replayed, and get no reply (as on 3.3): EVENTs follow
 * 05-watchers, with values set by `peer.broadcast(key, value)`. `peer.shutdown()` plays SIGTERM.
 */
async function startRecordedPeer({ scenarios = [], conns = null, user = 'u', password = 'p', replyDelay = 0, protocol = null } = {}) {
  const greeting = firstGreeting(scenarios[0] ?? '01-greeting-id')
  // line 2 of the greeting: the base64 salt, padded with spaces
  const salt = Buffer.from(greeting.subarray(64, 128).toString('latin1').trim(), 'base64')
  const scramble = chapSha1(password, salt)
  // `protocol` ({ version, features }) stands in for an older 2.10+ server's ID reply.
  const idReply = protocol === null ? recordedReply('01-greeting-id', T.ID, (type) => type === 0) : idReplyFor(protocol)
  const authOk = recordedReply('02-auth', T.AUTH, (type) => type === 0)
  const authFail = recordedReply('02-auth', T.AUTH, (type) => type === CREDS_MISMATCH)

  const candidates = []
  for (const name of scenarios) {
    for (const ex of recordedExchanges(name)) {
      if (conns !== null && !conns.includes(ex.conn)) continue
      candidates.push({
        ...ex,
        extra: headerExtra(ex.header),
        schema: schemaVersion(ex.header),
        canonBody: canon(normalizeBody(ex.type, ex.body)),
      })
    }
  }
  const used = new Set()

  const requests = []
  const unmatched = []
  const errors = [] // framing / MessagePack errors; the connection is destroyed
  const sockets = new Set()
  const open = new Map() // conn number → its state, while the socket is open
  let connections = 0
  let delay = checkDelay(replyDelay)

  // key values by the hex of the key's bytes: the msgpack value, or null for none
  const values = new Map()
  for (const [name, value] of builtinValues()) values.set(Buffer.from(name).toString('hex'), value)
  const SHUTDOWN_HEX = Buffer.from(SHUTDOWN_KEY).toString('hex')

  const shutdownLog = []
  let shutdownState = null // { promise, resolve, timer } once shutdown() was called

  /** The earliest unused recorded request equal to `req`, else the last equal one. */
  function match(req) {
    const extra = headerExtra(req.header)
    const schema = schemaVersion(req.header)
    const body = canon(normalizeBody(req.type, req.body))
    const all = candidates.filter((c) => c.type === req.type && c.extra === extra && c.canonBody === body)
    // a recorded SCHEMA_VERSION was checked by the server, so it must be sent too, and an equal
    // one wins; one that only the incoming request carries is ignored
    const exact = all.filter((c) => c.schema !== undefined && c.schema === schema)
    const pool = exact.length ? exact : all.filter((c) => c.schema === undefined)
    const pick = pool.find((c) => !used.has(c)) ?? pool[pool.length - 1]
    if (pick) used.add(pick)
    return pick
  }

  function answer(req) {
    if (req.type === T.ID) return withSync(idReply, req.sync)
    if (req.type === T.AUTH) {
      const name = mapGet(req.body, K.USER_NAME)
      const tuple = mapGet(req.body, K.TUPLE)
      const sent = tuple && tuple.t === 'arr' ? tuple.v[1] : undefined
      const ok = name && name.t === 'str' && name.v.equals(Buffer.from(user)) &&
        sent && (sent.t === 'bin' || sent.t === 'str') && sent.v.equals(scramble)
      return withSync(ok ? authOk : authFail, req.sync)
    }
    const hit = match(req)
    if (hit) return Buffer.concat(hit.replies.map((r) => withSync(r, req.sync)))
    return null
  }

  // ----- replies, possibly held back: a queue per connection keeps their order

  function reply(c, out, ms) {
    if (out.length === 0) return // a recorded request without reply
    if (ms <= 0 && c.queue.length === 0) { c.socket.write(out); return }
    const entry = { out, ready: ms <= 0, timer: null }
    if (!entry.ready) entry.timer = setTimeout(() => { entry.ready = true; flush(c) }, ms)
    c.queue.push(entry)
    flush(c)
  }

  function flush(c) {
    while (c.queue.length && c.queue[0].ready) c.socket.write(c.queue.shift().out)
  }

  /** Replies not sent yet are lost with the socket, as on a real close. */
  function dropQueue(c) {
    for (const e of c.queue) clearTimeout(e.timer)
    c.queue = []
  }

  // ----- watchers (05-watchers): per connection and key, { key, sync, waiting, dirty }. An EVENT
  // is sent when the value changed (dirty) and the last EVENT was acked (not waiting)

  function sendEvent(c, w, hex) {
    const value = values.get(hex) ?? null
    c.socket.write(eventPacket(w.key, w.sync, value))
    w.waiting = true
    w.dirty = false
    if (shutdownState && hex === SHUTDOWN_HEX) shutdownLog.push({ conn: c.conn, event: 'event-sent' })
  }

  /** WATCH or UNWATCH; an error packet if it has no string key, else null (no reply). */
  function watch(c, p) {
    const key = mapGet(p.body, K.EVENT_KEY)
    if (!key || key.t !== 'str') {
      return errorReply(p.sync, `recorded peer: ${p.type === T.WATCH ? 'WATCH' : 'UNWATCH'} without a string key (0x57)`)
    }
    const hex = key.v.toString('hex')
    if (p.type === T.UNWATCH) {
      // of a key not watched: ignored
      if (c.watches.delete(hex) && hex === SHUTDOWN_HEX) maybeLastWatcherGone()
      return null
    }
    let w = c.watches.get(hex)
    // the first WATCH gets the current value at once; a later one is the ack
    if (!w) c.watches.set(hex, w = { key: Buffer.from(key.v), sync: p.sync, waiting: false, dirty: true })
    w.sync = p.sync // EVENTs carry the SYNC of the latest WATCH
    if (w.dirty) sendEvent(c, w, hex)
    else w.waiting = false
    return null
  }

  function broadcast(key, value) {
    if (typeof key !== 'string') throw new TypeError('recorded peer: broadcast(key, value) takes a string key')
    // null / undefined is Lua's nil: the key has no value again
    const encoded = value === null || value === undefined ? null : encodeValue(value)
    const hex = Buffer.from(key).toString('hex')
    values.set(hex, encoded)
    for (const c of open.values()) {
      const w = c.watches.get(hex)
      if (!w || c.closing) continue
      // the same value again is a change too
      if (w.waiting) w.dirty = true
      else sendEvent(c, w, hex)
    }
  }

  // ----- graceful shutdown (06, 06b, 06c): box.broadcast('box.shutdown', true), stop listening,
  // then wait until no open connection watches box.shutdown (or the grace timeout), serving all
  // connections meanwhile, and close them all

  const watchesShutdown = (c) => !c.closing && c.watches.has(SHUTDOWN_HEX)

  function shutdown({ graceTimeout = 3000 } = {}) {
    if (shutdownState) return shutdownState.promise
    const state = shutdownState = { promise: null, resolve: null, timer: null }
    state.promise = new Promise((resolve) => { state.resolve = resolve })
    server.close() // new connections are refused
    broadcast(SHUTDOWN_KEY, true)
    if (![...open.values()].some(watchesShutdown)) {
      // nobody to wait for (06c): in-flight requests get no reply
      for (const c of open.values()) closeAtOnce(c, 'closed-at-once')
    } else {
      state.timer = setTimeout(() => {
        for (const c of open.values()) if (!c.closing) closeGracefully(c, 'grace-timeout')
      }, graceTimeout)
    }
    settle()
    return state.promise
  }

  /** When the last connection watching box.shutdown is gone (06b), the rest are closed. */
  function maybeLastWatcherGone() {
    if (!shutdownState || [...open.values()].some(watchesShutdown)) return
    for (const c of open.values()) if (!c.closing) closeGracefully(c, 'watchers-gone')
  }

  function closeAtOnce(c, event) {
    if (c.closing) return
    c.closing = true
    shutdownLog.push({ conn: c.conn, event })
    dropQueue(c)
    c.socket.destroy()
  }

  /** FIN with no further frames, then destroy (soon, if the FIN cannot be flushed). */
  function closeGracefully(c, event) {
    if (c.closing) return
    c.closing = true
    shutdownLog.push({ conn: c.conn, event })
    dropQueue(c)
    const timer = setTimeout(() => c.socket.destroy(), 200)
    c.socket.end(() => { clearTimeout(timer); c.socket.destroy() })
  }

  function settle() {
    if (!shutdownState || sockets.size > 0) return
    clearTimeout(shutdownState.timer)
    shutdownState.resolve()
  }

  const server = net.createServer((socket) => {
    const conn = connections++
    const c = { conn, socket, watches: new Map(), queue: [], closing: false }
    sockets.add(socket)
    open.set(conn, c)
    socket.on('end', () => {
      // the client closed its side: the peer closes its own (auto-ended: no allowHalfOpen), and
      // unsent replies are lost
      dropQueue(c)
      if (!shutdownState) { c.closing = true; return }
      closeGracefully(c, 'client-closed')
      maybeLastWatcherGone()
    })
    socket.on('close', () => {
      sockets.delete(socket)
      open.delete(conn)
      dropQueue(c)
      if (shutdownState && !c.closing) shutdownLog.push({ conn, event: 'client-closed' })
      c.closing = true
      maybeLastWatcherGone()
      settle()
    })
    socket.on('error', () => {})
    socket.setNoDelay(true)
    socket.write(greeting)
    let pending = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      if (c.closing) return
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      try {
        for (;;) {
          const p = parsePacket(pending)
          if (!p) break
          pending = pending.subarray(p.length)
          const req = { conn, type: p.type, sync: syncOut(p.sync), header: toJson(p.header), body: p.body && toJson(p.body) }
          requests.push(req)
          if (p.type === T.WATCH || p.type === T.UNWATCH) {
            const err = watch(c, p)
            if (err) reply(c, err, 0)
            continue
          }
          let out = answer(p)
          if (out === null) {
            unmatched.push(req)
            const extra = headerExtra(p.header) === '{}' ? '' : ` header ${JSON.stringify(req.header)}`
            out = errorReply(p.sync, `recorded peer: no recorded reply for ${p.type} ${JSON.stringify(req.body)}${extra}`)
          }
          // one write per reply, CHUNKs included (a recorded request without reply writes nothing)
          reply(c, out, p.type === T.ID || p.type === T.AUTH ? 0 : delay)
        }
      } catch (err) {
        errors.push(err)
        c.closing = true
        dropQueue(c)
        socket.destroy()
      }
    })
  })

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address()

  return {
    host: HOST,
    port,
    uri: `${user}:${password}@${HOST}:${port}`,
    requests,
    unmatched,
    errors,
    shutdownLog,
    get connections() { return connections },
    get replyDelay() { return delay },
    set replyDelay(ms) { delay = checkDelay(ms) },
    broadcast,
    shutdown,
    close() {
      if (shutdownState) clearTimeout(shutdownState.timer)
      for (const c of open.values()) { c.closing = true; dropQueue(c) }
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function checkDelay(ms) {
  if (typeof ms !== 'number' || !(ms >= 0)) throw new TypeError(`recorded peer: replyDelay must be a number of ms >= 0, not ${ms}`)
  return ms
}

/** SYNC as a Number when exact, else a BigInt. */
function syncOut(sync) {
  return sync <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sync) : sync
}

module.exports = { startRecordedPeer, loadScenario }
