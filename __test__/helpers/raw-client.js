'use strict'

// A plain socket to a peer, for tests of the peer itself: no kharon code between the test and
// the bytes.

const assert = require('node:assert/strict')
const net = require('node:net')
const { withTimeout } = require('./wait')

/**
 * Connects to `port` and reads the 128-byte greeting. The client has `socket`, `greeting`,
 * `buf` (bytes not read yet), `ended` (the peer sent FIN), `closed` (a promise), and
 * `read(n)`: the next n packets (ce + u32 framed) as hex.
 */
async function rawClient(port, host) {
  const socket = net.connect(port, host)
  socket.setNoDelay(true)
  const c = { socket, buf: Buffer.alloc(0), waiters: [], ended: false }
  c.closed = new Promise((resolve) => socket.once('close', resolve))
  socket.on('error', () => {})
  socket.on('end', () => { c.ended = true })
  socket.on('data', (d) => {
    c.buf = Buffer.concat([c.buf, d])
    for (const w of c.waiters.splice(0)) w()
  })
  const more = () => new Promise((resolve) => c.waiters.push(resolve))
  const take = async (n) => {
    while (c.buf.length < n) await more()
    const out = c.buf.subarray(0, n)
    c.buf = c.buf.subarray(n)
    return out
  }
  c.read = (n) => withTimeout((async () => {
    const out = []
    for (let i = 0; i < n; i++) {
      const head = await take(5)
      assert.equal(head[0], 0xce, 'the peer frames with ce + u32')
      out.push(Buffer.concat([head, await take(head.readUInt32BE(1))]).toString('hex'))
    }
    return out
  })(), 5000, `${n} packet(s) from the peer`)
  c.greeting = await withTimeout(take(128), 5000, 'the greeting')
  return c
}

module.exports = { rawClient }
