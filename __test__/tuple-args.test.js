'use strict'

// Tuples as call and eval arguments (call_arg_tuple_extension, 3.0+): a BoxTuple goes as MP_TUPLE
// with its format, so the function receives a box.tuple whose fields have names; where the
// server lacks the feature, or the session does not use it, it goes as a plain array.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { connect, BoxTuple } = require('..')
const { startTarantool, atLeast } = require('./helpers/tarantool')

const TIMEOUT = { timeout: 60000 }
// Whether the function got a box.tuple, a field by name, and the fields by position.
const INSPECT = 'local t = ... return box.tuple.is(t), t.name, t[1], t[2]'

describe('BoxTuple arguments', TIMEOUT, () => {
  let server
  let uri
  before(async () => {
    server = await startTarantool()
    uri = `tester:secret@127.0.0.1:${server.port}`
  }, TIMEOUT)
  after(() => server?.stop(), TIMEOUT)

  test('the function receives a box.tuple with field names on 3.0+, the values elsewhere', async () => {
    const conn = await connect(uri)
    try {
      const hasFeature = conn.protocol.features.includes('call_arg_tuple_extension')
      assert.equal(hasFeature, atLeast(3, 0))
      const user = BoxTuple.fromObject({ id: 1, name: 'Ann' })
      const got = await conn.eval(INSPECT, [user])
      assert.deepEqual(got, hasFeature ? [true, 'Ann', 1, 'Ann'] : [false, null, 1, 'Ann'])
      // call too; several tuples, formats shared or not, nested in other values
      const other = new BoxTuple([7, 'x'], ['n', { name: 'label', type: 'string' }])
      const [a, b, c] = await conn.eval('local a, b, c = ... return {box.tuple.is(a), a.name}, {box.tuple.is(b), b.label}, {box.tuple.is(c[1]), c[1].name}', [user, other, [BoxTuple.fromObject({ id: 2, name: 'Bob' })]])
      if (hasFeature) assert.deepEqual([a, b, c], [[true, 'Ann'], [true, 'x'], [true, 'Bob']])
      else assert.deepEqual([a, b, c], [[false], [false], [false]]) // a Lua table drops its trailing nil
      const echoed = await conn.call('echo', [user])
      assert.deepEqual(echoed, [[1, 'Ann']])
    } finally {
      conn.destroy()
    }
  })

  test('a session that does not use the feature sends plain arrays', async () => {
    const conn = await connect(uri, { features: ['error_extension'] })
    try {
      assert.deepEqual(await conn.eval(INSPECT, [BoxTuple.fromObject({ id: 1, name: 'Ann' })]), [false, null, 1, 'Ann'])
    } finally {
      conn.destroy()
    }
  })

  test('bad Tuples are TypeErrors', () => {
    assert.throws(() => new BoxTuple('x', ['a']), TypeError)
    assert.throws(() => new BoxTuple([1], 'a'), TypeError)
    assert.throws(() => new BoxTuple([1], [5]), TypeError)
    assert.throws(() => new BoxTuple([1], [{ name: 'a', type: 5 }]), TypeError)
    assert.throws(() => BoxTuple.fromObject(null), TypeError)
  })
})
