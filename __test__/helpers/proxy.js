'use strict'

// A fault-injecting TCP proxy: forwards each connection to `target()` (read at connect, so a
// test can point new connections elsewhere) and, on demand, holds what servers send (requests
// then stay pending), black-holes both ways, adds latency, resets a connection in the middle of
// a frame, half-closes it, or drops every connection. It records each connection's first bytes
// from the client.

const net = require('node:net')

async function startProxy(target) {
  const links = new Set()
  const held = []
  const proxy = {
    port: 0,
    /** The first chunk each client sent, in connection order. */
    firstBytes: [],
    /** Bytes clients sent, in all. */
    bytesFromClients: 0,
    holding: false,
    /** Milliseconds every chunk waits, both ways (order kept). */
    latency: 0,
    /** While true nothing is forwarded either way (and nothing is kept), sockets stay open. */
    blackhole: false,
    /** Holds back what servers send from now on (requests then stay pending). */
    hold() {
      proxy.holding = true
    },
    /** Forwards what was held, and everything after it. */
    release() {
      proxy.holding = false
      for (const flush of held.splice(0)) flush()
    },
    /** The next chunk a server sends reaches its client cut in half, then a TCP reset. */
    resetMidFrame() {
      for (const link of links) link.resetNext = true
    },
    /** Every client gets a FIN (its read side ends) while the server side stays open. */
    halfClose() {
      for (const link of links) link.client.end()
    },
    dropAll() {
      for (const link of links) link.drop()
      held.length = 0
    },
    close() {
      proxy.dropAll()
      return new Promise((resolve) => srv.close(resolve))
    },
  }

  // Forwards `chunk` to `to` after the proxy's latency, in order.
  function forward(link, to, chunk) {
    if (proxy.blackhole) return
    const send = () => {
      if (to.destroyed) return
      if (to === link.client && link.resetNext) {
        link.resetNext = false
        to.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)), () => to.resetAndDestroy())
        return
      }
      to.write(chunk)
    }
    if (proxy.latency === 0 && link.queue.length === 0) return send()
    link.queue.push(send)
    if (link.queue.length === 1) drain(link)
  }

  function drain(link) {
    setTimeout(() => {
      const send = link.queue.shift()
      if (send !== undefined) send()
      if (link.queue.length > 0) drain(link)
    }, proxy.latency)
  }

  const srv = net.createServer((client) => {
    const upstream = net.connect(target())
    const link = {
      client,
      upstream,
      queue: [],
      resetNext: false,
      drop() {
        client.destroy()
        upstream.destroy()
        links.delete(link)
      },
    }
    links.add(link)
    client.once('data', (d) => proxy.firstBytes.push(d))
    client.on('data', (d) => {
      proxy.bytesFromClients += d.length
      forward(link, upstream, d)
    })
    upstream.on('data', (d) => {
      if (proxy.holding) held.push(() => forward(link, client, d))
      else forward(link, client, d)
    })
    client.on('error', link.drop).on('close', link.drop)
    upstream.on('error', link.drop).on('close', link.drop)
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  proxy.port = srv.address().port
  return proxy
}

module.exports = { startProxy }
