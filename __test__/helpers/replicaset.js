'use strict'

// A real Tarantool replica set on loopback for the pool tests: one writable master and
// read-only replicas, all replicating from each other (Tarantool's own replication, full mesh).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { TarantoolServer, freePorts } = require('./tarantool')

const REPLICA_LUA = path.join(__dirname, '..', 'replica.lua')
// Joining waits for the master's users, which it creates only after its own bootstrap.
const MEMBER_START_TIMEOUT_MS = 60000

class ReplicaMember extends TarantoolServer {
  constructor({ port, dir, role, peers, name, election = false, cfg = null }) {
    super({ port, dir, script: REPLICA_LUA, name })
    this.role = role
    this.peers = peers
    this.election = election
    this.cfg = cfg
    this.startTimeout = MEMBER_START_TIMEOUT_MS
  }

  get args() {
    return [this.role, this.peers.join(','), this.election ? 'election' : 'static', ...(this.cfg === null ? [] : [JSON.stringify(this.cfg)])]
  }

  get uri() {
    return `${this.host}:${this.port}`
  }
}

const OTHERS_OUTPUT = 2000 // characters of each other member's output in a start error

/**
 * Starts a master and `replicas` read-only replicas, all at once, each configured with every
 * member's URI; resolves when each is ready, to { master, replicas, members, stop }. With
 * `election: true` (RAFT, 2.10+) every member becomes a candidate once the set is up, and the
 * set elects its leader itself: `master` is then only the member that bootstrapped it. If one
 * member fails, the others are stopped at once, and the error names that member and shows its
 * output, then the end of the others' (a bootstrap involves them all). `cfg`: more box.cfg
 * options for every member's first box.cfg (those that cannot change later, such as
 * memtx_use_mvcc_engine), as an object of JSON values.
 */
async function startReplicaSet({ replicas = 2, election = false, cfg = null } = {}) {
  const ports = await freePorts(replicas + 1)
  const peers = ports.map((port) => `replicator:secret@127.0.0.1:${port}`)
  const members = ports.map((port, i) => new ReplicaMember({
    port,
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-rs-')),
    role: i === 0 ? 'rw' : 'ro',
    peers,
    election,
    cfg,
    name: i === 0 ? 'replica set master' : `replica set replica ${i}`,
  }))
  const starting = members.map((m) => m.start().catch((err) => {
    err.member = m
    throw err
  }))
  const stop = () => Promise.all(members.map((m) => m.stop()))
  try {
    await Promise.all(starting)
  } catch (err) {
    await stop()
    await Promise.allSettled(starting)
    const others = members.filter((m) => m !== err.member)
      .map((m) => `--- the end of ${m.name}'s output (${m.uri}, stopped) ---\n${m.output.slice(-OTHERS_OUTPUT)}`)
    throw new Error([err.message, ...others].join('\n'))
  }
  const [master, ...reps] = members
  return { master, replicas: reps, members, stop }
}

module.exports = { startReplicaSet }
