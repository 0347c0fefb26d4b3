'use strict'

// Counters behind conn.stats() and pool.stats(): plain numbers bumped in place, so counting
// allocates nothing per request.

const { TimeoutError } = require('./errors')

/** What a Connection counts over its whole life, across reconnects. */
class Counters {
  requests = 0
  errors = 0
  timeouts = 0
  reconnects = 0
  // Of transports already closed; the open one's are added when asked.
  pushes = 0
  // Packets that answered no request (see Transport's 'iproto').
  unsolicited = 0
  bytesSent = 0
  bytesReceived = 0

  /** A request failed: its error, whatever the cause (server, connection, deadline). */
  failed(err) {
    this.errors++
    if (err instanceof TimeoutError) this.timeouts++
  }

  /** Keeps a closed transport's traffic. */
  addTraffic(transport) {
    this.pushes += transport.pushCount
    this.unsolicited += transport.unsolicitedCount
    this.bytesSent += transport.bytesSent
    this.bytesReceived += transport.bytesReceived
  }
}

const SUMMED = ['pending', 'writableLength', 'requests', 'errors', 'timeouts', 'reconnects', 'pushes', 'unsolicited', 'bytesSent', 'bytesReceived']

function zeroStats() {
  const out = {}
  for (const key of SUMMED) out[key] = 0
  out.connectedSince = 0
  return out
}

/** Sums per-instance stats (connectedSince has no sum and is left out). */
function totalOf(list) {
  const total = {}
  for (const key of SUMMED) total[key] = 0
  for (const s of list) for (const key of SUMMED) total[key] += s[key]
  return total
}

module.exports = { Counters, zeroStats, totalOf }
