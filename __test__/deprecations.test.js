'use strict'

// Public names renamed by issue 25 keep working under their old names until the next major
// (CHANGELOG.md, "Deprecated"): the connect option maxWriteQueue (now maxWriteQueueBytes) and
// the Connection event 'connect' (now 'reconnect').

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect } = require('..')
const { startTarantool } = require('./helpers/tarantool')
const { startProxy } = require('./helpers/proxy')
const { withTimeout, rejection } = require('./helpers/wait')

const TIMEOUT = { timeout: 60000 }

describe('deprecated names', TIMEOUT, () => {
  let server
  before(async () => {
    server = await startTarantool()
  }, TIMEOUT)
  after(() => server?.stop(), TIMEOUT)

  const uri = () => `tester:secret@127.0.0.1:${server.port}`

  // A body bigger than the queue allows is refused at once, so the bound is observable.
  async function refusesBigCall(conn) {
    const err = await rejection(conn.call('echo', ['x'.repeat(4096)]))
    assert.equal(err.code, 'ERR_WRITE_QUEUE_FULL')
    assert.match(err.message, /maxWriteQueueBytes 1024/)
  }

  test('maxWriteQueueBytes bounds the write queue; maxWriteQueue still does, with one DeprecationWarning', async () => {
    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const current = await connect(uri(), { maxWriteQueueBytes: 1024 })
      await refusesBigCall(current)
      await current.close()
      assert.deepEqual(warnings, [], 'the new name warns of nothing')

      const old = await connect(uri(), { maxWriteQueue: 1024 })
      await refusesBigCall(old)
      await old.close()
      const again = await connect(uri(), { maxWriteQueue: 1024 })
      await again.close()
      // 'warning' is emitted on a later tick.
      await new Promise((resolve) => setImmediate(resolve))
      const deprecations = warnings.filter((w) => w.code === 'KHARON_DEP0001')
      assert.equal(deprecations.length, 1, 'one warning per process')
      assert.equal(deprecations[0].name, 'DeprecationWarning')
      assert.match(deprecations[0].message, /maxWriteQueueBytes/)
    } finally {
      process.off('warning', onWarning)
    }
    await assert.rejects(connect(uri(), { maxWriteQueueBytes: 10 }), RangeError)
  })

  test("after a reconnect 'reconnect' fires, then 'connect' under its old name", async () => {
    const proxy = await startProxy(() => server.port)
    const conn = await connect(`tester:secret@127.0.0.1:${proxy.port}`, { reconnect: { initialDelay: 10 } })
    try {
      const events = []
      for (const name of ['reconnect', 'connect']) conn.on(name, () => events.push(name))
      const back = new Promise((resolve) => conn.once('connect', resolve))
      proxy.dropAll()
      await withTimeout(back, 10000, "'connect' after the drop")
      assert.deepEqual(events, ['reconnect', 'connect'])
      assert.deepEqual(await conn.call('echo', [1]), [1])
    } finally {
      conn.destroy()
      proxy.close()
    }
  })
})
