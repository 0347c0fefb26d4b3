'use strict'

// The numbers both halves put on the wire. src/protocol/keys.rs is read as text and held to
// lib/iproto.js's IPROTO (and to the copies some lib/ modules keep of a few numbers), so these
// run without a build. A constant added on one side only fails here until it is added on the
// other, or listed below with the reason the other side does without it.
// The last test needs the addon: the JS layer frames a request to the same bytes as Rust's
// encode_request, which frames the handshake.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const net = require('node:net')

const { IPROTO } = require('../lib/iproto') // plain data: it loads no binding
const { withTimeout } = require('./helpers/wait')
const { packets } = require('./helpers/msgpack')

const ROOT = path.join(__dirname, '..')
const KEYS_RS = 'src/protocol/keys.rs'
const THIS_FILE = '__test__/constants.test.js'

// Modules of keys.rs whose constants IPROTO holds, under the same name unless JS_NAME says.
const IPROTO_MODULES = new Set(['request', 'response', 'header', 'body'])

// keys.rs constants whose IPROTO name is not their own.
const JS_NAME = {
  'response::ERROR_FLAG': 'TYPE_ERROR',
}

// IPROTO entries with no keys.rs constant: keys of requests and replies only the JS layer builds
// or reads (Rust frames and checks those bodies without looking into them).
const JS_ONLY = new Set([
  'FETCH_POSITION', // select: ask for the position after the last tuple (3.x)
  'AFTER_POSITION', // select: start after a position
  'AFTER_TUPLE', // select: start after a tuple
  'POSITION', // select reply: the position
  'SPACE_NAME', // requests by space name (3.x)
  'INDEX_NAME', // requests by index name (3.x)
  'TUPLE_FORMATS', // reply: formats of MP_TUPLE values (3.x)
  'IS_SYNC', // BEGIN and COMMIT: a synchronous transaction (3.2+)
])

const read = (rel) => fs.readFileSync(path.join(ROOT, rel), 'utf8')
const hex = (n) => '0x' + n.toString(16)

const INT_TYPE = '[iu](?:8|16|32|64|128|size)'
const NUMBER = '0x[0-9a-fA-F_]+|[0-9][0-9_]*'
const CONST_RE = new RegExp(
  `^\\s*(?:pub(?:\\([^)]*\\))?\\s+)?const\\s+(\\w+)\\s*:\\s*${INT_TYPE}\\s*=\\s*(${NUMBER})(?:${INT_TYPE})?\\s*;\\s*$`,
)
const MOD_RE = /^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{/

/** A Rust or JS integer literal (hex or decimal, underscores allowed) as a Number. */
function literal(text) {
  const n = BigInt(text.replace(/_/g, ''))
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${text}: beyond what this test compares`)
  return Number(n)
}

/**
 * Every `const NAME: <int> = <number>;` of keys.rs with the module it is in:
 * [{ mod, name, path: 'mod::NAME', value, line }]. A `const` line of another shape throws, so
 * nothing is skipped unseen.
 */
function rustConstants() {
  const out = []
  const mods = [] // [{ name, depth }], innermost last
  let depth = 0
  read(KEYS_RS).split('\n').forEach((raw, i) => {
    const line = raw.replace(/\/\/.*$/, '')
    const mod = MOD_RE.exec(line)
    if (mod) mods.push({ name: mod[1], depth: depth + 1 })
    if (/\bconst\b/.test(line)) {
      const m = CONST_RE.exec(line)
      if (!m) throw new Error(`${KEYS_RS}:${i + 1}: a const this test cannot read: ${raw.trim()}`)
      const modName = mods.map((x) => x.name).join('::')
      const qualified = modName ? `${modName}::${m[1]}` : m[1]
      out.push({ mod: modName, name: m[1], path: qualified, value: literal(m[2]), line: i + 1 })
    }
    for (const ch of line) {
      if (ch === '{') depth++
      else if (ch === '}') depth--
    }
    while (mods.length > 0 && mods[mods.length - 1].depth > depth) mods.pop()
  })
  return out
}

const RUST = rustConstants()
const where = (c) => `${c.path} = ${hex(c.value)} (${KEYS_RS}:${c.line})`

/** IPROTO's name for a keys.rs constant of an IPROTO module. */
const jsName = (c) => JS_NAME[c.path] ?? c.name

test('keys.rs is read whole, and each of its modules is one this test maps', () => {
  assert.ok(RUST.length >= 50, `only ${RUST.length} constants read from ${KEYS_RS}`)
  for (const c of RUST) {
    assert.ok(
      IPROTO_MODULES.has(c.mod),
      `${where(c)}: module \`${c.mod}\` is new to ${THIS_FILE}; say there where its JS counterparts are`,
    )
  }
  for (const p of Object.keys(JS_NAME)) {
    assert.ok(RUST.some((c) => c.path === p), `JS_NAME in ${THIS_FILE} maps ${p}, which ${KEYS_RS} no longer has`)
  }
})

test('every keys.rs constant has an IPROTO entry with the same value', () => {
  const problems = []
  for (const c of RUST.filter((c) => IPROTO_MODULES.has(c.mod))) {
    const name = jsName(c)
    if (!Object.hasOwn(IPROTO, name)) {
      problems.push(
        `${where(c)} has no IPROTO.${name} in lib/iproto.js: add it there ` +
          `(or, if its JS name differs, map it in JS_NAME of ${THIS_FILE})`,
      )
    } else if (IPROTO[name] !== c.value) {
      problems.push(`${where(c)} but IPROTO.${name} = ${hex(IPROTO[name])} in lib/iproto.js`)
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'))
})

test('every IPROTO entry has a keys.rs constant with the same value, or is listed as JS-only', () => {
  const byJsName = new Map()
  for (const c of RUST.filter((c) => IPROTO_MODULES.has(c.mod))) byJsName.set(jsName(c), c)
  const problems = []
  for (const [name, value] of Object.entries(IPROTO)) {
    const c = byJsName.get(name)
    if (c === undefined) {
      if (!JS_ONLY.has(name)) {
        problems.push(
          `IPROTO.${name} = ${hex(value)} (lib/iproto.js) has no constant in ${KEYS_RS}: ` +
            `add it there, or list it in JS_ONLY of ${THIS_FILE} with why Rust does without it`,
        )
      }
    } else if (JS_ONLY.has(name)) {
      problems.push(`IPROTO.${name} is in JS_ONLY of ${THIS_FILE}, but ${KEYS_RS} has it as ${c.path}: drop it from JS_ONLY`)
    } else if (c.value !== value) {
      problems.push(`IPROTO.${name} = ${hex(value)} (lib/iproto.js) but ${where(c)}`)
    }
  }
  for (const name of JS_ONLY) {
    if (!Object.hasOwn(IPROTO, name)) problems.push(`JS_ONLY in ${THIS_FILE} lists ${name}, which IPROTO no longer has`)
  }
  assert.deepEqual(problems, [], problems.join('\n'))
})

// Wire numbers by name, from both sides: IPROTO's names and keys.rs's own (ERROR_FLAG as well as
// TYPE_ERROR). A name may stand for one number only.
function wireNames() {
  const names = new Map() // name → [{ value, from }]
  const add = (name, value, from) => {
    if (!names.has(name)) names.set(name, [])
    names.get(name).push({ value, from })
  }
  for (const [name, value] of Object.entries(IPROTO)) add(name, value, `IPROTO.${name} (lib/iproto.js)`)
  for (const c of RUST.filter((c) => IPROTO_MODULES.has(c.mod))) add(c.name, c.value, `${c.path} (${KEYS_RS}:${c.line})`)
  return names
}

test('a name both sides use stands for the same number', () => {
  const problems = []
  for (const [name, uses] of wireNames()) {
    if (uses.some((u) => u.value !== uses[0].value)) {
      problems.push(`${name}: ${uses.map((u) => `${hex(u.value)} in ${u.from}`).join(', ')}`)
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'))
})

test("lib/ modules' own copies of wire numbers (top-level `const NAME = n`) agree", () => {
  const names = wireNames()
  const problems = []
  let copies = 0
  const files = fs.readdirSync(path.join(ROOT, 'lib')).filter((f) => f.endsWith('.js') && f !== 'iproto.js')
  for (const file of files) {
    read(`lib/${file}`).split('\n').forEach((line, i) => {
      const m = /^const ([A-Z][A-Z0-9_]*) = (0x[0-9a-fA-F_]+|[0-9][0-9_]*)\s*(?:\/\/.*)?$/.exec(line)
      if (!m || !names.has(m[1])) return
      copies++
      const value = literal(m[2])
      const expected = names.get(m[1])[0]
      if (value !== expected.value) {
        problems.push(`lib/${file}:${i + 1}: ${m[1]} = ${hex(value)}, but ${expected.from} is ${hex(expected.value)}`)
      }
    })
  }
  assert.deepEqual(problems, [], problems.join('\n'))
  assert.ok(copies > 0, 'no copies found: has the scan stopped matching lib/?')
})

// ---------------------------------------------------------------------------------------------
// one framing: the JS layer frames requests after the handshake (lib/), Rust frames the
// handshake's (src/protocol/frame.rs, encode_request). Its cargo test
// `encodes_requests_as_the_js_layer_does` pins encode_request(&mut f, 10, 0x01020304, &[0x80])
// to these bytes; here the JS layer must send the same.

const RUST_FRAMED = [0xce, 0, 0, 0, 10, 0x82, 0x00, 0x0a, 0x01, 0xce, 1, 2, 3, 4, 0x80]

/**
 * A scripted peer on 127.0.0.1: greets as Tarantool 2.6 (so no IPROTO_ID follows), keeps every
 * byte it receives, and answers each whole frame with an empty OK. `firstFrame` resolves to the
 * bytes received once a whole frame is in.
 */
async function framePeer() {
  const line = (text) => text.padEnd(63) + '\n'
  const greeting =
    line('Tarantool 2.6.0 (Binary) b618f79b-80cc-47b3-96f4-d7df5302b4e0') + line(Buffer.alloc(32, 7).toString('base64'))
  assert.equal(greeting.length, 128)
  const sockets = new Set()
  let gotFrame
  const peer = { received: Buffer.alloc(0), firstFrame: new Promise((resolve) => { gotFrame = resolve }) }
  let answered = 0
  const server = net.createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    sock.write(greeting)
    sock.on('data', (d) => {
      peer.received = Buffer.concat([peer.received, d])
      const frames = packets(peer.received)
      if (frames.length > 0) gotFrame(Buffer.from(peer.received))
      for (; answered < frames.length; answered++) {
        // {REQUEST_TYPE: 0, SYNC: sync, SCHEMA_VERSION: 1} {}
        const reply = Buffer.from([0xce, 0, 0, 0, 0, 0x83, 0x00, 0x00, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x01, 0x80])
        reply.writeUInt32BE(reply.length - 5, 1)
        reply.writeBigUInt64BE(BigInt(frames[answered].header[0x01] ?? 0), 10)
        sock.write(reply)
      }
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  peer.port = server.address().port
  peer.close = () => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(resolve))
  }
  return peer
}

test('the JS layer frames a request to the bytes Rust encode_request does', { timeout: 20000 }, async () => {
  // Required here, not above: this test needs the built addon, the others do not.
  const { Transport } = require('..')
  const peer = await framePeer()
  let transport
  try {
    transport = await withTimeout(Transport.connect(peer.port, '127.0.0.1'), 5000, 'connect')
    transport.nextSync = 0x01020304
    const reply = transport.request(10, Buffer.from([0x80]))
    reply.catch(() => {}) // awaited below, once the bytes are compared
    const sent = await withTimeout(peer.firstFrame, 5000, 'a whole frame at the peer').catch((err) => {
      throw new Error(`${err.message}; it received ${peer.received.toString('hex') || 'nothing'}`)
    })
    // as hex, so a difference reads as one line
    assert.equal(sent.toString('hex'), Buffer.from(RUST_FRAMED).toString('hex'), 'the bytes sent are those encode_request writes')
    await withTimeout(reply, 5000, 'the reply')
  } finally {
    if (transport !== undefined) await withTimeout(transport.close(), 5000, 'close')
    await peer.close()
  }
})
