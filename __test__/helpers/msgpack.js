'use strict'

// A tiny MessagePack encoder/decoder for the raw-transport tests, so they check the bytes the
// server sent without depending on kharon's own codec.

function encode(value) {
  const parts = []
  const push = (...bytes) => parts.push(Buffer.from(bytes))
  const walk = (v) => {
    if (v === null || v === undefined) push(0xc0)
    else if (v === true) push(0xc3)
    else if (v === false) push(0xc2)
    else if (typeof v === 'number' && Number.isInteger(v)) {
      if (v >= 0 && v < 128) push(v)
      else if (v >= 0 && v <= 0xffffffff) { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(v, 1); parts.push(b) }
      else if (v < 0 && v >= -32) push(v & 0xff)
      else { const b = Buffer.alloc(9); b[0] = 0xd3; b.writeBigInt64BE(BigInt(v), 1); parts.push(b) }
    } else if (typeof v === 'number') { const b = Buffer.alloc(9); b[0] = 0xcb; b.writeDoubleBE(v, 1); parts.push(b) }
    else if (typeof v === 'string') {
      const s = Buffer.from(v)
      if (s.length < 32) push(0xa0 | s.length)
      else { const h = Buffer.alloc(5); h[0] = 0xdb; h.writeUInt32BE(s.length, 1); parts.push(h) }
      parts.push(s)
    } else if (Array.isArray(v)) {
      const h = Buffer.alloc(5); h[0] = 0xdd; h.writeUInt32BE(v.length, 1); parts.push(h)
      v.forEach(walk)
    } else if (v instanceof Map) {
      const h = Buffer.alloc(5); h[0] = 0xdf; h.writeUInt32BE(v.size, 1); parts.push(h)
      for (const [k, x] of v) { walk(k); walk(x) }
    } else {
      const keys = Object.keys(v)
      const h = Buffer.alloc(5); h[0] = 0xdf; h.writeUInt32BE(keys.length, 1); parts.push(h)
      for (const k of keys) { walk(/^\d+$/.test(k) ? Number(k) : k); walk(v[k]) }
    }
  }
  walk(value)
  return Buffer.concat(parts)
}

/** The value at `start` in `buf`, and the offset just past it. */
function decodeAt(buf, start) {
  let p = start
  const u = (n) => { let x = 0; for (let i = 0; i < n; i++) x = x * 256 + buf[p++]; return x }
  const str = (n) => { const s = buf.toString('utf8', p, p + n); p += n; return s }
  const arr = (n) => { const a = []; for (let i = 0; i < n; i++) a.push(read()); return a }
  const map = (n) => { const m = {}; for (let i = 0; i < n; i++) { const k = read(); m[k] = read() } return m }
  const read = () => {
    const b = buf[p++]
    if (b <= 0x7f) return b
    if (b >= 0xe0) return b - 256
    if ((b & 0xf0) === 0x80) return map(b & 0x0f)
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f)
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f)
    switch (b) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: return buf.subarray(p, (p += u(1)))
      case 0xc5: return buf.subarray(p, (p += u(2)))
      case 0xc6: return buf.subarray(p, (p += u(4)))
      case 0xca: { const f = buf.readFloatBE(p); p += 4; return f }
      case 0xcb: { const f = buf.readDoubleBE(p); p += 8; return f }
      case 0xcc: return u(1)
      case 0xcd: return u(2)
      case 0xce: return u(4)
      case 0xcf: { const x = buf.readBigUInt64BE(p); p += 8; return Number(x) }
      case 0xd0: return buf.readInt8(p++)
      case 0xd1: { const x = buf.readInt16BE(p); p += 2; return x }
      case 0xd2: { const x = buf.readInt32BE(p); p += 4; return x }
      case 0xd3: { const x = buf.readBigInt64BE(p); p += 8; return Number(x) }
      case 0xd9: return str(u(1))
      case 0xda: return str(u(2))
      case 0xdb: return str(u(4))
      case 0xdc: return arr(u(2))
      case 0xdd: return arr(u(4))
      case 0xde: return map(u(2))
      case 0xdf: return map(u(4))
      default: throw new Error(`unsupported MessagePack byte 0x${b.toString(16)}`)
    }
  }
  const value = read()
  return { value, end: p }
}

function decode(buf) {
  return decodeAt(buf, 0).value
}

/** The whole IPROTO packets in `bytes` (size, header, optional body), as { header, body }. */
function packets(bytes) {
  const out = []
  let p = 0
  while (p < bytes.length) {
    const size = decodeAt(bytes, p)
    const end = size.end + size.value
    if (end > bytes.length) break
    const header = decodeAt(bytes, size.end)
    out.push({ header: header.value, body: header.end < end ? decodeAt(bytes, header.end).value : undefined })
    p = end
  }
  return out
}

/** The body of CALL: {FUNCTION_NAME: name, TUPLE: args}. */
function callBody(name, args = []) {
  return encode(new Map([[0x22, name], [0x21, args]]))
}

/** The body of EVAL: {EXPR: expr, TUPLE: args}. */
function evalBody(expr, args = []) {
  return encode(new Map([[0x27, expr], [0x21, args]]))
}

/** DATA (0x30) of a decoded response or push body. */
function data(body) {
  return decode(body)[0x30]
}

module.exports = { encode, decode, packets, callBody, evalBody, data }
