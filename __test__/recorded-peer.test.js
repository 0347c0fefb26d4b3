'use strict'

// The recorded peer itself (a scripted peer replaying recorded Tarantool 3.3.0 frames — not a
// real server), driven over a raw socket with hand-built packets and no kharon code. Every
// expected byte comes from the transcripts in fixtures/wire-3.3, so these tests check that the
// peer replays them faithfully, not what Tarantool does.

const { test, describe, afterEach } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')

const { rawClient } = require('./helpers/raw-client')
const { startRecordedPeer, loadScenario } = require('./helpers/recorded-peer')
const { sleep } = require('./helpers/wait')
const { decode } = require('./helpers/msgpack')

const OPTS = { timeout: 10000 }
const SYNC_AT = 14 // ce u32 | 83 00 ce<u32 type> 01 cf<u64 sync>

// ---------------------------------------------------------------------------------------------
// hand-built MessagePack, with the integer width chosen by the caller

const bytes = (...b) => Buffer.from(b)
const fix = (n) => bytes(n)
const u8 = (n) => bytes(0xcc, n)
const u16 = (n) => { const b = Buffer.alloc(3); b[0] = 0xcd; b.writeUInt16BE(n, 1); return b }
const u32 = (n) => { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(n, 1); return b }
const u64 = (n) => { const b = Buffer.alloc(9); b[0] = 0xcf; b.writeBigUInt64BE(BigInt(n), 1); return b }
const bool = (v) => bytes(v ? 0xc3 : 0xc2)
const str = (s) => { const b = Buffer.from(s); return Buffer.concat([bytes(0xd9, b.length), b]) }
const bin = (b) => Buffer.concat([bytes(0xc4, b.length), b])
const arr = (...items) => Buffer.concat([bytes(0xdc, 0, items.length), ...items])
const map = (...pairs) => Buffer.concat([bytes(0xde, 0, pairs.length / 2), ...pairs])

/** 0xce + u32 size, then the header map and the body (if any). */
function packet(header, body) {
  const payload = body ? Buffer.concat([header, body]) : header
  return Buffer.concat([u32(payload.length), payload])
}

/** A header {0x00: type, 0x01: sync}, plus extra encoded pairs. */
const header = (type, sync, ...extra) => map(fix(0x00), fix(type), fix(0x01), sync, ...extra)

// ---------------------------------------------------------------------------------------------
// the transcripts

const packets = (name) => loadScenario(name).frames.filter((f) => f.hex && !f.greeting)

/** A recorded request (the first satisfying `pick`) and the hex of its replies. */
function recorded(name, pick) {
  const all = packets(name)
  const i = all.findIndex((f) => f.dir === 'c2s' && pick(f))
  assert.ok(i >= 0, `${name}: no such recorded request`)
  const req = all[i]
  const replies = []
  for (const f of all.slice(i + 1)) {
    if (f.dir !== 's2c' || f.conn !== req.conn || f.what === 'EVENT') continue
    if (JSON.stringify(f.header['0x1']) !== JSON.stringify(req.header['0x1'])) continue
    replies.push(f.hex)
    if (f.what !== 'CHUNK') break
  }
  assert.ok(replies.length > 0, `${name}: the request has no recorded reply`)
  return { req, replies }
}

const bySync = (conn, sync) => (f) => f.conn === conn && f.header['0x1'] === sync

/** A recorded reply's hex with its 8 SYNC bytes set to `sync`. */
function withSync(hex, sync) {
  const b = Buffer.from(hex, 'hex')
  b.writeBigUInt64BE(BigInt(sync), SYNC_AT)
  return b.toString('hex')
}

const greetingHex = (name) => loadScenario(name).frames.find((f) => f.greeting).hex

// ---------------------------------------------------------------------------------------------
// a raw client

let peer
const clients = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy()
  if (peer) await peer.close()
  peer = undefined
})

async function start(scenarios) {
  peer = await startRecordedPeer({ scenarios, user: 'u', password: 'p' })
  return peer
}

/** A socket to the peer; `greeting` is the first 128 bytes, `read(n)` the next n packets. */
async function client() {
  const c = await rawClient(peer.port, peer.host)
  clients.push(c)
  return c
}

function scramble(greeting, password) {
  const salt = Buffer.from(greeting.subarray(64).toString().trim(), 'base64').subarray(0, 20)
  const sha1 = (b) => crypto.createHash('sha1').update(b).digest()
  const h1 = sha1(password)
  const h3 = sha1(Buffer.concat([salt, sha1(h1)]))
  return Buffer.from(h1.map((x, i) => x ^ h3[i]))
}

const auth = (sync, user, scr) =>
  packet(header(0x07, fix(sync)), map(fix(0x23), str(user), fix(0x21), arr(str('chap-sha1'), scr)))

// ---------------------------------------------------------------------------------------------

describe('scripted peer (3.3.0 transcripts)', () => {
  test('sends the recorded greeting of the first scenario on every connection', OPTS, async () => {
    await start(['07-pagination', '09-tuple-formats'])
    const a = await client()
    const b = await client()
    assert.equal(a.greeting.toString('hex'), greetingHex('07-pagination'))
    assert.equal(b.greeting.toString('hex'), greetingHex('07-pagination'))
    assert.equal(peer.connections, 2)
    assert.equal(peer.uri, `u:p@127.0.0.1:${peer.port}`)
  })

  test('answers ID with the recorded reply, echoing SYNC 0 and 2^40', OPTS, async () => {
    await start(['07-pagination'])
    const c = await client()
    const { req, replies } = recorded('01-greeting-id', (f) => f.what === 'ID')
    const body = map(fix(0x54), fix(req.body['0x54']), fix(0x55), arr(...req.body['0x55'].map(fix)))
    c.socket.write(packet(header(0x49, fix(0)), body))
    c.socket.write(packet(header(0x49, u64(2 ** 40)), body))
    const [r0, r1] = await c.read(2)
    assert.equal(r0, withSync(replies[0], 0))
    assert.equal(r1, withSync(replies[0], 2 ** 40))
    assert.equal(Buffer.from(r1, 'hex').readBigUInt64BE(SYNC_AT), 2n ** 40n)
    assert.deepEqual(peer.requests.map((r) => [r.conn, r.type, r.sync]), [[0, 0x49, 0], [0, 0x49, 2 ** 40]])
    assert.deepEqual(peer.requests[0].body, req.body)
    assert.deepEqual(peer.unmatched, [])
  })

  test('checks the AUTH scramble against the greeting it sent', OPTS, async () => {
    await start(['07-pagination'])
    const c = await client()
    const ok = recorded('02-auth', bySync('A', 1)).replies[0] // the correct AUTH
    const fail = recorded('02-auth', bySync('B', 1)).replies[0] // the wrong password
    assert.equal(Buffer.from(fail, 'hex').readUInt32BE(8), 0x8000 | 47)
    c.socket.write(auth(5, 'u', bin(scramble(c.greeting, 'p'))))
    c.socket.write(auth(6, 'u', bin(scramble(c.greeting, 'wrong'))))
    c.socket.write(auth(7, 'nobody', bin(scramble(c.greeting, 'p'))))
    // MP_STR scrambles are accepted too
    const s = scramble(c.greeting, 'p')
    c.socket.write(auth(8, 'u', Buffer.concat([bytes(0xd9, s.length), s])))
    assert.deepEqual(await c.read(4), [withSync(ok, 5), withSync(fail, 6), withSync(fail, 7), withSync(ok, 8)])
  })

  test('matches a SELECT whatever the integer widths and written defaults', OPTS, async () => {
    await start(['07-pagination'])
    const c = await client()
    const { req, replies } = recorded('07-pagination', bySync('A', 3))
    const b = req.body
    // wide integers, another key order, OFFSET 0 written out
    c.socket.write(packet(header(0x01, u64(1234)), map(
      fix(0x1f), bool(b['0x1f']), fix(0x20), arr(), fix(0x12), u64(b['0x12']), fix(0x13), u8(0),
      fix(0x14), u32(b['0x14']), fix(0x11), u16(b['0x11']), fix(0x10), u64(b['0x10']))))
    // INDEX_ID left out (0), SYNC as u16
    c.socket.write(packet(header(0x01, u16(300)), map(
      fix(0x10), u32(b['0x10']), fix(0x14), fix(b['0x14']), fix(0x12), fix(b['0x12']),
      fix(0x20), arr(), fix(0x1f), bool(b['0x1f']))))
    assert.deepEqual(await c.read(2), [withSync(replies[0], 1234), withSync(replies[0], 300)])
    assert.deepEqual(peer.unmatched, [])
  })

  test('tells MP_STR from MP_BIN', OPTS, async () => {
    await start(['07-pagination'])
    const c = await client()
    const asStr = recorded('07-pagination', bySync('A', 4)) // AFTER_POSITION as MP_STR: a page
    const asBin = recorded('07-pagination', bySync('A', 8)) // AFTER_POSITION as MP_BIN: error 20
    const pos = asStr.req.body['0x2e']
    assert.equal(Buffer.from(pos).toString('hex'), asBin.req.body['0x2e'].bin)
    const body = (after, fetch) => map(fix(0x10), u16(514), fix(0x11), fix(0), fix(0x14), fix(2),
      fix(0x12), fix(3), fix(0x20), arr(), fix(0x2e), after, ...(fetch ? [fix(0x1f), bool(true)] : []))
    c.socket.write(packet(header(0x01, fix(1)), body(str(pos), true)))
    c.socket.write(packet(header(0x01, fix(2)), body(bin(Buffer.from(pos)), false)))
    assert.deepEqual(await c.read(2), [withSync(asStr.replies[0], 1), withSync(asBin.replies[0], 2)])
    // the same two bodies with the other type: neither was recorded
    c.socket.write(packet(header(0x01, fix(3)), body(bin(Buffer.from(pos)), true)))
    c.socket.write(packet(header(0x01, fix(4)), body(str(pos), false)))
    for (const hex of await c.read(2)) assert.equal(Buffer.from(hex, 'hex').readUInt32BE(8), 0x8000)
    assert.deepEqual(peer.unmatched.map((r) => r.sync), [3, 4])
  })

  test('matches STREAM_ID by value, and only with STREAM_ID', OPTS, async () => {
    await start(['04-streams-transactions'])
    const c = await client()
    const s1 = recorded('04-streams-transactions', bySync('A', 5)) // stream 1 sees its own write
    const s2 = recorded('04-streams-transactions', bySync('A', 6)) // stream 2 does not
    const none = recorded('04-streams-transactions', bySync('A', 7)) // nor does no stream
    assert.deepEqual(s1.req.body, none.req.body)
    const body = map(fix(0x10), u16(513), fix(0x11), fix(0), fix(0x14), fix(0), fix(0x12), fix(100), fix(0x20), arr(fix(10)))
    c.socket.write(packet(header(0x01, fix(1)), body))
    c.socket.write(packet(header(0x01, fix(2), fix(0x0a), u32(2)), body))
    c.socket.write(packet(header(0x01, fix(3), fix(0x0a), fix(1)), body))
    assert.deepEqual(await c.read(3), [withSync(none.replies[0], 1), withSync(s2.replies[0], 2), withSync(s1.replies[0], 3)])
    assert.deepEqual(peer.requests[2].header, { '0x0': 1, '0x1': 3, '0xa': 1 })
  })

  test('a recorded SCHEMA_VERSION must be sent to match', OPTS, async () => {
    await start(['13-schema-version'])
    const c = await client()
    const stale = recorded('13-schema-version', (f) => f.what === 'PING' && f.header['0x5'] !== undefined)
    const plain = recorded('13-schema-version', (f) => f.what === 'PING' && f.header['0x5'] === undefined)
    const type = (hex) => Buffer.from(hex, 'hex').readUInt32BE(8)
    assert.notEqual(type(stale.replies[0]), type(plain.replies[0]))
    // the recorded stale 0x05 gets its WRONG_SCHEMA_VERSION reply, though PINGs without 0x05
    // were recorded earlier
    c.socket.write(packet(header(0x40, fix(9), fix(0x05), u64(stale.req.header['0x5']))))
    assert.deepEqual(await c.read(1), [withSync(stale.replies[0], 9)])
    // more PINGs without 0x05 than were recorded: none gets that reply
    for (let i = 0; i < 6; i++) c.socket.write(packet(header(0x40, fix(i))))
    for (const [i, hex] of (await c.read(6)).entries()) assert.equal(type(hex), type(plain.replies[0]), `PING ${i}`)
  })

  test('sends the recorded CHUNKs before the final reply', OPTS, async () => {
    await start(['11-session-push'])
    const c = await client()
    const { req, replies } = recorded('11-session-push', bySync('A', 3))
    assert.ok(replies.length > 1)
    c.socket.write(packet(header(0x0a, u32(77)), map(fix(0x22), str(req.body['0x22']), fix(0x21), arr(...req.body['0x21'].map(fix)))))
    assert.deepEqual(await c.read(replies.length), replies.map((h) => withSync(h, 77)))
  })

  test('answers two requests in one write and one split byte by byte', OPTS, async () => {
    await start(['07-pagination'])
    const c = await client()
    const first = recorded('07-pagination', bySync('A', 3))
    const second = recorded('07-pagination', bySync('A', 4))
    // the recorded requests' own bytes, with new SYNCs
    const resync = (f, sync) => {
      const b = Buffer.from(f.req.hex, 'hex')
      assert.equal(b[9], f.req.header['0x1'], 'a fixint SYNC at byte 9')
      b[9] = sync
      return b
    }
    c.socket.write(Buffer.concat([resync(first, 40), resync(second, 41)]))
    assert.deepEqual(await c.read(2), [withSync(first.replies[0], 40), withSync(second.replies[0], 41)])
    const split = resync(second, 42)
    for (const byte of split) {
      c.socket.write(bytes(byte))
      await sleep(1)
    }
    assert.deepEqual(await c.read(1), [withSync(second.replies[0], 42)])
    assert.equal(peer.requests.length, 3)
  })

  test('answers an unrecorded request with an error naming it', OPTS, async () => {
    await start(['07-pagination'])
    const c = await client()
    c.socket.write(packet(header(0x0a, u64(2 ** 33)), map(fix(0x22), str('not_recorded'), fix(0x21), arr(fix(1)))))
    const [hex] = await c.read(1)
    const reply = Buffer.from(hex, 'hex')
    // the recorded response layout: the same bytes around type and sync as a recorded error
    const recordedError = Buffer.from(recorded('07-pagination', bySync('A', 8)).replies[0], 'hex')
    assert.equal(reply.subarray(5, 8).toString('hex'), recordedError.subarray(5, 8).toString('hex'))
    assert.equal(reply.subarray(12, 14).toString('hex'), recordedError.subarray(12, 14).toString('hex'))
    assert.equal(reply.subarray(22, 32).toString('hex'), recordedError.subarray(22, 32).toString('hex'))
    assert.equal(reply.readUInt32BE(8), 0x8000)
    assert.equal(reply.readBigUInt64BE(SYNC_AT), 2n ** 33n)
    const message = decode(reply.subarray(32))[0x31]
    assert.match(message, /^recorded peer: no recorded reply for 10 /)
    assert.match(message, /"not_recorded"/)
    assert.deepEqual(peer.unmatched, [{
      conn: 0, type: 0x0a, sync: 2 ** 33,
      header: { '0x0': 0x0a, '0x1': 2 ** 33 }, body: { '0x22': 'not_recorded', '0x21': [1] },
    }])
  })
})
