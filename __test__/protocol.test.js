'use strict'

// Protocol negotiation and what it unlocks, against the real server the harness starts
// (TARANTOOL, default `tarantool`): every assertion branches on what that server is, so the
// file holds on 2.6 (the fallbacks) and on 2.10+ / 3.x (the features). More of what 3.x does is
// in features-3x.test.js.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')

const { connect, connectPool, UnsupportedError, TarantoolError } = require('..')
const { startTarantool, atLeast, serverVersion, seqScan, sqlName } = require('./helpers/tarantool')
const { startRecordedPeer } = require('./helpers/recorded-peer')
const { startProxy } = require('./helpers/proxy')
const { next, rejection, withTimeout } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }
let server
let uri

before(async () => {
  server = await startTarantool()
  uri = `tester:secret@127.0.0.1:${server.port}`
}, TIMEOUT)

after(async () => {
  if (server) await server.stop()
}, TIMEOUT)

/** The request type of the first frame in `bytes` (0xce + u32 size, header map {0x00: type}). */
function firstRequestType(bytes) {
  assert.equal(bytes[0], 0xce)
  assert.equal(bytes[6], 0x00, 'REQUEST_TYPE comes first in the header')
  return bytes[7] === 0xcc ? bytes[8] : bytes[7]
}

describe('negotiation', TIMEOUT, () => {
  test('conn.protocol: the server\'s IPROTO version and features, or none before 2.10', async () => {
    const conn = await connect(uri)
    try {
      assert.equal(conn.protocol, conn.transport.protocol)
      if (atLeast(2, 10)) {
        assert.ok(conn.protocol.version >= 1, `version ${conn.protocol.version}`)
        for (const f of ['streams', 'transactions', 'error_extension', 'watchers']) assert.ok(conn.protocol.features.includes(f), f)
        assert.equal(conn.protocol.features.includes('pagination'), atLeast(2, 11))
      } else {
        assert.deepEqual(conn.protocol, { version: 0, features: [], authType: null })
      }
    } finally {
      conn.destroy()
    }
  })

  test('IPROTO_ID is the first request to 2.10+, and never sent to older servers', async () => {
    const p = await startProxy(() => ({ host: '127.0.0.1', port: server.port }))
    try {
      const conn = await connect(`tester:secret@127.0.0.1:${p.port}`)
      conn.destroy()
      assert.equal(firstRequestType(p.firstBytes[0]), atLeast(2, 10) ? 73 : 7)
    } finally {
      await p.close()
    }
  })

  test('required: refused with ERR_UNSUPPORTED naming what is missing and the server', async () => {
    const needWatchers = connect(uri, { required: { features: ['watchers'] } })
    if (atLeast(2, 10)) (await needWatchers).destroy()
    else {
      const err = await rejection(needWatchers)
      assert.ok(err instanceof UnsupportedError)
      assert.equal(err.code, 'ERR_UNSUPPORTED')
      assert.equal(err.feature, 'watchers')
      assert.equal(err.serverVersion, serverVersion().release)
      assert.match(err.message, /lacks .*the features watchers/)
    }
    const tooNew = await rejection(connect(uri, { required: { version: 1000 } }))
    assert.ok(tooNew instanceof UnsupportedError)
    assert.match(tooNew.message, /IPROTO version 1000/)
    await assert.rejects(connect(uri, { required: { features: ['warp_drive'] } }), TypeError)
  })

  test('after a reconnect the protocol is negotiated again (here: a 3.3 server, then this one)', async () => {
    const recorded = await startRecordedPeer({ user: 'tester', password: 'secret' })
    let upstream = { host: recorded.host, port: recorded.port }
    const p = await startProxy(() => upstream)
    const conn = await connect(`tester:secret@127.0.0.1:${p.port}`, { fetchSchema: false, reconnect: { initialDelay: 10, maxDelay: 50 } })
    try {
      assert.equal(conn.protocol.version, 10)
      const direct = await connect(uri)
      const expected = direct.protocol
      direct.destroy()
      upstream = { host: '127.0.0.1', port: server.port }
      const reconnected = next(conn, 'connect')
      p.dropAll()
      await withTimeout(reconnected, 10000, 'reconnect')
      assert.deepEqual(conn.protocol, expected)
      assert.equal(firstRequestType(p.firstBytes.at(-1)), atLeast(2, 10) ? 73 : 7)
      assert.deepEqual(await conn.call('echo', [1]), [1])
    } finally {
      conn.destroy()
      await p.close()
      await recorded.close()
    }
  })
})

// A scripted peer (not a real server) that greets as 2.10 and answers the ID request with
// `reply(sync)`, AUTH with `auth(sync)` when given, and everything else with an empty OK.
async function idPeer(reply, auth) {
  const frame = (status, sync, body) => {
    const head = Buffer.from([0x83, 0x00, 0xce, 0, 0, 0, 0, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x01])
    head.writeUInt32BE(status, 3)
    head.writeBigUInt64BE(BigInt(sync), 9)
    const size = Buffer.alloc(5)
    size[0] = 0xce
    size.writeUInt32BE(head.length + body.length, 1)
    return Buffer.concat([size, head, body])
  }
  const line = (text) => text.padEnd(63) + '\n'
  const greeting = line('Tarantool 2.10.0 (Binary) 3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2') + line(Buffer.alloc(32, 7).toString('base64'))
  const srv = net.createServer((sock) => {
    sock.on('error', () => {})
    sock.write(greeting)
    let inbound = Buffer.alloc(0)
    sock.on('data', (d) => {
      inbound = Buffer.concat([inbound, d])
      while (inbound.length >= 5 && inbound.length >= 5 + inbound.readUInt32BE(1)) {
        // header {0x00: type, 0x01: sync}, both small enough here for a fixint or 0xce + u32
        const type = inbound[7]
        const sync = inbound[9] === 0xce ? inbound.readUInt32BE(10) : inbound[9]
        if (type === 73) sock.write(reply(sync, frame))
        else if (type === 7 && auth !== undefined) sock.write(auth(sync, frame))
        else sock.write(frame(0, sync, Buffer.from([0x80])))
        inbound = inbound.subarray(5 + inbound.readUInt32BE(1))
      }
    })
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return { port: srv.address().port, close: () => new Promise((resolve) => srv.close(resolve)) }
}

describe('odd answers to IPROTO_ID (a scripted peer)', TIMEOUT, () => {
  test('an ID refused with an error: spoken to as a server without ID', async () => {
    const errorBody = Buffer.concat([Buffer.from([0x81, 0x31, 0xb4]), Buffer.from('Unknown request type')])
    const peer = await idPeer((sync, frame) => frame(0x8000 | 48, sync, errorBody))
    try {
      const conn = await connect(`127.0.0.1:${peer.port}`, { fetchSchema: false })
      assert.deepEqual(conn.protocol, { version: 0, features: [], authType: null })
      await conn.ping()
      conn.destroy()
    } finally {
      await peer.close()
    }
  })

  test('an ID reply of the wrong shape fails the connect with ProtocolError', async () => {
    // {FEATURES: 5}: not an array
    const peer = await idPeer((sync, frame) => frame(0, sync, Buffer.from([0x81, 0x55, 0x05])))
    try {
      const err = await rejection(connect(`127.0.0.1:${peer.port}`, { fetchSchema: false }))
      assert.equal(err.name, 'ProtocolError')
      assert.match(err.message, /IPROTO_ID/)
    } finally {
      await peer.close()
    }
  })

  test('unknown feature ids are kept by number', async () => {
    // {VERSION: 99, FEATURES: [2, 40]}
    const peer = await idPeer((sync, frame) => frame(0, sync, Buffer.from([0x82, 0x54, 0x63, 0x55, 0x92, 0x02, 0x28])))
    try {
      const conn = await connect(`127.0.0.1:${peer.port}`, { fetchSchema: false })
      assert.deepEqual(conn.protocol, { version: 99, features: ['error_extension', 'feature_40'], authType: null })
      conn.destroy()
    } finally {
      await peer.close()
    }
  })
})

describe('the authentication method (IPROTO_AUTH_TYPE), from a scripted peer', TIMEOUT, () => {
  // {VERSION: 10, FEATURES: [2], AUTH_TYPE: method}
  const idReply = (method) => (sync, frame) => frame(0, sync, Buffer.concat([
    Buffer.from([0x83, 0x54, 0x0a, 0x55, 0x91, 0x02, 0x5b, 0xa0 | method.length]), Buffer.from(method),
  ]))
  // Error 47 (ER_PASSWORD_MISMATCH), as a server that stores another method's hash would answer.
  const refused = (sync, frame) => frame(0x8000 | 47, sync, Buffer.concat([Buffer.from([0x81, 0x31, 0xa9]), Buffer.from('bad creds')]))

  test('a server that expects pap-sha256 and refuses chap-sha1: ERR_UNSUPPORTED naming it, not a wrong password', async () => {
    const peer = await idPeer(idReply('pap-sha256'), refused)
    try {
      const err = await rejection(connect(`tester:secret@127.0.0.1:${peer.port}`, { fetchSchema: false }))
      assert.ok(err instanceof UnsupportedError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ERR_UNSUPPORTED')
      assert.equal(err.feature, 'pap-sha256')
      assert.equal(err.serverVersion, '2.10.0')
      assert.match(err.message, /expects pap-sha256 authentication/)
      assert.ok(!err.message.includes('secret'))
    } finally {
      await peer.close()
    }
  })

  test('chap-sha1 expected: a refused AUTH is the server\'s error; the method shows in conn.protocol', async () => {
    const peer = await idPeer(idReply('chap-sha1'), refused)
    try {
      const err = await rejection(connect(`tester:secret@127.0.0.1:${peer.port}`, { fetchSchema: false }))
      assert.ok(err instanceof TarantoolError)
      assert.equal(err.code, 'ER_PASSWORD_MISMATCH')
    } finally {
      await peer.close()
    }
    const accepting = await idPeer(idReply('chap-sha1'))
    try {
      const conn = await connect(`tester:secret@127.0.0.1:${accepting.port}`, { fetchSchema: false })
      assert.deepEqual(conn.protocol, { version: 10, features: ['error_extension'], authType: 'chap-sha1' })
      conn.destroy()
    } finally {
      await accepting.close()
    }
  })

  test('the authType option: chap-sha1 is taken; pap-sha256 is ERR_UNSUPPORTED; anything else a TypeError', async () => {
    const conn = await connect(uri, { authType: 'chap-sha1' })
    conn.destroy()
    const pap = await rejection(connect(uri, { authType: 'pap-sha256' }))
    assert.ok(pap instanceof UnsupportedError)
    assert.equal(pap.feature, 'pap-sha256')
    await assert.rejects(connect(uri, { authType: 'md5' }), TypeError)
  })
})

describe('what the server is, on this server', TIMEOUT, () => {
  test('conn.serverVersion and protocol.authType (2.11+ tells it; older servers do not)', async () => {
    const conn = await connect(uri)
    try {
      assert.equal(conn.serverVersion, serverVersion().release)
      assert.equal(conn.serverVersion, conn.transport.serverVersion)
      if (atLeast(2, 11)) assert.equal(conn.protocol.authType, 'chap-sha1')
      else assert.equal(conn.protocol.authType, null)
    } finally {
      conn.destroy()
    }
  })

  test('a pool instance shows its server version', async () => {
    const pool = await connectPool([uri])
    try {
      assert.equal(pool.instances()[0].serverVersion, serverVersion().release)
    } finally {
      await pool.close()
    }
  })

  test('required: a feature name kharon does not know is named in the TypeError', async () => {
    const err = await rejection(connect(uri, { required: { features: ['pagination', 'no_such_feature'] } }))
    assert.ok(err instanceof TypeError)
    assert.match(err.message, /'no_such_feature'/)
  })

  test('SQL metadata: name and type; with sql_full_metadata, collation, nullability, autoincrement and span', async () => {
    const conn = await connect(uri)
    try {
      const table = 'META_T'
      await conn.execute(`DROP TABLE IF EXISTS ${table}`)
      await conn.execute(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY AUTOINCREMENT, name STRING COLLATE "unicode_ci", note STRING)`)
      await conn.execute(`INSERT INTO ${table} (name, note) VALUES ('a', NULL)`)
      const plain = await conn.execute(`SELECT id, name FROM ${seqScan(table)}`)
      assert.deepEqual(plain.metadata, [{ name: sqlName('id'), type: 'integer' }, { name: sqlName('name'), type: 'string' }])
      await conn.execute("SET SESSION \"sql_full_metadata\" = true")
      const full = await conn.execute(`SELECT id, name, note, id + 1 AS next FROM ${seqScan(table)}`)
      const [id, name, note, next] = full.metadata
      assert.equal(id.isAutoincrement, true)
      assert.equal(id.isNullable, false)
      assert.equal(name.collation, 'unicode_ci')
      assert.equal(note.isNullable, true)
      assert.equal(next.span, 'id + 1')
      const stmt = await conn.prepare(`SELECT name FROM ${table} WHERE id = ?`)
      assert.equal(stmt.metadata[0].collation, 'unicode_ci')
      await stmt.unprepare()
      await conn.execute(`DROP TABLE ${table}`)
    } finally {
      conn.destroy()
    }
  })
})

describe('names, schema and pagination on this server', TIMEOUT, () => {
  test('fetchSchema: false reads no schema; ids work everywhere, names where the server takes them', async () => {
    const conn = await connect(uri, { fetchSchema: false })
    try {
      assert.equal(conn.schema.fetches, 0)
      assert.deepEqual(await conn.select(512, 0, [1]), [[1, 'hello', 42]])
      if (conn.protocol.features.includes('space_and_index_names')) {
        assert.deepEqual(await conn.select('test', 'pk', [1]), [[1, 'hello', 42]])
      } else {
        const err = await rejection(conn.select('test', 0, [1]))
        assert.ok(err instanceof UnsupportedError)
        assert.equal(err.feature, 'space_and_index_names')
        assert.match(err.message, /fetchSchema: false/)
        assert.match(err.message, new RegExp(conn.transport.serverVersion.replace(/\./g, '\\.')))
      }
      assert.equal(conn.schema.fetches, 0)
    } finally {
      conn.destroy()
    }
  })

  test('a space created after connect is usable by name at once', async () => {
    const conn = await connect(uri)
    try {
      const fetches = conn.schema.fetches
      const name = `late_${process.pid}`
      await conn.eval(`box.schema.space.create('${name}'):create_index('pk')`)
      assert.deepEqual(await conn.insert(name, [1, 'x']), [1, 'x'])
      assert.deepEqual(await conn.select(name, 'pk', [1]), [[1, 'x']])
      // A server that takes names needs no refetch for it; an older one refetches once.
      const names = conn.protocol.features.includes('space_and_index_names')
      assert.equal(conn.schema.fetches, names ? fetches : fetches + 1)
      await conn.eval(`box.space.${name}:drop()`)
    } finally {
      conn.destroy()
    }
  })

  test('pagination without the feature is refused, not silently the first page again', async (t) => {
    const conn = await connect(uri)
    try {
      if (conn.protocol.features.includes('pagination')) return t.skip('this server has pagination (see the next test)')
      for (const opts of [{ fetchPos: true }, { after: [1] }, { after: Buffer.from('kQM') }]) {
        const err = await rejection(conn.select('test', 0, [], opts))
        assert.ok(err instanceof UnsupportedError)
        assert.equal(err.feature, 'pagination')
      }
      assert.deepEqual(await conn.select('test', 0, [], { fetchPos: false }), [[1, 'hello', 42]])
    } finally {
      conn.destroy()
    }
  })

  test('paging through 10,000 tuples 1,000 at a time visits each once, in order', async (t) => {
    const conn = await connect(uri)
    try {
      if (!conn.protocol.features.includes('pagination')) return t.skip('needs pagination (2.11+)')
      const name = `pages_${process.pid}`
      await conn.eval(`local s = box.schema.space.create('${name}') s:create_index('pk')
        box.begin() for i = 1, 10000 do s:insert{i, 'v' .. i} end box.commit()`)
      const seen = []
      let after
      let pages = 0
      for (;;) {
        const page = await conn.select(name, 0, [], { iterator: 'GE', limit: 1000, after, fetchPos: true })
        if (page.tuples.length === 0) {
          assert.equal(page.position, null)
          break
        }
        pages++
        assert.ok(Buffer.isBuffer(page.position))
        for (const tuple of page.tuples) seen.push(tuple[0])
        after = page.position
      }
      assert.equal(pages, 10)
      assert.deepEqual(seen, Array.from({ length: 10000 }, (_, i) => i + 1))
      await conn.eval(`box.space.${name}:drop()`)
    } finally {
      conn.destroy()
    }
  })
})

describe('errors as values on this server', TIMEOUT, () => {
  test('an error with a cause, returned by a function, is a TarantoolError chain', async () => {
    const conn = await connect(uri)
    try {
      // Before 2.10 the session must ask for MP_ERROR; 2.10+ sends it to clients that negotiate
      // error_extension (and 3.x has no such setting).
      const setup = conn.protocol.features.includes('error_extension') ? '' : 'box.session.settings.error_marshaling_enabled = true '
      const [err] = await conn.eval(`${setup}local e = box.error.new({code = 33, reason = 'outer'})
        e:set_prev(box.error.new({code = 32, reason = 'inner'})) return e`)
      assert.ok(err instanceof TarantoolError)
      assert.equal(err.message, 'outer')
      assert.equal(err.errcode, 33)
      assert.equal(err.type, 'ClientError')
      assert.ok(err.cause instanceof TarantoolError)
      assert.equal(err.cause.message, 'inner')
      assert.equal(err.cause.errcode, 32)
    } finally {
      conn.destroy()
    }
  })

  test('error responses keep fields that hold tuples', async () => {
    const conn = await connect(uri)
    try {
      await conn.replace('test', [7, 'seven'])
      const err = await rejection(conn.insert('test', [7, 'again']))
      assert.equal(err.code, 'ER_TUPLE_FOUND')
      if (err.fields !== undefined) assert.deepEqual(err.fields.new_tuple, [7, 'again'])
      await conn.delete('test', 0, [7])
    } finally {
      conn.destroy()
    }
  })
})
