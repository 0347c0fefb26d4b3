'use strict'

// What bench/run.js and bench/ab.js measure with: rates of calls and of pushes.

const now = () => Number(process.hrtime.bigint()) / 1e9

/** `window` requests in flight: a new one is issued as soon as the oldest completes. */
async function windows(issue, total, window) {
  const ring = new Array(Math.min(window, total))
  const t = now()
  for (let i = 0; i < total; i++) {
    const slot = i % ring.length
    if (ring[slot] !== undefined) await ring[slot]
    ring[slot] = issue()
  }
  await Promise.all(ring)
  return total / (now() - t)
}

async function sequential(issue, n) {
  const t = now()
  for (let i = 0; i < n; i++) await issue()
  return n / (now() - t)
}

async function bestOf(n, measure) {
  let top = 0
  for (let i = 0; i < n; i++) top = Math.max(top, await measure())
  return top
}

/** Pushes per second of a `for await` over `iterable`. */
async function countPushes(iterable) {
  let n = 0
  const t = now()
  for await (const _ of iterable) n++
  return n / (now() - t)
}

/** Pushes per second of `call('pushes', [n])` taken with onPush. */
async function onPushRate(conn, n) {
  let count = 0
  const t = now()
  await conn.call('pushes', [n], { onPush: () => { count++ } })
  return count / (now() - t)
}

/** {FUNCTION_NAME: 'pushes', TUPLE: [n]}, for the raw transport and the raw socket. */
function pushesBody(n) {
  const body = Buffer.from([0x82, 0x22, 0xa6, ...Buffer.from('pushes'), 0x21, 0x91, 0xce, 0, 0, 0, 0])
  body.writeUInt32BE(n, body.length - 4)
  return body
}

module.exports = { now, windows, sequential, bestOf, countPushes, onPushRate, pushesBody }
