'use strict'

// `npm run bench`: kharon beside tarantool-driver, net.box, a raw socket and msgpackr, all
// against one throwaway Tarantool in one run. Each figure is the median of REPEATS runs.
// Writes bench/results.json and bench/ratios.svg and prints a table.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { startTarantool, TARANTOOL } = require('../__test__/helpers/tarantool') // $TARANTOOL or tarantool
const kharon = require('..')
const { decode } = require('../lib/msgpack')
const { Unpackr } = require('msgpackr')
const TarantoolDriver = require('tarantool-driver')
const { now, windows, sequential, bestOf, countPushes, onPushRate, pushesBody } = require('./measure')
const { benchCluster } = require('./cluster')

const REPEATS = Number(process.env.BENCH_REPEATS || 3)
const SEQUENTIAL = 20000
const PIPELINED = 200000
// Window 1 is sequential-bound: it takes SEQUENTIAL calls, the others PIPELINED.
const WINDOWS = [1, 100, 1000, 10000]
const BURST = 100000
const PUSHES = 1000000
// Short push streams: the best of SHORT_STREAMS streams of SHORT_PUSHES.
const SHORT_PUSHES = 1000
const SHORT_STREAMS = 50
const PUSH_ROUNDS = 3
const SELECTS = 10

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
async function selectMs(select) {
  const t = now()
  for (let i = 0; i < SELECTS; i++) {
    const rows = await select()
    if (rows.length !== 10000) throw new Error(`select returned ${rows.length} rows`)
  }
  return ((now() - t) * 1000) / SELECTS
}

async function benchKharon(server, record) {
  const conn = await kharon.connect(`${server.host}:${server.port}`)
  const echo = () => conn.call('echo', [1])
  // The other windows are taken in turns with the raw socket (pipelinedInterleaved).
  record('pipelined_1', await windows(echo, SEQUENTIAL, 1))
  record('burst_100000', await windows(echo, BURST, BURST))

  record('select_10k_ms', await selectMs(() => conn.select('bench', 'pk', [], { iterator: 'ALL', limit: 10000 })))

  // The raw path: pre-encoded body, callbacks, no decoding.
  const body = Buffer.from([0x82, 0x22, 0xa4, ...Buffer.from('echo'), 0x21, 0x91, 0x01])
  const t2 = conn.transport
  const rawIssue = () => new Promise((resolve, reject) => {
    t2.request(kharon.IPROTO.CALL, body, (err, b) => (err ? reject(err) : resolve(b)))
  })
  record('raw_pipelined_1000', await windows(rawIssue, PIPELINED, 1000))
  await conn.close()
}

// tarantool-driver stalls for good under some loads (10,000 in flight here): a figure with no
// reply for STALL_MS is recorded as stalled, and the driver goes on with a new connection.
const STALL_MS = 10000

async function benchDriver(server, record, stalls) {
  let conn
  let replies = 0
  const open = async () => {
    conn = new TarantoolDriver({ host: server.host, port: server.port, lazyConnect: true })
    conn.on('error', () => {})
    await conn.connect()
  }
  await open()
  // Counts replies for the stall watchdog; a request abandoned in a stall must not become an
  // unhandled rejection when its connection is dropped.
  const counted = (promise) => {
    const p = promise.then((r) => { replies++; return r })
    p.catch(() => {})
    return p
  }
  const echo = () => counted(conn.call('echo', 1))
  const figures = [
    ['sequential_call', () => sequential(echo, SEQUENTIAL)],
    ...WINDOWS.map((w) => [`pipelined_${w}`, () => windows(echo, w === 1 ? SEQUENTIAL : PIPELINED, w)]),
    ['burst_100000', () => windows(echo, BURST, BURST)],
    ['select_10k_ms', () => selectMs(() => counted(conn.select('bench', 'pk', 10000, 0, 'all', [])))],
  ]
  for (const [name, measure] of figures) {
    let watchdog
    const stalled = new Promise((resolve) => {
      let seen = replies
      watchdog = setInterval(() => {
        if (replies === seen) resolve('stalled')
        seen = replies
      }, STALL_MS)
    })
    const running = measure()
    // After a stall its requests fail when the connection is dropped; nobody waits for them.
    running.catch(() => {})
    const value = await Promise.race([running, stalled])
    clearInterval(watchdog)
    if (value === 'stalled') {
      stalls.add(name)
      process.stderr.write(`tarantool-driver ${name} stalled (no reply for ${STALL_MS / 1000} s)\n`)
      conn.disconnect()
      await open()
      continue
    }
    record(name, value)
  }
  conn.disconnect()
}

// The floor: pre-encoded frames over a plain socket. `roundTrip()` sends one and waits for its
// reply (latency); `window(w)` keeps w in flight like the clients do (a new frame for each reply,
// sent when a read brings replies).
async function openRawSocket(server) {
  const sock = net.connect({ host: server.host, port: server.port, noDelay: true })
  let buf = Buffer.alloc(0)
  let wake = null
  sock.on('data', (d) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d])
    if (wake) wake()
  })
  const need = async (n) => {
    while (buf.length < n) await new Promise((r) => { wake = r })
    wake = null
  }
  const wholeFrame = async () => {
    await need(5)
    await need(5 + buf.readUInt32BE(1))
  }
  await need(128)
  buf = buf.subarray(128)
  const body = Buffer.from([0x82, 0x22, 0xa4, ...Buffer.from('echo'), 0x21, 0x91, 0x01])
  const frame = Buffer.concat([Buffer.from([0xce, 0, 0, 0, 9 + body.length, 0x82, 0x00, 0x0a, 0x01, 0xce, 0, 0, 0, 0]), body])
  return {
    async roundTrip() {
      sock.write(frame)
      await wholeFrame()
      buf = buf.subarray(5 + buf.readUInt32BE(1))
    },
    async window(w) {
      const t = now()
      let sent = 0
      let received = 0
      const send = (k) => {
        sock.write(Buffer.concat(new Array(k).fill(frame)))
        sent += k
      }
      send(Math.min(w, PIPELINED))
      while (received < PIPELINED) {
        await wholeFrame()
        let replies = 0
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          buf = buf.subarray(5 + buf.readUInt32BE(1))
          replies++
        }
        received += replies
        if (sent < PIPELINED) send(Math.min(replies, PIPELINED - sent))
      }
      return PIPELINED / (now() - t)
    },
    close: () => sock.destroy(),
  }
}

// The push floor: a plain socket sends a pre-encoded call('pushes', [n]) and counts the CHUNK
// frames until the final response. `stream(n)` resolves to pushes per second.
async function openRawPushes(server) {
  const sock = net.connect({ host: server.host, port: server.port, noDelay: true })
  let rest = Buffer.alloc(0)
  let greeted = false
  let onGreeting
  let count = 0
  let onFinal = null
  sock.on('data', (d) => {
    const buf = rest.length === 0 ? d : Buffer.concat([rest, d])
    let p = 0
    if (!greeted) {
      if (buf.length < 128) {
        rest = buf
        return
      }
      greeted = true
      p = 128
      onGreeting()
    }
    while (buf.length - p >= 5 && buf.length - p >= 5 + buf.readUInt32BE(p + 1)) {
      // The header map starts {REQUEST_TYPE: status, ...}: 0x83 0x00, then the status.
      const s = buf[p + 7]
      const status = s === 0xce ? buf.readUInt32BE(p + 8) : s === 0xcc ? buf[p + 8] : s
      if (status === 0x80) count++
      else onFinal()
      p += 5 + buf.readUInt32BE(p + 1)
    }
    rest = buf.subarray(p)
  })
  await new Promise((resolve) => { onGreeting = resolve })
  let sync = 1
  return {
    stream(n) {
      const body = pushesBody(n)
      const head = Buffer.from([0xce, 0, 0, 0, 9 + body.length, 0x82, 0x00, 0x0a, 0x01, 0xce, 0, 0, 0, 0])
      head.writeUInt32BE(sync++, 10)
      return new Promise((resolve) => {
        count = 0
        const t = now()
        onFinal = () => resolve(count / (now() - t))
        sock.write(Buffer.concat([head, body]))
      })
    },
    close: () => sock.destroy(),
  }
}

// Pushes per second: the floor and kharon's three ways of taking pushes, in alternating turns
// (the order reversed every round), short streams (best of SHORT_STREAMS) and long ones.
async function pushesInterleaved(record) {
  // A server of its own: tens of millions of pushes ran 2.6 out of Lua memory in one process.
  const server = await startTarantool({ script: path.join(__dirname, 'server.lua') })
  const raw = await openRawPushes(server)
  const conn = await kharon.connect(`${server.host}:${server.port}`)
  const ways = [
    ['raw socket', 'pushes', (n) => raw.stream(n)],
    ['kharon', 'pushes_on_push', (n) => onPushRate(conn, n)],
    ['kharon', 'pushes_for_await', (n) => countPushes(conn.call('pushes', [n]))],
    ['kharon', 'raw_pushes_for_await', (n) => countPushes(conn.transport.request(kharon.IPROTO.CALL, pushesBody(n)))],
  ]
  for (let r = 0; r < PUSH_ROUNDS; r++) {
    for (const [who, name, stream] of r % 2 ? [...ways].reverse() : ways) {
      record(who, `${name}_short`, await bestOf(SHORT_STREAMS, () => stream(SHORT_PUSHES)))
      record(who, `${name}_long`, await stream(PUSHES))
    }
  }
  await conn.close()
  raw.close()
  await server.stop()
}

// Pipelined calls with nobody subscribed to kharon:request and with a subscriber, in
// alternating turns: what tracing costs when on, and that it costs nothing measurable when off.
async function tracingInterleaved(server, record) {
  const conn = await kharon.connect(`${server.host}:${server.port}`)
  const echo = () => conn.call('echo', [1])
  const channel = require('node:diagnostics_channel').tracingChannel('kharon:request')
  const handlers = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
  for (let r = 0; r < 4; r++) {
    for (const traced of r % 2 ? [true, false] : [false, true]) {
      if (traced) channel.subscribe(handlers)
      const rate = await windows(echo, PIPELINED, 1000)
      if (traced) channel.unsubscribe(handlers)
      record(traced ? 'pipelined_1000_traced' : 'pipelined_1000_untraced', rate)
    }
  }
  await conn.close()
}

// Pipelined calls on a connection with `callerStack: true` and one without, in alternating
// turns: what keeping the caller's stack for errors costs (a stack capture per request).
async function callerStackInterleaved(server, record) {
  const plain = await kharon.connect(`${server.host}:${server.port}`)
  const keeping = await kharon.connect(`${server.host}:${server.port}`, { callerStack: true })
  for (let r = 0; r < 4; r++) {
    for (const conn of r % 2 ? [keeping, plain] : [plain, keeping]) {
      const rate = await windows(() => conn.call('echo', [1]), PIPELINED, 1000)
      record(conn === keeping ? 'pipelined_1000_caller_stack' : 'pipelined_1000_plain', rate)
    }
  }
  await plain.close()
  await keeping.close()
}

// Latency, the raw socket and kharon taken in alternating blocks (ABBA), so that the machine's
// slow and fast phases (seconds long on a shared VM) fall on both alike.
async function sequentialInterleaved(raw, conn, record) {
  const BLOCK = 1000
  const time = { raw: 0, kharon: 0 }
  const clients = { raw: () => raw.roundTrip(), kharon: () => conn.call('echo', [1]) }
  for (let b = 0; b < SEQUENTIAL / BLOCK; b++) {
    for (const who of b % 2 ? ['kharon', 'raw'] : ['raw', 'kharon']) {
      const t = now()
      for (let i = 0; i < BLOCK; i++) await clients[who]()
      time[who] += now() - t
    }
  }
  record('raw socket', 'sequential_call', SEQUENTIAL / time.raw)
  record('kharon', 'sequential_call', SEQUENTIAL / time.kharon)
}

// Pipelined rates, the raw socket and kharon in turns for each window (who goes first swapped
// from one window to the next), so that the two of a pair fall in one phase of the machine.
async function pipelinedInterleaved(raw, conn, record) {
  const echo = () => conn.call('echo', [1])
  const turns = { 'raw socket': (w) => raw.window(w), kharon: (w) => windows(echo, PIPELINED, w) }
  for (const [i, w] of WINDOWS.filter((w) => w > 1).entries()) {
    for (const who of i % 2 ? ['kharon', 'raw socket'] : ['raw socket', 'kharon']) record(who, `pipelined_${w}`, await turns[who](w))
  }
}

// Median milliseconds per decode of `bytes` for each decoder, their samples alternating so that
// both see the same phases of the machine.
function timeDecodes(decoders, bytes) {
  const samples = Object.fromEntries(Object.keys(decoders).map((who) => [who, []]))
  for (let i = 0; i < 60; i++) {
    for (const [who, decodeWith] of Object.entries(decoders)) {
      const t = now()
      decodeWith(bytes)
      if (i >= 10) samples[who].push((now() - t) * 1000)
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([who, xs]) => [who, median(xs)]))
}

function runtimes() {
  const bin = (name) => path.join(__dirname, '..', 'node_modules', '.bin', name)
  const list = [
    { name: 'node (uv)', argv: [process.execPath], env: { KHARON_READ_PATH: 'uv' } },
    { name: 'node (tokio)', argv: [process.execPath], env: { KHARON_READ_PATH: 'tokio' } },
    { name: 'bun', argv: [bin('bun')], env: {} },
    { name: 'deno', argv: [bin('deno'), 'run', '-A', '--no-lock'], env: {} },
  ]
  return list.filter((r) => {
    if (r.argv[0] === process.execPath || fs.existsSync(r.argv[0])) return true
    process.stderr.write(`${r.name}: not installed (npm install installs the devDependency)\n`)
    return false
  })
}

function runRuntime(runtime, server) {
  return new Promise((resolve, reject) => {
    const [bin, ...args] = runtime.argv
    const proc = spawn(bin, [...args, path.join(__dirname, 'runtime.cjs'), `${server.host}:${server.port}`, String(REPEATS)], {
      env: { ...process.env, ...runtime.env },
    })
    let text = ''
    proc.stdout.on('data', (d) => { text += d })
    proc.stderr.on('data', (d) => { text += d })
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${runtime.name} failed: ${text}`))
      const out = {}
      for (const line of text.split('\n')) {
        const [name, value] = line.split('\t')
        if (value !== undefined) (out[name] ||= []).push(Number(value))
      }
      resolve(out)
    })
  })
}

function runNetbox(server) {
  return new Promise((resolve, reject) => {
    const proc = spawn(TARANTOOL, [path.join(__dirname, 'netbox.lua'), `${server.host}:${server.port}`, String(REPEATS)], {
      cwd: fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-netbox-')),
    })
    const out = {}
    let text = ''
    proc.stdout.on('data', (d) => { text += d })
    proc.stderr.on('data', (d) => { text += d })
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`net.box bench failed: ${text}`))
      for (const line of text.split('\n')) {
        const [name, value] = line.split('\t')
        if (value !== undefined) (out[name] ||= []).push(Number(value))
      }
      resolve(out)
    })
  })
}

async function main() {
  const server = await startTarantool({ script: path.join(__dirname, 'server.lua') })
  const results = { kharon: {}, 'tarantool-driver': {}, 'net.box': {}, 'raw socket': {}, msgpackr: {} }
  const stalls = new Set()
  const recorder = (who) => (name, value) => {
    ;(results[who][name] ||= []).push(value)
    process.stderr.write(`${who} ${name} ${value.toFixed(1)}\n`)
  }
  try {
    // The 10k-tuple select's exact body bytes, for the decode comparison: plain tuples on any
    // server (a 3.x server would send MP_TUPLE to a client offering the tuple extensions).
    const conn = await kharon.connect(`${server.host}:${server.port}`, { features: [] })
    const selectBody = await new Promise((resolve, reject) => {
      const spaceId = conn.schema.byName.get('bench').id
      conn.transport.request(kharon.IPROTO.SELECT, require('../lib/requests').select(spaceId, 0, [], { iterator: 'ALL', limit: 10000 }).toBuffer(),
        (err, b) => (err ? reject(err) : resolve(Buffer.from(b))))
    })
    await conn.close()
    const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false })

    for (let r = 0; r < REPEATS; r++) {
      const raw = await openRawSocket(server)
      const conn = await kharon.connect(`${server.host}:${server.port}`)
      await sequentialInterleaved(raw, conn, (who, name, value) => recorder(who)(name, value))
      await pipelinedInterleaved(raw, conn, (who, name, value) => recorder(who)(name, value))
      await conn.close()
      raw.close()
      await benchKharon(server, recorder('kharon'))
      await pushesInterleaved((who, name, value) => recorder(who)(name, value))
      await tracingInterleaved(server, recorder('kharon'))
      await callerStackInterleaved(server, recorder('kharon'))
      await benchDriver(server, recorder('tarantool-driver'), stalls)
      const decodeMs = timeDecodes({ kharon: (b) => decode(b), msgpackr: (b) => unpackr.unpack(b) }, selectBody)
      for (const [who, ms] of Object.entries(decodeMs)) recorder(who)('decode_10k_ms', ms)
    }
    Object.assign(results['net.box'], await runNetbox(server))
    // The same figures under each runtime: Node on its libuv path and on the portable (tokio)
    // path, Bun and Deno (devDependencies; a missing one is left out, saying so).
    for (const runtime of runtimes()) {
      results[runtime.name] = {}
      try {
        for (const [name, values] of Object.entries(await runRuntime(runtime, server))) results[runtime.name][name] = values
      } catch (err) {
        delete results[runtime.name]
        process.stderr.write(`${runtime.name}: ${err.message}\n`)
      }
    }
  } finally {
    await server.stop()
  }
  const clusterSkipped = await benchCluster(REPEATS, (who, name, value) => recorder(who)(name, value))
  if (clusterSkipped) process.stderr.write(`cluster figures skipped: ${clusterSkipped}\n`)
  report(results, stalls)
}

function report(results, stalls) {
  const med = {}
  for (const [who, figures] of Object.entries(results)) {
    med[who] = {}
    for (const [name, xs] of Object.entries(figures)) med[who][name] = median(xs)
  }
  // Figures taken side by side (interleaved, or in one repeat) are compared pair by pair:
  // the median of their ratios, which the machine's slow and fast phases do not skew.
  const ratio = ([whoA, a], [whoB, b]) => {
    const xs = results[whoA][a]
    const ys = results[whoB][b]
    if (xs === undefined || ys === undefined) return NaN
    if (xs.length !== ys.length) return med[whoA][a] / med[whoB][b]
    return median(xs.map((x, i) => x / ys[i]))
  }
  const K = (name) => ['kharon', name]
  const floor = (name) => ['raw socket', name]
  const ratios = {
    'pipelined 1000 vs tarantool-driver (≥ 3)': med.kharon.pipelined_1000 / med['tarantool-driver'].pipelined_1000,
    'pipelined 1000 vs net.box (≥ 1.0)': med.kharon.pipelined_1000 / med['net.box'].pipelined_1000,
    'sequential latency vs raw socket (≤ 1.0)': ratio(floor('sequential_call'), K('sequential_call')),
    'pipelined 1000 vs raw socket (≥ 0.8)': ratio(K('pipelined_1000'), floor('pipelined_1000')),
    'onPush, short streams, vs the push floor (≥ 0.6)': ratio(K('pushes_on_push_short'), floor('pushes_short')),
    'onPush, long streams, vs the push floor (≥ 0.6)': ratio(K('pushes_on_push_long'), floor('pushes_long')),
    'for await, short, vs the push floor (≥ 0.5)': ratio(K('pushes_for_await_short'), floor('pushes_short')),
    'for await, long, vs the push floor (≥ 0.5)': ratio(K('pushes_for_await_long'), floor('pushes_long')),
    'raw for await, short, vs the push floor (≥ 0.65)': ratio(K('raw_pushes_for_await_short'), floor('pushes_short')),
    'raw for await, long, vs the push floor (≥ 0.65)': ratio(K('raw_pushes_for_await_long'), floor('pushes_long')),
    'onPush, short, vs net.box on_push (≥ 1.0)': med.kharon.pushes_on_push_short / med['net.box'].pushes_on_push_short,
    'for await, short, vs net.box pairs() (≥ 1.0)': med.kharon.pushes_for_await_short / med['net.box'].pushes_pairs_short,
    'pipelined 1000, traced vs untraced': ratio(K('pipelined_1000_traced'), K('pipelined_1000_untraced')),
    'pipelined 1000, callerStack vs without': ratio(K('pipelined_1000_caller_stack'), K('pipelined_1000_plain')),
    '10k select decode vs msgpackr (≤ 1.0)': ratio(K('decode_10k_ms'), ['msgpackr', 'decode_10k_ms']),
    'pipelined 10000 vs 100 (flat: 0.9–1.1)': med.kharon.pipelined_10000 / med.kharon.pipelined_100,
    'crud get, pipelined 100, vs net.box': med.kharon.crud_get_pipelined_100 / med['net.box'].crud_get_pipelined_100,
    'crud insert, pipelined 100, vs net.box': med.kharon.crud_insert_pipelined_100 / med['net.box'].crud_insert_pipelined_100,
    'crud get, sequential, vs net.box': med.kharon.crud_get_sequential / med['net.box'].crud_get_sequential,
    'call by key, routed by kharon vs through the router, pipelined 100': ratio(K('callrw_direct_pipelined_100'), K('callrw_router_pipelined_100')),
    'call by key, routed by kharon vs through the router, sequential': ratio(K('callrw_direct_sequential'), K('callrw_router_sequential')),
    'node, tokio path vs uv path, pipelined 1000': ratio(['node (tokio)', 'pipelined_1000'], ['node (uv)', 'pipelined_1000']),
    'node, tokio path vs uv path, sequential': ratio(['node (tokio)', 'sequential_call'], ['node (uv)', 'sequential_call']),
    'bun vs node, pipelined 1000': ratio(['bun', 'pipelined_1000'], ['node (uv)', 'pipelined_1000']),
    'deno vs node, pipelined 1000': ratio(['deno', 'pipelined_1000'], ['node (uv)', 'pipelined_1000']),
  }
  // Nanoseconds per push: what each way of taking pushes costs the client, all in.
  const perPush = {}
  for (const name of ['pushes_on_push', 'pushes_for_await', 'raw_pushes_for_await']) {
    for (const len of ['short', 'long']) perPush[`kharon ${name}_${len}`] = 1e9 / med.kharon[`${name}_${len}`]
  }
  for (const len of ['short', 'long']) perPush[`raw socket pushes_${len}`] = 1e9 / med['raw socket'][`pushes_${len}`]
  const names = [...new Set(Object.values(med).flatMap((f) => Object.keys(f)))]
  const who = Object.keys(med)
  const fmt = (v) => (v === undefined ? '—' : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2))
  const lines = [`| figure | ${who.join(' | ')} |`, `|---|${who.map(() => '---:').join('|')}|`]
  const cell = (w, n) => (w === 'tarantool-driver' && med[w][n] === undefined && stalls.has(n) ? 'stalled' : fmt(med[w][n]))
  for (const n of names) lines.push(`| ${n} | ${who.map((w) => cell(w, n)).join(' | ')} |`)
  lines.push('', '| ratio | value |', '|---|---:|')
  for (const [n, v] of Object.entries(ratios)) lines.push(`| ${n} | ${v.toFixed(2)} |`)
  lines.push('', '| ns per push | value |', '|---|---:|')
  for (const [n, v] of Object.entries(perPush)) lines.push(`| ${n} | ${Math.round(v)} |`)
  const meta = {
    date: new Date().toISOString().slice(0, 10),
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    node: process.version,
    tarantool: require('node:child_process').execFileSync(TARANTOOL, ['--version']).toString().split('\n')[0],
    kharon: require('../package.json').version,
    repeats: REPEATS,
  }
  console.log(`${meta.date}, ${meta.cpus} CPUs (${meta.cpu}), Node ${meta.node}, ${meta.tarantool}, median of ${REPEATS}`)
  console.log('Rates are per second; *_ms are milliseconds (lower is better).\n')
  console.log(lines.join('\n'))
  if (stalls.size > 0) console.log(`\ntarantool-driver stalled (no reply for ${STALL_MS / 1000} s) at: ${[...stalls].join(', ')}`)
  fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify({ meta, median: med, samples: results, ratios, perPush, stalls: [...stalls] }, null, 2))
  fs.writeFileSync(path.join(__dirname, 'ratios.svg'), chart(ratios))
}

// A horizontal bar per ratio, with the target drawn as a line at 1.0.
function chart(ratios) {
  const entries = Object.entries(ratios).filter(([, v]) => Number.isFinite(v))
  const width = 760
  const rowH = 34
  const left = 330
  const scale = (width - left - 60) / Math.max(3.5, ...entries.map(([, v]) => v))
  const rows = entries.map(([name, v], i) => {
    const y = 20 + i * rowH
    return `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${name.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</text>` +
      `<rect x="${left}" y="${y + 4}" width="${(v * scale).toFixed(1)}" height="18" fill="#3b7dd8"/>` +
      `<text x="${(left + v * scale + 6).toFixed(1)}" y="${y + 17}">${v.toFixed(2)}×</text>`
  })
  const height = 40 + entries.length * rowH
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">` +
    `<line x1="${left + scale}" y1="10" x2="${left + scale}" y2="${height - 10}" stroke="#c33" stroke-dasharray="4"/>` +
    rows.join('') + '</svg>\n'
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
