'use strict'

// `node bench/decode-hostile.js [OTHER_TREE]`: the JS decoder on bodies a hostile server (or
// hostile stored data) can send, and its speed on ordinary ones. With OTHER_TREE (a checkout of
// an earlier kharon, say a `git worktree`), both trees are measured, each decode in a child
// process of its own: an old decoder may take minutes on a hostile body (it is killed after
// HOSTILE_TIMEOUT_MS) or run out of memory. Ordinary bodies: ROUNDS processes per tree, in turns.

const path = require('node:path')
const { spawnSync } = require('node:child_process')

// Ordinary bodies are made with this tree's encoder, whichever tree decodes them.
const { encode } = require('../lib/msgpack')

const HOSTILE_TIMEOUT_MS = Number(process.env.HOSTILE_TIMEOUT_MS || 20000)
const ROUNDS = Number(process.env.ROUNDS || 5)

// ---------------------------------------------------------------- bodies

// Hostile MessagePack is written by hand: no encoder makes it.
const u8 = (...b) => Buffer.from(b)
const cat = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))))
const arr32 = (n) => u8(0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)

// { a: <inner>, [true]: 0 } nested `levels` times: a non-string key after a nested value.
function boolKeyAfterNested(levels) {
  let inner = u8(0x00)
  for (let i = 0; i < levels; i++) inner = cat([0x82, 0xa1, 0x61], inner, [0xc3, 0x00])
  return inner
}

// Every level a map of 8 string keys, an integer key, then [true]: <inner>.
function nonStringKeysEveryLevel(levels) {
  let inner = u8(0x00)
  for (let i = 0; i < levels; i++) {
    const keys = []
    for (let k = 0; k < 8; k++) keys.push(0xa2, 0x6b, 0x30 + k, k)
    inner = cat([0x8a], keys, [0x07, 0x07, 0xc3], inner)
  }
  return inner
}

// Arrays nested `levels` deep, each declaring as many elements as bytes are left.
function hugeDeclaredNested(levels, size) {
  const parts = []
  for (let i = 0; i < levels; i++) parts.push(arr32(size - 5 * (i + 1)))
  return cat(...parts, Buffer.alloc(size - 5 * levels))
}

const HOSTILE = {
  'bool key after nested map, 20 levels': () => boolKeyAfterNested(20),
  'bool key after nested map, 30 levels': () => boolKeyAfterNested(30),
  'bool key after nested map, 64 levels': () => boolKeyAfterNested(64),
  'non-string keys at every level, 64 maps': () => nonStringKeysEveryLevel(64),
  'array32 declaring 2^32-1 elements': () => cat(arr32(0xffffffff), [0x01]),
  'map32 declaring 2^32-1 entries': () => u8(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01),
  'str32 declaring 2^32-1 bytes': () => u8(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61),
  '20,000 nested arrays': () => cat(Buffer.alloc(20000, 0x91), [0x01]),
  '512 nested arrays each declaring the rest of 1 MB': () => hugeDeclaredNested(512, 1 << 20),
  // An MP_ERROR extension nested in itself: the native checker can't see inside payloads.
  '20,000 nested MP_ERROR payloads': () => {
    let v = u8(0x01)
    for (let i = 0; i < 20000; i++) v = v.length < 256 ? cat([0xc7, v.length, 0x03], v) : v.length < 65536 ? cat([0xc8, v.length >> 8, v.length & 0xff, 0x03], v) : cat([0xc9], arr32(v.length).subarray(1), [0x03], v)
    return v
  },
}

// The 10k-tuple select of bench/server.lua, as Tarantool writes its body.
function selectBody() {
  const tuples = []
  for (let i = 1; i <= 10000; i++) tuples.push([i, `name-${i}`, i * 2, i / 3, 'some text in field five'])
  return cat([0x81, 0x30], arr32(10000), ...tuples.map((t) => encode(t)))
}

// 10k documents: string-keyed maps with a nested map and array.
function mapBody() {
  const docs = []
  for (let i = 0; i < 10000; i++) {
    docs.push({ id: i, name: `user-${i}`, email: `u${i}@example.com`, active: i % 2 === 0, score: i / 7, tags: ['a', 'b'], meta: { created: 1700000000 + i, updated: null } })
  }
  return encode(new Map([[0x30, docs]]))
}

// 10k Lua tables with integer keys (sparse arrays): maps whose keys are numbers.
function intKeyBody() {
  const rows = []
  for (let i = 0; i < 10000; i++) rows.push(new Map([[1, i], [5, 'x'], [9, true], [12, i * 3]]))
  return encode(new Map([[0x30, rows]]))
}

// The same select from a 3.x server offering the tuple extensions: each tuple an MP_TUPLE.
function mpTupleBody() {
  const tuples = []
  for (let i = 1; i <= 10000; i++) {
    const payload = cat([0x01], encode([i, `name-${i}`, i * 2, i / 3, 'some text in field five']))
    tuples.push(cat([0xc7, payload.length, 0x07], payload))
  }
  return cat([0x81, 0x30], arr32(10000), ...tuples)
}
const MP_TUPLE_FORMATS = new Map([[1, ['id', 'name', 'double', 'third', 'text']]])

// ---------------------------------------------------------------- measuring

const ORDINARY = {
  'select, 10k tuples': [selectBody, (m) => (b) => m.decode(b)],
  'select, 10k tuples as objects': [selectBody, (m) => (b) => m.decode(b)[0x30].map((row) => m.tupleObject(row, MP_TUPLE_FORMATS.get(1)))],
  '3.x select, 10k MP_TUPLEs': [mpTupleBody, (m) => (b) => m.decode(b)],
  '3.x select, as objects': [mpTupleBody, (m) => (b) => m.decode(b, 0, b.length, MP_TUPLE_FORMATS)],
  'maps, 10k documents': [mapBody, (m) => (b) => m.decode(b)],
  'integer-keyed maps, 10k': [intKeyBody, (m) => (b) => m.decode(b)],
}

const now = () => performance.now()
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

function load(tree) {
  require(tree) // installs the MP_ERROR decoder
  return require(path.join(tree, 'lib/msgpack'))
}

// In a child: decode one hostile body once, print { ms, outcome }.
function hostileChild(tree, name) {
  const { decode } = load(tree)
  const bytes = HOSTILE[name]()
  const t = now()
  let outcome
  try {
    const v = decode(bytes)
    outcome = `returned ${v instanceof Map ? 'a Map' : typeof v}`
  } catch (err) {
    outcome = `${err.name}${err.code ? ` ${err.code}` : ''}: ${err.message.slice(0, 60)}`
  }
  console.log(JSON.stringify({ ms: now() - t, outcome }))
}

// In a child that decodes nothing else (another tree's decoder in the same process would make
// every byte read polymorphic): the median ms of 300 decodes of one ordinary body.
function ordinaryChild(tree, name) {
  const m = load(tree)
  const [body, decoderOf] = ORDINARY[name]
  const bytes = body()
  const run = decoderOf(m)
  const xs = []
  for (let i = 0; i < 300; i++) {
    const t = now()
    run(bytes)
    xs.push(now() - t)
  }
  console.log(JSON.stringify({ ms: median(xs) }))
}

function inChild(args, timeout) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=2048', __filename, ...args], { timeout, encoding: 'utf8' })
  if (r.error?.code === 'ETIMEDOUT') return { ms: Infinity, outcome: `killed after ${timeout / 1000} s` }
  try {
    return JSON.parse(r.stdout)
  } catch {
    const last = (r.stderr || '').trim().split('\n').filter(Boolean).slice(-1)[0] || ''
    return { ms: NaN, outcome: `child died (${r.signal || r.status}): ${last.slice(0, 80)}` }
  }
}

function main() {
  const trees = { this: path.join(__dirname, '..') }
  if (process.argv[2] !== undefined) trees.other = path.resolve(process.argv[2])
  const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : '-')

  console.log('hostile bodies (one decode each)')
  for (const name of Object.keys(HOSTILE)) {
    for (const [who, tree] of Object.entries(trees)) {
      const r = inChild(['--hostile', tree, name], HOSTILE_TIMEOUT_MS)
      console.log(`  ${name.padEnd(52)} ${who.padEnd(5)} ${ms(r.ms).padStart(12)}  ${r.outcome}`)
    }
  }

  console.log(`ordinary bodies (ms per decode: median of ${ROUNDS} processes per tree, run in turns)`)
  for (const name of Object.keys(ORDINARY)) {
    const samples = Object.fromEntries(Object.keys(trees).map((who) => [who, []]))
    for (let r = 0; r < ROUNDS; r++) {
      for (const [who, tree] of Object.entries(trees)) samples[who].push(inChild(['--ordinary', tree, name], 120000).ms)
    }
    const m = Object.fromEntries(Object.entries(samples).map(([who, xs]) => [who, median(xs)]))
    const ratio = m.other === undefined ? '' : `  this/other ${(m.this / m.other).toFixed(3)}`
    console.log(`  ${name.padEnd(32)} ${Object.entries(m).map(([who, x]) => `${who} ${ms(x)}`).join('  ')}${ratio}`)
  }
}

if (process.argv[2] === '--hostile') hostileChild(process.argv[3], process.argv[4])
else if (process.argv[2] === '--ordinary') ordinaryChild(process.argv[3], process.argv[4])
else main()
