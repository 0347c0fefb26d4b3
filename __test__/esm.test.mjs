// The ES module entry point: named and default imports of index.mjs work against a server.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

import kharon, { Transport, IPROTO, ConnectionError, TarantoolError } from '../index.mjs'
import tarantool from './helpers/tarantool.js'
import msgpack from './helpers/msgpack.js'

const require = createRequire(import.meta.url)
const TIMEOUT = { timeout: 60000 } // for each test and hook: nothing here may hang the run
let server

before(async () => {
  server = await tarantool.startTarantool()
}, TIMEOUT)

after(tarantool.stopAll, TIMEOUT)

test('named imports: Transport.connect and a ping', TIMEOUT, async () => {
  assert.equal(typeof Transport, 'function')
  assert.equal(IPROTO.PING, 64)
  const t = await Transport.connect(server.port, '127.0.0.1')
  try {
    const body = await t.request(IPROTO.PING, '')
    assert.ok(Buffer.isBuffer(body))
    if (body.length > 0) assert.deepEqual(msgpack.decode(body), {})
    const echoed = await t.request(IPROTO.CALL, msgpack.callBody('echo', ['esm']))
    assert.deepEqual(msgpack.data(echoed), ['esm'])
    await assert.rejects(t.request(IPROTO.CALL, msgpack.callBody('no_such_function')), TarantoolError)
  } finally {
    await t.close()
  }
})

test('default import: the same API object as require()', TIMEOUT, async () => {
  assert.equal(typeof kharon, 'object')
  const cjs = require('../index.js')
  assert.equal(kharon, cjs)
  assert.equal(kharon.Transport, Transport)
  assert.equal(kharon.IPROTO, IPROTO)
  assert.equal(kharon.ConnectionError, ConnectionError)
  const t = await kharon.Transport.connect({ host: '127.0.0.1', port: server.port })
  try {
    const body = await t.request(kharon.IPROTO.PING, '')
    assert.ok(Buffer.isBuffer(body))
  } finally {
    await t.close()
  }
  const err = await t.request(kharon.IPROTO.PING, '').then(() => null, (e) => e)
  assert.ok(err instanceof kharon.ConnectionError)
  assert.equal(err.code, 'ERR_CONNECTION_CLOSED')
})

test('every named export is the matching property of the default export', TIMEOUT, async () => {
  const ns = await import('../index.mjs')
  const names = Object.keys(ns).filter((k) => k !== 'default')
  assert.ok(names.includes('Transport') && names.includes('IPROTO'))
  for (const name of names) assert.equal(ns[name], kharon[name], name)
  // and nothing the CommonJS entry exports is missing from the named exports
  const missing = Object.keys(kharon).filter((k) => !names.includes(k))
  assert.deepEqual(missing, [])
})
