'use strict'

// The recorded peer's watchers and graceful shutdown (a scripted peer replaying recorded
// Tarantool 3.3.0 frames — not a real server), driven over a raw socket with hand-built packets
// and no kharon code. The peer plays these itself, so the tests hold it to the rules of
// 05-watchers and 06/06b/06c (fixtures/wire-3.3/README.md): wherever the transcripts have the
// same key, value and SYNC, the expected bytes are the recorded ones.

const { test, describe, afterEach } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')

const { rawClient } = require('./helpers/raw-client')
const { startRecordedPeer, loadScenario } = require('./helpers/recorded-peer')
const { sleep, withTimeout } = require('./helpers/wait')

const OPTS = { timeout: 10000 }
const QUIET = 150 // ms without a packet that counts as "nothing was sent"

// ---------------------------------------------------------------------------------------------
// hand-built MessagePack, with the integer width chosen by the caller

const bytes = (...b) => Buffer.from(b)
const fix = (n) => bytes(n)
const u16 = (n) => { const b = Buffer.alloc(3); b[0] = 0xcd; b.writeUInt16BE(n, 1); return b }
const u32 = (n) => { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(n, 1); return b }
const u64 = (n) => { const b = Buffer.alloc(9); b[0] = 0xcf; b.writeBigUInt64BE(BigInt(n), 1); return b }
const str = (s) => { const b = Buffer.from(s); return Buffer.concat([bytes(0xd9, b.length), b]) }
const map = (...pairs) => Buffer.concat([bytes(0xde, 0, pairs.length / 2), ...pairs])

/** 0xce + u32 size, then the header map and the body (if any). */
function packet(header, body) {
  const payload = body ? Buffer.concat([header, body]) : header
  return Buffer.concat([u32(payload.length), payload])
}

const header = (type, sync) => map(fix(0x00), fix(type), fix(0x01), sync)
const watch = (key, sync) => packet(header(0x4a, sync), map(fix(0x57), str(key)))
const unwatch = (key, sync) => packet(header(0x4b, sync), map(fix(0x57), str(key)))
const ping = (sync) => packet(header(0x40, sync))

// ---------------------------------------------------------------------------------------------
// the transcripts

const packets = (name) => loadScenario(name).frames.filter((f) => f.hex && !f.greeting)

/** The hex of the recorded packet of `conn` with `what` and header SYNC `sync`. */
function recorded(name, conn, what, sync) {
  const f = packets(name).find((p) => p.conn === conn && p.what === what && p.header['0x1'] === sync)
  assert.ok(f, `${name}: no ${what} with SYNC ${sync} on ${conn}`)
  return f.hex
}

const rec05 = (what, sync) => recorded('05-watchers', 'W', what, sync)

/** A recorded EVENT's hex with its SYNC (a fixint there) replaced by the encoded `sync`. */
function eventWithSync(hex, sync) {
  const b = Buffer.from(hex, 'hex')
  assert.equal(b.subarray(5, 9).toString('hex'), '82004c01', 'a recorded EVENT header')
  assert.ok(b[9] < 0x80, 'a fixint SYNC in the recorded EVENT')
  const payload = Buffer.concat([b.subarray(5, 9), sync, b.subarray(10)])
  return Buffer.concat([u32(payload.length), payload]).toString('hex')
}

/** A packet's response type (u32 at byte 8 in the response layout) and SYNC (u64 at 14). */
const typeOf = (hex) => Buffer.from(hex, 'hex').readUInt32BE(8)
const syncOf = (hex) => Number(Buffer.from(hex, 'hex').readBigUInt64BE(14))

// ---------------------------------------------------------------------------------------------
// a raw client

let peer
const clients = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy()
  if (peer) await peer.close()
  peer = undefined
})

async function start(options) {
  peer = await startRecordedPeer({ scenarios: ['05-watchers'], ...options })
  return peer
}

/** A socket to the peer past the greeting; `read(n)` gives the next n packets as hex. */
async function client() {
  const c = await rawClient(peer.port, peer.host)
  clients.push(c)
  /** Nothing arrives for a while. */
  c.quiet = async (what) => {
    await sleep(QUIET)
    assert.equal(c.buf.toString('hex'), '', what)
  }
  /** A PING and its reply: every request written before it has been handled. */
  c.sync = async (sync) => {
    c.socket.write(ping(fix(sync)))
    const [hex] = await c.read(1)
    assert.equal(typeOf(hex), 0, 'a PING reply, not an EVENT')
    assert.equal(syncOf(hex), sync)
  }
  return c
}

/** The error of a connection attempt (there must be one). */
function refused() {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.connect(peer.port, peer.host)
    s.once('connect', () => { s.destroy(); reject(new Error('the peer accepted a new connection')) })
    s.once('error', resolve)
  }), 5000, 'a connection attempt')
}

// ---------------------------------------------------------------------------------------------

describe('scripted peer (3.3.0 transcripts): watchers (05-watchers)', () => {
  test('the first WATCH gets an EVENT at once with the current value, as 3.3 encodes it', OPTS, async () => {
    await start()
    const c = await client()
    // the recorded requests, the recorded EVENTs: 'k' never broadcast has no 0x58
    c.socket.write(Buffer.from(rec05('WATCH', 3), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('EVENT', 3)])
    // the five built-in keys, pipelined in one write as recorded; box.shutdown has no value
    const syncs = [12, 13, 14, 15, 16]
    c.socket.write(Buffer.concat(syncs.map((s) => Buffer.from(rec05('WATCH', s), 'hex'))))
    assert.deepEqual(await c.read(5), syncs.map((s) => rec05('EVENT', s)))
    await c.quiet('one EVENT per first WATCH')

    // other SYNC widths: the smallest uint, no schema version
    const d = await client()
    d.socket.write(watch('box.schema', u16(300)))
    d.socket.write(watch('box.status', u64(2 ** 40)))
    d.socket.write(watch('box.id', u32(0)))
    assert.deepEqual(await d.read(3), [
      eventWithSync(rec05('EVENT', 15), bytes(0xcd, 0x01, 0x2c)),
      eventWithSync(rec05('EVENT', 12), u64(2 ** 40)),
      eventWithSync(rec05('EVENT', 13), fix(0)),
    ])

    // a broadcast value: the recorded EVENT 'k' = 5 (SYNC 11)
    peer.broadcast('k', 5)
    const e = await client()
    e.socket.write(Buffer.from(rec05('WATCH', 11), 'hex'))
    assert.deepEqual(await e.read(1), [rec05('EVENT', 11)])
    assert.deepEqual(peer.unmatched, [])
  })

  test('broadcast values are encoded as Lua would, or taken as given with { hex }', OPTS, async () => {
    await start()
    const c = await client()
    const event = async (key, sync) => {
      c.socket.write(unwatch(key, fix(sync)))
      c.socket.write(watch(key, fix(sync)))
      const [hex] = await c.read(1)
      const b = Buffer.from(hex, 'hex')
      const k = Buffer.from(key)
      // 82 00 4c 01 <sync> | 82 57 <fixstr key> 58 <value>
      assert.equal(b.subarray(5, 14 + k.length).toString('hex'),
        '82004c01' + sync.toString(16).padStart(2, '0') + '8257' + (0xa0 | k.length).toString(16) + k.toString('hex') + '58')
      return b.subarray(14 + k.length).toString('hex')
    }
    peer.broadcast('v', { a: 4, s: 'x', l: [1, -1, 1.5, true, null, -200, 300, 2 ** 32] })
    assert.equal(await event('v', 1),
      '83' + 'a161' + '04' + 'a173' + 'a178' + 'a16c' + '98' + '01' + 'ff' + 'cb3ff8000000000000' + 'c3' + 'c0' +
      'd1ff38' + 'cd012c' + 'cf0000000100000000')
    // integral numbers are ints (3.0, -0), others f64; BigInt to 64 bits
    peer.broadcast('v', [3.0, -0, 0.1, -(2n ** 63n), 2n ** 64n - 1n, 'é', ''])
    assert.equal(await event('v', 2),
      '97' + '03' + '00' + 'cb3fb999999999999a' + 'd38000000000000000' + 'cfffffffffffffffff' + 'a2c3a9' + 'a0')
    // exact bytes, nested or not: a decimal ext, an explicit nil
    peer.broadcast('v', { hex: 'd6010312345d' })
    assert.equal(await event('v', 3), 'd6010312345d')
    peer.broadcast('v', [{ hex: 'c0' }, { hex: '81a3686578a178' }])
    assert.equal(await event('v', 4), '92c0' + '81a3686578a178')
    assert.throws(() => peer.broadcast('v', { hex: 'c0c0' }), /not one MessagePack value/)
    assert.throws(() => peer.broadcast('v', { hex: 'x' }), /not hex/)
    assert.throws(() => peer.broadcast('v', new Date()), /cannot encode/)
    assert.throws(() => peer.broadcast(1, 2), /string key/)
  })

  test('broadcasts while unacked are coalesced; an ack sends only the latest, or nothing', OPTS, async () => {
    await start()
    const c = await client()
    // the 05-watchers sequence on 'k', with its requests and its EVENTs
    c.socket.write(Buffer.from(rec05('WATCH', 3), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('EVENT', 3)])
    peer.broadcast('k', 1)
    peer.broadcast('k', 2)
    peer.broadcast('k', 3)
    await c.quiet('three broadcasts while unacked send nothing')
    c.socket.write(Buffer.from(rec05('WATCH', 4), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('EVENT', 4)], 'the ack brings only the latest (3)')
    // an ack with nothing changed sends nothing
    c.socket.write(Buffer.from(rec05('WATCH', 5), 'hex'))
    await c.sync(90)
    await c.quiet('an ack with nothing new sends nothing')
    // after an ack, the next broadcast comes at once; later ones wait for the next ack
    peer.broadcast('k', 11)
    assert.deepEqual(await c.read(1), [rec05('EVENT', 5)])
    peer.broadcast('k', 12)
    peer.broadcast('k', 13)
    await c.quiet('12 and 13 wait for the ack')
    c.socket.write(Buffer.from(rec05('WATCH', 6), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('EVENT', 6)], 'only 13; 12 is never sent')
    // the same value again counts as a change
    c.socket.write(Buffer.from(rec05('WATCH', 7), 'hex'))
    await c.sync(91)
    peer.broadcast('k', 13)
    assert.deepEqual(await c.read(1), [rec05('EVENT', 7)])
    // per connection: another one watching 'k' has its own ack state
    const d = await client()
    d.socket.write(watch('k', fix(1)))
    assert.deepEqual(await d.read(1), [eventWithSync(rec05('EVENT', 7), fix(1))])
    peer.broadcast('k', 13)
    await c.quiet('c has not acked')
    await d.quiet('d has not acked')
  })

  test('UNWATCH stops events; WATCH after it gets an immediate EVENT again', OPTS, async () => {
    await start()
    const c = await client()
    c.socket.write(Buffer.from(rec05('WATCH', 3), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('EVENT', 3)])
    c.socket.write(Buffer.from(rec05('WATCH', 4), 'hex')) // the ack, nothing new
    c.socket.write(Buffer.from(rec05('UNWATCH', 8), 'hex'))
    await c.sync(50)
    peer.broadcast('k', 5)
    await c.quiet('no EVENT after UNWATCH')
    // UNWATCH of a key never watched is ignored; the connection is fine (the recorded PING)
    c.socket.write(Buffer.from(rec05('UNWATCH', 9), 'hex'))
    c.socket.write(Buffer.from(rec05('PING', 10), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('OK', 10)])
    c.socket.write(Buffer.from(rec05('WATCH', 11), 'hex'))
    assert.deepEqual(await c.read(1), [rec05('EVENT', 11)], 'the current value (5) at once')
    // broadcasting nil removes 0x58 (the recorded EVENT with SYNC 22)
    c.socket.write(Buffer.from(rec05('WATCH', 22), 'hex'))
    await c.sync(51)
    peer.broadcast('k')
    assert.deepEqual(await c.read(1), [rec05('EVENT', 22)])
    c.socket.write(watch('k', fix(23)))
    await c.sync(52)
    peer.broadcast('k', null)
    assert.deepEqual(await c.read(1), [eventWithSync(rec05('EVENT', 22), fix(23))])
    // WATCH / UNWATCH are recorded requests, never unmatched, and never replied to
    assert.deepEqual(peer.requests.filter((r) => r.type === 0x4a || r.type === 0x4b).map((r) => [r.type, r.sync]),
      [[0x4a, 3], [0x4a, 4], [0x4b, 8], [0x4b, 9], [0x4a, 11], [0x4a, 22], [0x4a, 23]])
    assert.deepEqual(peer.requests.find((r) => r.type === 0x4b).body, { '0x57': 'k' })
    assert.deepEqual(peer.unmatched, [])
  })

  test('an EVENT carries the SYNC of the latest WATCH of its key on its connection', OPTS, async () => {
    await start()
    const c = await client()
    c.socket.write(watch('k', fix(1)))
    c.socket.write(watch('box.schema', fix(2)))
    assert.deepEqual(await c.read(2), [eventWithSync(rec05('EVENT', 3), fix(1)), eventWithSync(rec05('EVENT', 15), fix(2))])
    peer.broadcast('k', 3)
    await c.quiet('unacked')
    c.socket.write(watch('k', u16(1000)))
    assert.deepEqual(await c.read(1), [eventWithSync(rec05('EVENT', 4), bytes(0xcd, 0x03, 0xe8))])
    // an ack with nothing new still sets the SYNC of the next EVENT
    c.socket.write(watch('k', u64(2n ** 64n - 1n)))
    await c.sync(9)
    peer.broadcast('k', 3)
    assert.deepEqual(await c.read(1), [eventWithSync(rec05('EVENT', 4), u64(2n ** 64n - 1n))])
    // the other key kept its own
    c.socket.write(watch('box.schema', fix(2)))
    await c.sync(10)
    peer.broadcast('box.schema', { version: 97 })
    assert.deepEqual(await c.read(1), [eventWithSync(rec05('EVENT', 15), fix(2)).replace(/60$/, '61')])
  })
})

describe('scripted peer (3.3.0 transcripts): graceful shutdown (06, 06b, 06c)', () => {
  const rec06 = (conn, what, sync) => recorded('06-graceful-shutdown', conn, what, sync)

  /** A watching box.shutdown and acked, as in 06 (its recorded requests and EVENT). */
  async function watcher() {
    const a = await client()
    a.socket.write(Buffer.from(rec06('A', 'WATCH', 3), 'hex'))
    assert.deepEqual(await a.read(1), [rec06('A', 'EVENT', 3)])
    a.socket.write(Buffer.from(rec06('A', 'WATCH', 4), 'hex'))
    await a.sync(99)
    return a
  }

  test('a watcher gets box.shutdown = true and is served on; nobody new gets in', OPTS, async () => {
    await start({ scenarios: ['06-graceful-shutdown'] })
    const a = await watcher()
    const b = await client() // no watcher, as B in 06
    const done = peer.shutdown({ graceTimeout: 5000 })
    assert.deepEqual(await a.read(1), [rec06('A', 'EVENT', 4)], 'EVENT box.shutdown = true, as recorded')
    assert.equal((await refused()).code, 'ECONNREFUSED')
    // requests sent after the event are answered (the recorded ones, on A and B)
    a.socket.write(Buffer.from(rec06('A', 'PING', 6), 'hex'))
    a.socket.write(Buffer.from(rec06('A', 'CALL', 7), 'hex'))
    b.socket.write(Buffer.from(rec06('B', 'PING', 4), 'hex'))
    assert.deepEqual(await a.read(2), [rec06('A', 'OK', 6), rec06('A', 'OK', 7)])
    // 3.3 closes nobody while a watcher is connected: B is served too
    assert.deepEqual(await b.read(1), [rec06('B', 'OK', 4)])
    assert.equal(b.ended, false)
    // A closes its side: the peer closes A, and with no watcher left, B (06b: the server exits)
    const t0 = Date.now()
    a.socket.end()
    await withTimeout(done, 2000, 'shutdown() after the watcher closed')
    assert.ok(Date.now() - t0 < 1000, 'long before the grace timeout')
    await Promise.all([a.closed, b.closed])
    assert.equal(b.ended, true, 'B got a FIN')
    assert.equal(b.buf.length, 0, 'and no further frames')
    assert.deepEqual(peer.shutdownLog, [
      { conn: 0, event: 'event-sent' }, { conn: 0, event: 'client-closed' }, { conn: 1, event: 'watchers-gone' },
    ])
    assert.deepEqual(peer.unmatched, [])
  })

  test('a watcher that keeps its socket open is closed after graceTimeout', OPTS, async () => {
    await start({ scenarios: ['06-graceful-shutdown'] })
    const a = await watcher()
    const c = await client() // idle, as C in 06
    const t0 = Date.now()
    const done = peer.shutdown({ graceTimeout: 400 })
    assert.equal(peer.shutdown(), done, 'a second call gives the same promise')
    assert.deepEqual(await a.read(1), [rec06('A', 'EVENT', 4)])
    await sleep(200)
    assert.equal(a.ended || c.ended, false, 'still open before the timeout')
    await withTimeout(done, 3000, 'shutdown()')
    const elapsed = Date.now() - t0
    assert.ok(elapsed >= 390 && elapsed < 2000, `closed after the grace timeout (${elapsed} ms)`)
    await Promise.all([a.closed, c.closed])
    assert.equal(a.ended && c.ended, true, 'both got a FIN')
    assert.equal(a.buf.length + c.buf.length, 0, 'and no further frames')
    assert.deepEqual(peer.shutdownLog, [
      { conn: 0, event: 'event-sent' }, { conn: 0, event: 'grace-timeout' }, { conn: 1, event: 'grace-timeout' },
    ])
  })

  test('with nobody watching box.shutdown, every connection is closed at once (06c)', OPTS, async () => {
    await start({ scenarios: ['06c-graceful-shutdown-no-watcher'] })
    const b = await client()
    const k = await client()
    k.socket.write(watch('k', fix(1))) // watching another key does not count
    await k.read(1)
    // an in-flight CALL, as in 06c: it gets no reply
    peer.replyDelay = 300
    b.socket.write(Buffer.from(recorded('06c-graceful-shutdown-no-watcher', 'B', 'CALL', 3), 'hex'))
    await sleep(20)
    const t0 = Date.now()
    await withTimeout(peer.shutdown(), 2000, 'shutdown()')
    await Promise.all([b.closed, k.closed])
    assert.ok(Date.now() - t0 < 200, 'at once')
    assert.equal((await refused()).code, 'ECONNREFUSED')
    await sleep(400)
    assert.equal(b.buf.length + k.buf.length, 0, 'no reply, no EVENT')
    assert.deepEqual(peer.shutdownLog, [{ conn: 0, event: 'closed-at-once' }, { conn: 1, event: 'closed-at-once' }])
  })

  test('replyDelay keeps requests in flight across shutdown(); their replies still arrive', OPTS, async () => {
    await start({ scenarios: ['06-graceful-shutdown'] })
    const a = await watcher()
    const b = await client()
    peer.replyDelay = 300
    // the recorded in-flight CALLs of 06 (A: sleep_ret 1.5, B: sleep_ret 1.0)
    const t0 = Date.now()
    a.socket.write(Buffer.from(rec06('A', 'CALL', 5), 'hex'))
    b.socket.write(Buffer.from(rec06('B', 'CALL', 3), 'hex'))
    await sleep(50)
    const done = peer.shutdown({ graceTimeout: 5000 })
    // EVENTs are not held back, so the event overtakes the reply in flight
    assert.deepEqual(await a.read(1), [rec06('A', 'EVENT', 4)])
    assert.equal(a.buf.length, 0)
    assert.deepEqual(await a.read(1), [rec06('A', 'OK', 5)])
    assert.deepEqual(await b.read(1), [rec06('B', 'OK', 3)])
    assert.ok(Date.now() - t0 >= 290, 'held back by replyDelay')
    a.socket.end()
    await withTimeout(done, 2000, 'shutdown()')
    assert.deepEqual(peer.unmatched, [])
  })
})

describe('scripted peer (3.3.0 transcripts): replyDelay', () => {
  test('holds back replayed replies in order, not ID / AUTH replies on their own, nor EVENTs', OPTS, async () => {
    await start({ replyDelay: 250 })
    assert.equal(peer.replyDelay, 250)
    const c = await client()
    const id = packet(header(0x49, fix(1)), map(fix(0x54), fix(3)))
    let t0 = Date.now()
    c.socket.write(id)
    await c.read(1)
    assert.ok(Date.now() - t0 < 150, 'ID is answered at once')
    // a PING is held back; a WATCH's EVENT overtakes it; the ID after it keeps its place
    t0 = Date.now()
    c.socket.write(ping(fix(2)))
    c.socket.write(watch('k', fix(3)))
    c.socket.write(id)
    const [event] = await c.read(1)
    assert.ok(Date.now() - t0 < 150, 'the EVENT at once')
    assert.equal(event, eventWithSync(rec05('EVENT', 3), fix(3)))
    const [pong, idReply] = await c.read(2)
    assert.ok(Date.now() - t0 >= 240, 'the PING reply after replyDelay')
    assert.deepEqual([typeOf(pong), syncOf(pong), syncOf(idReply)], [0, 2, 1])
    // set at run time; 0 is the default
    peer.replyDelay = 0
    t0 = Date.now()
    await c.sync(4)
    assert.ok(Date.now() - t0 < 150)
    assert.throws(() => { peer.replyDelay = -1 }, /replyDelay/)
  })
})
