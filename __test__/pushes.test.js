'use strict'

// Server pushes (box.session.push / IPROTO_CHUNK) through the raw Transport, against a real
// Tarantool: order, errors, per-item timeouts, discard on break, buffering before iteration,
// backpressure while iterating, onPush callbacks, and the event loop.

const { test, before, after, describe } = require('node:test')
const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const path = require('node:path')
const { promisify } = require('node:util')

const {
  Transport,
  IPROTO,
  TimeoutError,
  ConnectionError,
  TarantoolError,
  PushOverflowError,
  connect: connectClient,
} = require('..')
const { startTarantool, stopAll } = require('./helpers/tarantool')
const { sleep } = require('./helpers/wait')
const { callBody, evalBody, data } = require('./helpers/msgpack')

const execFileP = promisify(execFile)
const FIXTURES = path.join(__dirname, 'fixtures')
const pushed = (chunk) => data(chunk)[0]
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const TIMEOUT = { timeout: 120000 } // for each suite and hook: nothing here may hang the run

let server
let victim // a separate server for the destructive (SIGKILL) test

before(async () => {
  ;[server, victim] = await Promise.all([startTarantool(), startTarantool()])
}, TIMEOUT)

after(stopAll, TIMEOUT)

async function connect(options) {
  return Transport.connect({ port: server.port, host: '127.0.0.1', ...options })
}

/** Runs `fn(t)` on a fresh connection, closing it afterwards whatever happens. */
async function withConnection(fn, options) {
  const t = await connect(options)
  try {
    return await fn(t)
  } finally {
    await t.close()
  }
}

describe('order', TIMEOUT, () => {
  test('for-await yields 1..1000 in order and ends exactly when the final arrives', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [1000]))
    let finalSeen = false
    res.then(() => { finalSeen = true }, () => {})
    const got = []
    for await (const chunk of res) {
      assert.ok(Buffer.isBuffer(chunk), 'each push is a raw body Buffer')
      got.push(pushed(chunk))
    }
    // The loop must not end before the final response has arrived (it settles `res` first).
    assert.equal(finalSeen, true, 'the iterator ended before the final response arrived')
    assert.deepEqual(got, range(1, 1000))
    assert.deepEqual(data(await res), ['done'])
    assert.equal(t.pending, 0)
  }))

  test('the iterator ends right after the last push, with no extra items', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [3]))
    const it = res.pushes()
    const values = []
    for (let i = 0; i < 3; i++) {
      const r = await it.next()
      assert.equal(r.done, false)
      values.push(pushed(r.value))
    }
    assert.deepEqual(values, [1, 2, 3])
    assert.deepEqual(await it.next(), { value: undefined, done: true })
    assert.deepEqual(await it.next(), { value: undefined, done: true }, 'stays done')
    assert.deepEqual(data(await res), ['done'])
  }))

  test('a request without pushes: the iterator ends at once with the final', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('echo', ['x']))
    let n = 0
    for await (const chunk of res) n += chunk.length
    assert.equal(n, 0)
    assert.deepEqual(data(await res), ['x'])
  }))
})

describe('errors are never a silent end', TIMEOUT, () => {
  test('push_then_error: yields 1,2,3 then throws TarantoolError', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('push_then_error', [3]))
    const got = []
    await assert.rejects(
      (async () => {
        for await (const chunk of res) got.push(pushed(chunk))
      })(),
      (err) => {
        assert.ok(err instanceof TarantoolError, `expected TarantoolError, got ${err && err.name}`)
        assert.equal(err.name, 'TarantoolError')
        assert.match(err.message, /failed after pushes/)
        return true
      },
    )
    assert.deepEqual(got, [1, 2, 3])
    await assert.rejects(res, (err) => err instanceof TarantoolError && /failed after pushes/.test(err.message))
    // The connection is still usable.
    assert.deepEqual(data(await t.request(IPROTO.CALL, callBody('echo', [1]))), [1])
  }))

  test('SIGKILL of the server mid-stream: the iterator throws ConnectionError within 1 s', async () => {
    const t = await Transport.connect(victim.port, '127.0.0.1')
    try {
      const res = t.request(IPROTO.CALL, callBody('push_slowly', [1000, 0.01]))
      const got = []
      let killedAt = 0
      let killing = null
      let failure = null
      let failedAt = 0
      try {
        for await (const chunk of res) {
          got.push(pushed(chunk))
          if (got.length === 5 && killing === null) {
            killedAt = Date.now()
            killing = victim.kill('SIGKILL')
          }
        }
      } catch (err) {
        failure = err
        failedAt = Date.now()
      }
      await killing
      assert.ok(failure !== null, 'the iterator ended silently instead of throwing')
      assert.ok(failure instanceof ConnectionError, `expected ConnectionError, got ${failure.name}: ${failure.message}`)
      assert.equal(failure.name, 'ConnectionError')
      assert.equal(typeof failure.code, 'string')
      const delay = failedAt - killedAt
      assert.ok(delay < 1000, `the iterator threw ${delay} ms after the kill`)
      assert.ok(got.length >= 5 && got.length < 1000, `received ${got.length} pushes`)
      assert.deepEqual(got, range(1, got.length), 'pushes before the kill arrive in order')
      await assert.rejects(res, ConnectionError)
      assert.equal(t.pending, 0)
      assert.equal(t.closed, true)
    } finally {
      await t.close()
      await victim.start()
    }
    // The restarted server answers on the same port.
    const t2 = await Transport.connect(victim.port, '127.0.0.1')
    try {
      assert.deepEqual(data(await t2.request(IPROTO.CALL, callBody('echo', ['back']))), ['back'])
    } finally {
      await t2.close()
    }
  })

  test('close() during iteration: buffered pushes first, then ERR_CONNECTION_CLOSED', async () => {
    const t = await connect()
    const res = t.request(IPROTO.CALL, callBody('push_slowly', [1000, 0.01]))
    const it = res.pushes()
    const first = await it.next()
    assert.equal(pushed(first.value), 1)
    // Let some pushes queue up unconsumed, then close.
    await sleep(150)
    await t.close()
    const later = []
    let failure = null
    try {
      for (;;) {
        const r = await it.next()
        if (r.done) break
        later.push(pushed(r.value))
      }
    } catch (err) {
      failure = err
    }
    assert.ok(failure !== null, 'the iterator ended silently after close()')
    assert.ok(failure instanceof ConnectionError, `expected ConnectionError, got ${failure.name}`)
    assert.equal(failure.code, 'ERR_CONNECTION_CLOSED')
    assert.ok(later.length >= 1, 'the pushes received before close() were not yielded')
    assert.deepEqual(later, range(2, later.length + 1))
    await assert.rejects(res, (err) => err instanceof ConnectionError && err.code === 'ERR_CONNECTION_CLOSED')
    assert.equal(t.pending, 0)
    assert.equal(t.closed, true)
  })

  test('close() while the iterator is waiting for a push wakes it with ERR_CONNECTION_CLOSED', async () => {
    const t = await connect()
    const res = t.request(IPROTO.CALL, callBody('push_slowly', [3, 5]))
    const it = res.pushes()
    const waiting = it.next()
    await sleep(50)
    await t.close()
    await assert.rejects(waiting, (err) => err instanceof ConnectionError && err.code === 'ERR_CONNECTION_CLOSED')
    await assert.rejects(res, (err) => err instanceof ConnectionError && err.code === 'ERR_CONNECTION_CLOSED')
  })
})

describe('per-iteration timeout', TIMEOUT, () => {
  test('pushes({timeout}) throws TimeoutError and ends; the request goes on', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('push_slowly', [3, 0.5]))
    const it = res.pushes({ timeout: 100 })
    await assert.rejects(it.next(), (err) => {
      assert.ok(err instanceof TimeoutError, `expected TimeoutError, got ${err && err.name}`)
      assert.equal(err.name, 'TimeoutError')
      assert.equal(err.code, 'ETIMEDOUT')
      return true
    })
    assert.deepEqual(await it.next(), { value: undefined, done: true }, 'the iterator ends after its timeout')
    assert.deepEqual(data(await res), ['done'])
    assert.equal(t.pending, 0)
  }))

  test('the timeout bounds each wait, not the whole iteration', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('push_slowly', [3, 0.1]))
    const got = []
    for await (const chunk of res.pushes({ timeout: 2000 })) got.push(pushed(chunk))
    assert.deepEqual(got, [1, 2, 3])
    assert.deepEqual(data(await res), ['done'])
  }))

  test('pushes() validates its timeout (TypeError for a non-number, RangeError out of range)', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [2]))
    assert.throws(() => res.pushes({ timeout: 'soon' }), TypeError)
    assert.throws(() => res.pushes({ timeout: -1 }), RangeError)
    assert.throws(() => res.pushes({ timeout: NaN }), RangeError)
    // A rejected call does not use up the request's single iteration.
    const got = []
    for await (const chunk of res.pushes({ timeout: 5000 })) got.push(pushed(chunk))
    assert.deepEqual(got, [1, 2])
    assert.deepEqual(data(await res), ['done'])
  }))
})

describe('break discards', TIMEOUT, () => {
  test('break after 5 of pushes(100000): the connection goes on, res resolves, pending returns to 0', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [100000]))
    const got = []
    for await (const chunk of res) {
      got.push(pushed(chunk))
      if (got.length === 5) break
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5])
    const echo = await t.request(IPROTO.CALL, callBody('echo', ['after break']))
    assert.deepEqual(data(echo), ['after break'])
    assert.deepEqual(data(await res), ['done'])
    assert.equal(t.pending, 0)
    // Iterating again is refused: the pushes were discarded, not saved for later.
    assert.throws(() => res.pushes(), TypeError)
  }))

  test('break while reading is paused at the high-water mark resumes reading', () => withConnection(async (t) => {
    // A tiny mark: the queue goes over it at once and reading pauses; break must resume it.
    const res = t.request(IPROTO.CALL, callBody('pushes', [100000]), { highWaterMark: 64 })
    const it = res.pushes()
    const r = await it.next()
    assert.equal(pushed(r.value), 1)
    await sleep(50) // let pushes pile up past the mark
    await it.return()
    const echo = await t.request(IPROTO.CALL, callBody('echo', ['resumed']))
    assert.deepEqual(data(echo), ['resumed'])
    assert.deepEqual(data(await res), ['done'])
    assert.equal(t.pending, 0)
  }))
})

describe('awaited without iteration', TIMEOUT, () => {
  test('awaiting pushes(1000000) resolves without stalling and RSS stays bounded', () => withConnection(async (t) => {
    if (global.gc) global.gc()
    const before = process.memoryUsage().rss
    let maxRss = before
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage().rss)
    }, 50)
    try {
      const final = await t.request(IPROTO.CALL, callBody('pushes', [1000000]))
      assert.deepEqual(data(final), ['done'])
    } finally {
      clearInterval(sampler)
    }
    const afterRss = process.memoryUsage().rss
    maxRss = Math.max(maxRss, afterRss)
    const growth = (maxRss - before) / 1024 / 1024
    // 5.5 to 8 MB on 2.6 and 3.8 (the 1 MiB kept, the deliveries in flight); with every push
    // kept (Response#_keep ignoring highWaterMark) it grew by 57 to 62 MB.
    assert.ok(growth < 25, `RSS grew by ${growth.toFixed(1)} MB`)
    assert.equal(t.pending, 0)
    // The connection was not left paused.
    assert.deepEqual(data(await t.request(IPROTO.CALL, callBody('echo', [7]))), [7])
  }))

  test('pushes beyond a tiny highWaterMark before iteration: kept ones, then PushOverflowError', () => withConnection(async (t) => {
    const HWM = 100
    const res = t.request(IPROTO.CALL, callBody('pushes', [1000]), { highWaterMark: HWM })
    assert.deepEqual(data(await res), ['done'])
    const got = []
    let bytes = 0
    let lastLen = 0
    await assert.rejects(
      (async () => {
        for await (const chunk of res) {
          got.push(pushed(chunk))
          bytes += chunk.length
          lastLen = chunk.length
        }
      })(),
      (err) => {
        assert.ok(err instanceof PushOverflowError, `expected PushOverflowError, got ${err && err.name}`)
        assert.equal(err.name, 'PushOverflowError')
        assert.equal(err.code, 'ERR_PUSH_OVERFLOW')
        return true
      },
    )
    assert.ok(got.length >= 1, 'nothing was kept')
    assert.deepEqual(got, range(1, got.length), 'the kept pushes are the first ones, in order')
    assert.ok(bytes <= HWM, `kept ${bytes} bytes, over the mark`)
    // The next push ({0x30: [n+1]}) is no smaller than the last kept one, and it was dropped:
    // so it would have gone over the mark (nothing that fit was dropped).
    assert.ok(bytes + lastLen > HWM, `kept only ${bytes} bytes of ${HWM}`)
  }))

  test('an iterator started after a drop never yields pushes from beyond the gap', () => withConnection(async (t) => {
    // 1..20 at once (only the first few fit in 100 bytes; the rest are dropped), then, once
    // iteration has started, 21..25. The iterator must throw PushOverflowError right after the
    // kept pushes: yielding 21 after 12 would silently skip 13..20.
    const expr = "local fiber = require('fiber') " +
      'for i = 1, 20 do box.session.push(i) end fiber.sleep(0.5) ' +
      "for i = 21, 25 do box.session.push(i) end return 'done'"
    const res = t.request(IPROTO.EVAL, evalBody(expr), { highWaterMark: 100 })
    // Processed while the EVAL sleeps, so its response comes after pushes 1..20.
    assert.deepEqual(data(await t.request(IPROTO.CALL, callBody('echo', ['sync']))), ['sync'])
    const it = res.pushes()
    const got = [pushed((await it.next()).value)]
    await res // 21..25 arrive while the iterator is active but not being drained
    let failure = null
    try {
      for (;;) {
        const r = await it.next()
        if (r.done) break
        got.push(pushed(r.value))
      }
    } catch (err) {
      failure = err
    }
    assert.ok(failure instanceof PushOverflowError, `expected PushOverflowError, got ${failure && failure.name}`)
    assert.ok(got.length < 20, `kept ${got.length} pushes in 100 bytes`)
    assert.deepEqual(got, range(1, got.length), 'pushes after the dropped ones were yielded across the gap')
  }))

  test('highWaterMark 0 keeps nothing: iterating later throws PushOverflowError at once', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [10]), { highWaterMark: 0 })
    await res
    await assert.rejects(res.pushes().next(), PushOverflowError)
  }))

  test('with a big enough highWaterMark, iterating after the final yields every push then ends', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [1000]))
    assert.deepEqual(data(await res), ['done'])
    await sleep(10) // a later tick
    const got = []
    for await (const chunk of res) got.push(pushed(chunk))
    assert.deepEqual(got, range(1, 1000))
  }))

  test('pushHighWaterMark on connect is the default for its requests', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [1000]))
    await res
    await assert.rejects(
      (async () => {
        for await (const chunk of res) void chunk
      })(),
      PushOverflowError,
    )
    // A per-request override wins.
    const res2 = t.request(IPROTO.CALL, callBody('pushes', [1000]), { highWaterMark: 1 << 20 })
    await res2
    let n = 0
    for await (const chunk of res2) if (chunk.length > 0) n++
    assert.equal(n, 1000)
  }, { pushHighWaterMark: 100 }))
})

describe('congestion', TIMEOUT, () => {
  test('a slow consumer of 20,000 x 10 KB pushes gets them all with bounded RSS (child process)', async () => {
    const { stdout } = await execFileP(
      process.execPath,
      [path.join(FIXTURES, 'push-slow-consumer.js'), String(server.port)],
      { timeout: 45000, maxBuffer: 1 << 20 },
    )
    const report = JSON.parse(stdout.trim().split('\n').pop())
    assert.equal(report.error, undefined, report.error)
    assert.equal(report.count, 20000)
    assert.equal(report.badSize, 0, 'some pushes had the wrong size')
    assert.deepEqual(report.final, [20000])
    // The echo issued mid-stream waits behind the pushes (the documented trade-off), but completes.
    assert.deepEqual(report.echoResult, ['hello', 42])
    assert.ok(report.echoDoneAtCount >= 1000, `echo completed at count ${report.echoDoneAtCount}`)
    assert.equal(report.pendingAfter, 0)
    const growthMb = report.maxGrowth / 1024 / 1024
    assert.ok(growthMb < 80, `RSS grew by ${growthMb.toFixed(1)} MB while consuming`)
  })
})

describe('throughput smoke test', TIMEOUT, () => {
  test('pushes(100000) via for-await counts 100000, in order', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [100000]))
    let count = 0
    let outOfOrder = 0
    for await (const chunk of res) {
      count++
      if (pushed(chunk) !== count) outOfOrder++
    }
    assert.equal(count, 100000)
    assert.equal(outOfOrder, 0)
    assert.deepEqual(data(await res), ['done'])
  }))
})

describe('event loop', TIMEOUT, () => {
  test('a process iterating slow pushes stays alive until done, then exits by itself', async () => {
    const { stdout } = await execFileP(
      process.execPath,
      [path.join(FIXTURES, 'push-event-loop.js'), String(server.port)],
      { timeout: 15000, killSignal: 'SIGKILL' },
    )
    assert.deepEqual(stdout.trim().split('\n'), ['1', '2', '3', 'done'])
  })
})

describe('onPush', TIMEOUT, () => {
  test('callback mode: onPush gets 1..n with its ctx, in order, before the final callback', () => withConnection(async (t) => {
    const ctx = { name: 'ctx' }
    const events = []
    const final = await new Promise((resolve, reject) => {
      t.request(
        IPROTO.CALL,
        callBody('pushes', [100]),
        {
          onPush: (chunk, c) => {
            assert.equal(c, ctx)
            events.push(pushed(chunk))
          },
          onPushCtx: ctx,
        },
        (err, body) => {
          events.push('final')
          if (err) reject(err)
          else resolve(body)
        },
      )
    })
    assert.deepEqual(data(final), ['done'])
    assert.deepEqual(events, [...range(1, 100), 'final'])
  }))

  test('callback mode: pushes then an error reach onPush, then callback(err)', () => withConnection(async (t) => {
    const events = []
    const err = await new Promise((resolve) => {
      t.request(IPROTO.CALL, callBody('push_then_error', [3]), {
        onPush: (chunk) => events.push(pushed(chunk)),
      }, (e) => resolve(e))
    })
    assert.ok(err instanceof TarantoolError)
    assert.match(err.message, /failed after pushes/)
    assert.deepEqual(events, [1, 2, 3])
  }))

  test('promise mode: onPush gets every push with its ctx before the promise resolves', () => withConnection(async (t) => {
    const ctx = Symbol('ctx')
    const events = []
    const res = t.request(IPROTO.CALL, callBody('pushes', [100]), {
      onPush: (chunk, c) => {
        assert.equal(c, ctx)
        events.push(pushed(chunk))
      },
      onPushCtx: ctx,
    })
    const final = await res.then((body) => {
      events.push('final')
      return body
    })
    assert.deepEqual(data(final), ['done'])
    assert.deepEqual(events, [...range(1, 100), 'final'])
  }))
})

describe('pushes handed over in runs', TIMEOUT, () => {
  // Small deliveries come in memory reused by the next read (the landing, src/binding/delivery.rs).
  test('what is kept of small deliveries stays intact while later reads reuse their memory', () => withConnection(async (t) => {
    const buffered = t.request(IPROTO.CALL, callBody('pushes', [50]))
    const keptPushes = []
    const viaOnPush = t.request(IPROTO.CALL, callBody('pushes', [5]), { onPush: (chunk) => keptPushes.push(chunk) })
    const viaCallback = await new Promise((resolve, reject) => {
      t.request(IPROTO.CALL, callBody('echo', ['callback body']), (err, body) => (err ? reject(err) : resolve(body)))
    })
    const viaPromise = await t.request(IPROTO.CALL, callBody('echo', ['promise body']))
    assert.deepEqual(data(await buffered), ['done'])
    assert.deepEqual(data(await viaOnPush), ['done'])
    // Hundreds of reads over the same memory.
    for (let i = 0; i < 300; i++) assert.deepEqual(data(await t.request(IPROTO.CALL, callBody('echo', [`overwrite ${i}`]))), [`overwrite ${i}`])
    await Promise.all(Array.from({ length: 300 }, (_, i) => t.request(IPROTO.EVAL, evalBody('return ...', [i, 'x'.repeat(i)]))))
    assert.deepEqual(data(viaCallback), ['callback body'])
    assert.deepEqual(data(viaPromise), ['promise body'])
    assert.deepEqual(keptPushes.map(pushed), [1, 2, 3, 4, 5])
    const got = []
    for await (const chunk of buffered) got.push(pushed(chunk))
    assert.deepEqual(got, range(1, 50))
  }))

  test('raw pushes and the final body are Buffers of their own bytes, equal to Buffers made by hand', () => withConnection(async (t) => {
    const res = t.request(IPROTO.CALL, callBody('pushes', [3]))
    const chunks = []
    for await (const chunk of res) chunks.push(chunk)
    const final = await res
    for (const b of [...chunks, final]) {
      assert.ok(Buffer.isBuffer(b))
      assert.equal(Object.getPrototypeOf(b), Buffer.prototype)
    }
    // {DATA: [i]} as 2.x and 3.x write it: the array's length in 1 or 5 bytes.
    assert.deepEqual(chunks.map(pushed), [1, 2, 3])
    assert.deepStrictEqual(Buffer.from(chunks[0]), chunks[0])
    // Views over one delivery do not overlap.
    chunks[0][chunks[0].length - 1] = 0x7f
    assert.deepEqual(chunks.slice(1).map(pushed), [2, 3])
  }))

  test('an onPush that closes the connection gets nothing more of its run', async () => {
    const t = await connect()
    let calls = 0
    const res = t.request(IPROTO.CALL, callBody('pushes', [5000]), {
      onPush: () => {
        if (++calls === 10) t.close()
      },
    })
    await assert.rejects(res, (err) => err.code === 'ERR_CONNECTION_CLOSED')
    assert.equal(calls, 10)
  })

  test('a client Call whose onPush destroys the connection gets nothing more either', async () => {
    const conn = await connectClient({ port: server.port, host: '127.0.0.1' })
    let calls = 0
    const call = conn.call('pushes', [5000], {
      onPush: () => {
        if (++calls === 10) conn.destroy()
      },
    })
    await assert.rejects(call, (err) => err.code === 'ERR_CONNECTION_CLOSED')
    assert.equal(calls, 10)
  })
})
