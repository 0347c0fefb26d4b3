'use strict'

// `npm run demo`: starts a throwaway Tarantool on a free port, shows a request with a callback,
// one with a promise, and a `for await` over server pushes, then stops the server.

const { startTarantool } = require('../__test__/helpers/tarantool')
const { callBody, data } = require('../__test__/helpers/msgpack')
const { Transport, IPROTO, connect } = require('..')

async function main() {
  const server = await startTarantool()
  console.log(`Tarantool listening on ${server.host}:${server.port} (work dir ${server.dir})`)
  try {
    const t = await Transport.connect(server.port, server.host)
    console.log(`connected to Tarantool ${t.serverVersion}`)

    await new Promise((resolve, reject) => {
      t.request(IPROTO.PING, '', (err, body) => {
        if (err) return reject(err)
        console.log('ping with a callback: body', body)
        resolve()
      })
    })

    const echoed = await t.request(IPROTO.CALL, callBody('echo', ['hello', 42]))
    console.log("call('echo', ['hello', 42]) with a promise:", data(echoed))

    const res = t.request(IPROTO.CALL, callBody('pushes', [5]))
    for await (const chunk of res) console.log('  push:', data(chunk)[0])
    console.log("pushes(5) final result:", data(await res))

    await t.close()

    const conn = await connect(`${server.host}:${server.port}`)
    console.log('client: select from test →', await conn.select('test', 'pk', [1]))
    const call = conn.call('pushes', [3])
    for await (const msg of call) console.log('  client push:', msg)
    console.log('client: result', await call)
    await conn.close()
  } finally {
    await server.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
