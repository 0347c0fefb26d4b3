'use strict'

// A TCP proxy for fault tests: forwards each connection to `target()` (read at connect, so a
// test can point new connections elsewhere), records each connection's first bytes from the
// client, can hold what the server sends (a request then stays pending), and drops every
// connection on demand.

const net = require('node:net')

async function startProxy(target) {
  const sockets = new Set()
  const held = []
  const proxy = {
    port: 0,
    /** The first chunk each client sent, in connection order. */
    firstBytes: [],
    holding: false,
    /** Holds back what servers send from now on (requests then stay pending). */
    hold() {
      proxy.holding = true
    },
    /** Forwards what was held, and everything after it. */
    release() {
      proxy.holding = false
      for (const flush of held.splice(0)) flush()
    },
    dropAll() {
      for (const s of sockets) s.destroy()
      held.length = 0
    },
    close() {
      proxy.dropAll()
      return new Promise((resolve) => srv.close(resolve))
    },
  }
  const srv = net.createServer((client) => {
    const upstream = net.connect(target())
    sockets.add(client).add(upstream)
    client.once('data', (d) => proxy.firstBytes.push(d))
    client.pipe(upstream)
    upstream.on('data', (d) => {
      if (proxy.holding) held.push(() => client.write(d))
      else client.write(d)
    })
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  proxy.port = srv.address().port
  return proxy
}

module.exports = { startProxy }
