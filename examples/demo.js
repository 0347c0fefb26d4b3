'use strict'

// `npm run demo`: starts a throwaway Tarantool running examples/tour.lua (the README tour's
// server), then shows a request with a callback, one with a promise, and a `for await` over
// server pushes: on the raw Transport, then on the client. Stops the server at the end.

const { startTarantool } = require('./throwaway')
const { Transport, IPROTO, connect, encode, decode } = require('..')

/** A CALL body: a Map, so that the IPROTO keys stay integers. */
const callBody = (name, args) => encode(new Map([[IPROTO.FUNCTION_NAME, name], [IPROTO.TUPLE, args]]))

async function main() {
  const server = await startTarantool()
  console.log(`Tarantool listening on ${server.host}:${server.port} (work dir ${server.dir})`)
  try {
    const t = await Transport.connect({ host: server.host, port: server.port, user: 'app', password: 'secret' })
    console.log(`connected to Tarantool ${t.serverVersion}`)

    await new Promise((resolve, reject) => {
      t.request(IPROTO.PING, '', (err, body) => {
        if (err) return reject(err)
        console.log('ping with a callback: body', body, '=', decode(body))
        resolve()
      })
    })

    const greeted = await t.request(IPROTO.CALL, callBody('greet', ['Ann']))
    console.log("call('greet', ['Ann']) with a promise:", decode(greeted)[IPROTO.DATA])

    const res = t.request(IPROTO.CALL, callBody('count_to', [5]))
    for await (const chunk of res) console.log('  push:', decode(chunk)[IPROTO.DATA][0])
    console.log('count_to(5) final result:', decode(await res)[IPROTO.DATA])

    await t.close()

    const conn = await connect(`app:secret@${server.host}:${server.port}`, { tuples: 'objects' })
    await conn.replace('users', { id: 1, name: 'Ann' })
    console.log('client: select from users →', await conn.select('users', 'pk', [1]))
    const call = conn.call('count_to', [3])
    for await (const n of call) console.log('  client push:', n)
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
