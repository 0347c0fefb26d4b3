'use strict'

// Before/after: `node bench/ab.js DIR_A DIR_B [case,...]` measures two kharon trees (say, a
// `git worktree` of the previous commit and this one) against one throwaway Tarantool. Both are
// loaded in this one process, each with its own connection, and measured in alternating turns
// (ABBA) many times, so that the machine's slow and fast phases (seconds long on a shared VM)
// fall on both alike. Prints the median of each case per tree and B/A. With AB_CPU=1 it
// compares the process's CPU time per operation instead, which a round trip's wait for the
// server does not blur.

const path = require('node:path')

const { now, windows, sequential, bestOf, countPushes, onPushRate, pushesBody } = require('./measure')

const echo = (conn) => () => conn.call('echo', [1])

const CASES = {
  // Best of 50 streams of 1,000 pushes, and one of 1,000,000.
  on_push_short: (k, conn) => bestOf(50, () => onPushRate(conn, 1000)),
  on_push_long: (k, conn) => onPushRate(conn, 1000000),
  for_await_short: (k, conn) => bestOf(50, () => countPushes(conn.call('pushes', [1000]))),
  for_await_long: (k, conn) => countPushes(conn.call('pushes', [1000000])),
  raw_for_await_short: (k, conn) => bestOf(50, () => countPushes(conn.transport.request(k.IPROTO.CALL, pushesBody(1000)))),
  raw_for_await_long: (k, conn) => countPushes(conn.transport.request(k.IPROTO.CALL, pushesBody(1000000))),
  sequential: (k, conn) => sequential(echo(conn), 10000),
  pipelined_1000: (k, conn) => windows(echo(conn), 200000, 1000),
  // The space/index routing path (by name: the catalog resolves it) and the tuple decode.
  select_pipelined_1000: (k, conn) => windows(() => conn.select('bench', 'pk', [7]), 200000, 1000),
  replace_pipelined_1000: (k, conn) => windows(() => conn.replace('bench', [7, 'name-7', 14, 7 / 3, 'some text in field five']), 200000, 1000),
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
