'use strict'

// Finds a dead peer: a PING after `interval` ms of silence, and the connection declared dead
// when no byte comes within `timeout` ms of it (see HEARTBEAT_DEFAULTS in connect-options.js).

const { ConnectionError } = require('./errors')
const { debug } = require('./debug')

class Heartbeat {
  #options
  #link
  #timer = null
  #pingSentAt = 0
  /** performance.now() of the last read; the transport sets it while the heartbeat runs. */
  lastRead = 0

  /**
   * `link`: what the heartbeat asks of its transport: busy() (requests or holds pending),
   * unreadBytes() (bytes wait in the socket while reading is paused), ping(), dead(err), and
   * `where` (' at host:port', for the message).
   */
  constructor(options, link) {
    this.#options = options
    this.#link = link
  }

  get running() {
    return this.#timer !== null
  }

  start() {
    if (this.#timer !== null) return
    // Silence is counted from now: the connection had no reason to hear anything before.
    this.lastRead = performance.now()
    this.#pingSentAt = 0
    this.#schedule(this.#options.interval)
  }

  stop() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
  }

  #schedule(ms) {
    this.#timer = setTimeout(this.#onBeat, ms)
    // Pending requests keep Node alive, not the heartbeat.
    this.#timer.unref()
  }

  #onBeat = () => {
    this.#timer = null
    const { interval, timeout, idle } = this.#options
    if (!idle && !this.#link.busy()) return
    const now = performance.now()
    // Reading is held back for a slow push consumer: bytes the server sent meanwhile wait in
    // the socket, and they prove it alive as well as bytes read would.
    if (this.#link.unreadBytes()) this.lastRead = now
    if (this.#pingSentAt !== 0 && this.lastRead < this.#pingSentAt) {
      if (now - this.#pingSentAt >= timeout) return this.#silent(now)
      return this.#schedule(this.#pingSentAt + timeout - now)
    }
    if (this.#pingSentAt !== 0 && debug.enabled) debug('heartbeat: the server is alive (bytes came %d ms after PING)', Math.round(this.lastRead - this.#pingSentAt))
    this.#pingSentAt = 0
    const quiet = now - this.lastRead
    if (quiet < interval) return this.#schedule(interval - quiet)
    if (debug.enabled) debug('heartbeat: PING after %d ms of silence', Math.round(quiet))
    this.#link.ping()
    this.#pingSentAt = now
    this.#schedule(timeout)
  }

  // No byte came, not even the answer to a PING: the server is frozen or out of reach.
  #silent(now) {
    const err = new ConnectionError(
      `the server${this.#link.where} sent nothing for ${Math.round(now - this.lastRead)} ms, not even an answer to PING within ${this.#options.timeout} ms`,
      'ETIMEDOUT',
    )
    if (debug.enabled) debug('heartbeat: the server is dead: %s', err.message)
    this.#link.dead(err)
  }
}

module.exports = { Heartbeat }
