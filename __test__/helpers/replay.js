'use strict'

// kharon connected to the scripted peer that replays recorded Tarantool 3.3.0 frames
// (recorded-peer.js, not a real server), for node:test files: a peer and a connection per test,
// torn down after it, and a request the server was never recorded answering fails the test.

const assert = require('node:assert/strict')
const { afterEach } = require('node:test')

const { connect } = require('../..')
const { startRecordedPeer } = require('./recorded-peer')

const HANDSHAKE = new Set([7, 73])
const WATCHING = new Set([74, 75])

/**
 * Registers the teardown; returns the session: `await session.replay(scenarios, conns, options)`
 * connects (fetchSchema: false: the peer cannot answer _vspace reads, and a 3.x client needs
 * none) and sets `session.peer` and `session.conn`; `session.onEnd(fn)` adds a teardown step.
 */
function replaySessions({ timeout = 20000 } = {}) {
  const ends = []
  const session = {
    peer: null,
    conn: null,
    async replay(scenarios, conns, options = {}) {
      session.peer = await startRecordedPeer({ scenarios, conns })
      session.conn = await connect(session.peer.uri, { fetchSchema: false, reconnect: false, ...options })
      return session.conn
    },
    onEnd(fn) {
      ends.push(fn)
    },
    /**
     * The requests the test made: all the peer got but the handshake (ID, AUTH) and the
     * connection's own subscription to box.shutdown (WATCH, UNWATCH).
     */
    sent() {
      return session.peer.requests.filter((r) => !HANDSHAKE.has(r.type) && !(WATCHING.has(r.type) && r.body?.['0x57'] === 'box.shutdown'))
    },
  }
  afterEach(async () => {
    if (session.conn !== null) session.conn.destroy()
    session.conn = null
    for (const end of ends.splice(0)) await end()
    const { peer } = session
    session.peer = null
    if (peer !== null) {
      await peer.close()
      assert.deepEqual(peer.unmatched, [], 'kharon sent requests the server was never recorded answering')
    }
  }, { timeout })
  return session
}

module.exports = { replaySessions }
