'use strict'

// Server pushes as an async iterator. Run against a Tarantool that has the test functions:
//   tarantool __test__/server.lua 127.0.0.1:3301 /tmp/kharon && node examples/pushes.js 3301

const { callBody, data } = require('../__test__/helpers/msgpack')
const { Transport, IPROTO } = require('..')

async function main(port = 3301) {
  const t = await Transport.connect(Number(port), '127.0.0.1')

  // Every push, then the final result.
  const res = t.request(IPROTO.CALL, callBody('pushes', [3]))
  for await (const chunk of res) console.log('push', data(chunk)[0])
  console.log('result', data(await res))

  // A per-item timeout: the loop throws TimeoutError if the server goes quiet.
  try {
    for await (const chunk of t.request(IPROTO.CALL, callBody('push_slowly', [3, 0.5])).pushes({ timeout: 100 })) {
      console.log('slow push', data(chunk)[0])
    }
  } catch (err) {
    console.log(`${err.name} (${err.code}): ${err.message}`)
  }

  // An error after some pushes is thrown by the loop, never a silent end.
  try {
    for await (const chunk of t.request(IPROTO.CALL, callBody('push_then_error', [2]))) console.log('push', data(chunk)[0])
  } catch (err) {
    console.log(`${err.name} (${err.code}): ${err.message}`)
  }

  await t.close()
}

main(process.argv[2]).catch((err) => {
  console.error(err)
  process.exitCode = 1
})
