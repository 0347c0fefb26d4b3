'use strict'

// A scripted peer replaying recorded Tarantool 3.3.0 frames — not a real server.
//
// Our machines only have Tarantool 2.6, so tests of 2.10+ features (ID, streams, pagination,
// tuple formats, ...) run against this TCP server instead. It greets with a recorded greeting
// and answers each request with the reply a real Tarantool 3.3.0 gave to an equal request in
// the transcripts of __test__/fixtures/wire-3.3/, byte for byte except the SYNC. It has no
// state and no logic of its own beyond ID, AUTH (a real chap-sha1 check) and the matching: a
// request nobody recorded gets an error naming it, so the test fails with a clear message.

const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'wire-3.3')
const HOST = '127.0.0.1'

const T = { SELECT: 1, AUTH: 7, EVAL: 8, CALL: 10, ID: 73, EVENT: 76, CHUNK: 0x80 }
const K = { TYPE: 0x00, SYNC: 0x01, SCHEMA_VERSION: 0x05, STREAM_ID: 0x0a, INDEX_ID: 0x11,
  OFFSET: 0x13, ITERATOR: 0x14, TUPLE: 0x21, USER_NAME: 0x23, ERROR_24: 0x31 }
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
  const body = Buffer.concat([Buffer.from([0x81, K.ERROR_24]), strBytes(message)])
  const head = Buffer.alloc(5 + 27)
  head[0] = 0xce
  head.writeUInt32BE(27 + body.length, 1)
  Buffer.from([0x83, 0x00, 0xce]).copy(head, 5)
  head.writeUInt32BE(0x8000, 8)
  head[12] = 0x01
  head[13] = 0xcf
  head.writeBigUInt64BE(sync, SYNC_AT)
  head[22] = 0x05
  head[23] = 0xcf
  head.writeBigUInt64BE(96n, 24)
  return Buffer.concat([head, body])
}

// ---------------------------------------------------------------------------------------------
// the peer

/**
 * Starts the peer on 127.0.0.1 (a free port). `scenarios` are transcript names (without .json):
 * their recorded requests are what it can answer; the first one's first greeting is sent on
 * every connection. ID and AUTH are always answered, AUTH checking `user` / `password`.
 * `conns` (recorded connection letters, e.g. ['X']) replays only those connections: a reply
 * depends on what that session negotiated (errors as values, tuple formats).
 */
async function startRecordedPeer({ scenarios = [], conns = null, user = 'u', password = 'p' } = {}) {
  const greeting = firstGreeting(scenarios[0] ?? '01-greeting-id')
  // line 2 of the greeting: the base64 salt, padded with spaces
  const salt = Buffer.from(greeting.subarray(64, 128).toString('latin1').trim(), 'base64')
  const scramble = chapSha1(password, salt)
  const idReply = recordedReply('01-greeting-id', T.ID, (type) => type === 0)
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
  let connections = 0

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

  const server = net.createServer((socket) => {
    const conn = connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.setNoDelay(true)
    socket.write(greeting)
    let pending = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      try {
        for (;;) {
          const p = parsePacket(pending)
          if (!p) break
          pending = pending.subarray(p.length)
          const req = { conn, type: p.type, sync: syncOut(p.sync), header: toJson(p.header), body: p.body && toJson(p.body) }
          requests.push(req)
          let out = answer(p)
          if (out === null) {
            unmatched.push(req)
            const extra = headerExtra(p.header) === '{}' ? '' : ` header ${JSON.stringify(req.header)}`
            out = errorReply(p.sync, `recorded peer: no recorded reply for ${p.type} ${JSON.stringify(req.body)}${extra}`)
          }
          // one write per reply, CHUNKs included (a recorded request without reply writes nothing)
          if (out.length) socket.write(out)
        }
      } catch (err) {
        errors.push(err)
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
    get connections() { return connections },
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** SYNC as a Number when exact, else a BigInt. */
function syncOut(sync) {
  return sync <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sync) : sync
}

module.exports = { startRecordedPeer, loadScenario }
