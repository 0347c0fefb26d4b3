'use strict'

// Before/after: `node bench/ab.js DIR_A DIR_B [case,...]` measures two kharon trees (say, a
// `git worktree` of the previous commit and this one) against one throwaway Tarantool. Both are
// loaded in this one process, each with its own connection, and measured in alternating turns
// (ABBA) many times, so that the machine's slow and fast phases (seconds long on a shared VM)
// fall on both alike. Prints the median of each case per tree and B/A. With AB_CPU=1 it
// compares the process's CPU time per operation instead, which a round trip's wait for the
// server does not blur.

const path = require('node:path')

const CASES = {
  // Best of 50 streams of 1,000 pushes, and one of 1,000,000.
  on_push_short: (k, conn) => best(50, () => onPush(conn, 1000)),
  on_push_long: (k, conn) => onPush(conn, 1000000),
  for_await_short: (k, conn) => best(50, () => forAwait(conn.call('pushes', [1000]))),
  for_await_long: (k, conn) => forAwait(conn.call('pushes', [1000000])),
  raw_for_await_short: (k, conn) => best(50, () => forAwait(conn.transport.request(k.IPROTO.CALL, pushesBody(1000)))),
  raw_for_await_long: (k, conn) => forAwait(conn.transport.request(k.IPROTO.CALL, pushesBody(1000000))),
  sequential: async (k, conn) => {
    const t = now()
    for (let i = 0; i < 10000; i++) await conn.call('echo', [1])
    return 10000 / (now() - t)
  },
  pipelined_1000: async (k, conn) => {
    const total = 200000
    const ring = new Array(1000)
    const t = now()
    for (let i = 0; i < total; i++) {
      const slot = i % ring.length
      if (ring[slot] !== undefined) await ring[slot]
      ring[slot] = conn.call('echo', [1])
    }
    await Promise.all(ring)
    return total / (now() - t)
  },
}

const now = () => Number(process.hrtime.bigint()) / 1e9

async function best(n, measure) {
  let top = 0
  for (let i = 0; i < n; i++) top = Math.max(top, await measure())
  return top
}

async function onPush(conn, n) {
  let count = 0
  const t = now()
  await conn.call('pushes', [n], { onPush: () => { count++ } })
  return count / (now() - t)
}

async function forAwait(response) {
  let count = 0
  const t = now()
  for await (const _ of response) count++
  return count / (now() - t)
}

// {FUNCTION_NAME: 'pushes', TUPLE: [n]}
function pushesBody(n) {
  const body = Buffer.from([0x82, 0x22, 0xa6, ...Buffer.from('pushes'), 0x21, 0x91, 0xce, 0, 0, 0, 0])
  body.writeUInt32BE(n, body.length - 4)
  return body
}

async function main() {
  const [dirA, dirB, list] = process.argv.slice(2)
  if (dirB === undefined) throw new Error('usage: node bench/ab.js DIR_A DIR_B [case,...]')
  const names = list === undefined ? Object.keys(CASES) : list.split(',')
  const rounds = Number(process.env.AB_ROUNDS || 10)
  const { startTarantool } = require('../__test__/helpers/tarantool')
  const trees = { A: require(path.resolve(dirA)), B: require(path.resolve(dirB)) }
  const samples = {}
  // A server per case: a long series of million-push streams ran 2.6 out of Lua memory.
  for (const name of names) {
    const server = await startTarantool({ script: path.join(__dirname, 'server.lua') })
    const conns = {}
    try {
      for (const side of ['A', 'B']) {
        conns[side] = await trees[side].connect(`127.0.0.1:${server.port}`)
        await CASES[name](trees[side], conns[side]) // warm-up
      }
      for (let r = 0; r < rounds; r++) {
        for (const side of r % 2 ? ['B', 'A'] : ['A', 'B']) {
          const cpu = process.cpuUsage()
          const t = now()
          const rate = await CASES[name](trees[side], conns[side]).catch((err) => {
            throw new Error(`${name} on ${side}: ${err.message}`, { cause: err })
          })
          const { user, system } = process.cpuUsage(cpu)
          // Operations per CPU second: the rate's operations over the CPU time they took.
          const value = process.env.AB_CPU ? (rate * (now() - t)) / ((user + system) / 1e6) : rate
          ;((samples[name] ||= { A: [], B: [] })[side]).push(value)
        }
      }
    } finally {
      for (const conn of Object.values(conns)) await conn.close()
      await server.stop()
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const unit = process.env.AB_CPU ? 'per CPU s' : '/s'
  console.log(`| case | A ${unit} | B ${unit} | A ns | B ns | B/A |\n|---|---:|---:|---:|---:|---:|`)
  for (const [name, { A, B }] of Object.entries(samples)) {
    const a = median(A)
    const b = median(B)
    const fmt = (v) => Math.round(v).toLocaleString('en-US')
    console.log(`| ${name} | ${fmt(a)} | ${fmt(b)} | ${(1e9 / a).toFixed(0)} | ${(1e9 / b).toFixed(0)} | ${(b / a).toFixed(2)} |`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
