'use strict'

// Server pushes (box.session.push) as async iterators. Runs against the server TARANTOOL_URI
// names, one running examples/tour.lua:
//
//   tarantool examples/tour.lua        # in an empty directory; then, elsewhere:
//   TARANTOOL_URI=app:secret@localhost:3301 node examples/pushes.js
//
// or, without TARANTOOL_URI, against a throwaway server of its own (./throwaway.js).

const { startTarantool } = require('./throwaway')
const { connect, IPROTO, encode, decode } = require('..')

async function main() {
  const server = process.env.TARANTOOL_URI ? null : await startTarantool()
  const uri = server ? `app:secret@${server.host}:${server.port}` : process.env.TARANTOOL_URI
  const conn = await connect(uri)
  try {
    // Every push, then the final result.
    const call = conn.call('count_to', [3])
    for await (const n of call) console.log('push', n)
    console.log('result', await call)

    // A per-item timeout: the loop throws TimeoutError if the server goes quiet for 100 ms.
    try {
      for await (const n of conn.call('count_to', [3, 0.5]).pushes({ timeout: 100 })) console.log('slow push', n)
    } catch (err) {
      console.log(`${err.name} (${err.code}): ${err.message}`)
    }

    // An error after some pushes is thrown by the loop, never a silent end.
    try {
      const lua = "for i = 1, ... do box.session.push(i) end error('failed after pushes')"
      for await (const n of conn.eval(lua, [2])) console.log('push', n)
    } catch (err) {
      console.log(`${err.name} (${err.code}): ${err.message}`)
    }

    // The callback form, as in net.box: onPush gets each push and onPushCtx.
    const seen = []
    await conn.call('count_to', [3], { onPush: (n, ctx) => ctx.push(n), onPushCtx: seen })
    console.log('onPush saw', seen)

    // On the raw Transport (here the connection's own) bodies are MessagePack: built with
    // encode() from a Map, whose integer keys stay integers, and read with decode().
    const t = conn.transport
    const body = encode(new Map([[IPROTO.FUNCTION_NAME, 'count_to'], [IPROTO.TUPLE, [2]]]))
    const res = t.request(IPROTO.CALL, body)
    for await (const chunk of res) console.log('raw push body', chunk, '=', decode(chunk))
    console.log('raw result', decode(await res))
  } finally {
    await conn.close()
    await server?.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
