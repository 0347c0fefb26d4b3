'use strict'

// A real Tarantool replica set on loopback for the pool tests: one master and read-only
// replicas that replicate from it (Tarantool's own replication).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { TarantoolServer, freePort } = require('./tarantool')

const REPLICA_LUA = path.join(__dirname, '..', 'replica.lua')

class ReplicaMember extends TarantoolServer {
  constructor({ port, dir, master, role }) {
    super({ port, dir, script: REPLICA_LUA })
    this.master = master
    this.role = role
  }

  get args() {
    return [this.master || 'none', this.role]
  }

  get uri() {
    return `${this.host}:${this.port}`
  }
}

/** Starts a master and `replicas` read-only replicas; returns { master, replicas, members, stop }. */
async function startReplicaSet({ replicas = 2 } = {}) {
  const mk = async (master, role) => new ReplicaMember({
    port: await freePort(),
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-rs-')),
    master,
    role,
  })
  const master = await mk(null, 'rw')
  await master.start()
  const masterUri = `replicator:secret@${master.host}:${master.port}`
  const reps = []
  for (let i = 0; i < replicas; i++) {
    const r = await mk(masterUri, 'ro')
    await r.start()
    reps.push(r)
  }
  const members = [master, ...reps]
  return {
    master,
    replicas: reps,
    members,
    async stop() {
      await Promise.all(members.map((m) => m.stop()))
    },
  }
}

module.exports = { startReplicaSet }
