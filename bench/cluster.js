'use strict'

// A real sharded cluster (two replica sets and a router, from the test harness): crud's get and
// insert through the router, by kharon and by net.box calling the same crud functions; and one
// call by key through the router (vshard.router.callrw) against the same call routed by kharon
// straight to the storage. Sequential and pipelined. Needs the vshard and crud modules
// (TARANTOOL_MODULES, see README "Sharded clusters"); without them it says why and measures
// nothing.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const kharon = require('..')
const { startCluster, clusterSkipReason } = require('../__test__/helpers/cluster')
const { TARANTOOL } = require('../__test__/helpers/tarantool')
const { windows, sequential } = require('./measure')

const SEQUENTIAL = 5000
const PIPELINED = 50000
const WINDOW = 100

/** Runs the cluster's figures `repeats` times; `record(who, name, value)`. Returns why it skipped, or null. */
async function benchCluster(repeats, record) {
  const skip = clusterSkipReason()
  if (skip) return skip
  const cluster = await startCluster({ routers: 1 })
  try {
    const conn = await kharon.connect(cluster.routers[0].uri)
    const c = kharon.crud(conn)
    await c.replace('customers', [1, null, 'one', 1])
    let id = 1000
    const cases = {
      get: () => c.get('customers', 1),
      insert: () => c.insert('customers', [++id, null, 'bench', 30]),
    }
    for (let r = 0; r < repeats; r++) {
      for (const [name, issue] of Object.entries(cases)) {
        record('kharon', `crud_${name}_sequential`, await sequential(issue, SEQUENTIAL))
        record('kharon', `crud_${name}_pipelined_${WINDOW}`, await windows(issue, PIPELINED, WINDOW))
      }
    }
    for (const [name, values] of Object.entries(await netbox(cluster.routers[0].uri, repeats))) {
      for (const value of values) record('net.box', name, value)
    }
    // The same call by key: through the router, and routed by kharon to the storage.
    const sharded = await kharon.connectSharded({ router: cluster.routers[0].uri }, { user: 'tester', password: 'secret' })
    let key = 0
    const bucket = () => sharded.bucketId(++key % 10000)
    const paths = {
      router: () => { const b = bucket(); return conn.call('vshard.router.callrw', [b, 'where_is', [b]]) },
      direct: () => { const b = bucket(); return sharded.callRW(b, 'where_is', [b]) },
    }
    for (let r = 0; r < repeats; r++) {
      for (const [name, issue] of Object.entries(paths)) {
        record('kharon', `callrw_${name}_sequential`, await sequential(issue, SEQUENTIAL))
        record('kharon', `callrw_${name}_pipelined_${WINDOW}`, await windows(issue, PIPELINED, WINDOW))
      }
    }
    await sharded.close()
    await conn.close()
  } finally {
    await cluster.stop()
  }
  return null
}

function netbox(uri, repeats) {
  const bin = process.env.TARANTOOL_NETBOX || TARANTOOL
  return new Promise((resolve, reject) => {
    const args = [path.join(__dirname, 'netbox-crud.lua'), uri, String(repeats), String(SEQUENTIAL), String(PIPELINED), String(WINDOW)]
    const proc = spawn(bin, args, { cwd: fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-netbox-crud-')) })
    let text = ''
    proc.stdout.on('data', (d) => { text += d })
    proc.stderr.on('data', (d) => { text += d })
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`net.box crud bench failed: ${text}`))
      const out = {}
      for (const line of text.split('\n')) {
        const [name, value] = line.split('\t')
        if (value !== undefined) (out[name] ||= []).push(Number(value))
      }
      resolve(out)
    })
  })
}

module.exports = { benchCluster }
