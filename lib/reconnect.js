'use strict'

// Reconnecting a lost connection: exponential backoff with jitter, one attempt at a time, each
// announced (the Connection's 'reconnecting' event, the kharon:reconnect channel, the debug
// log). What a new transport means for requests and watchers is the Connection's business.

const { Transport } = require('./transport')
const { ConnectionError, throwLater } = require('./errors')
const { checkNumber, MILLISECONDS } = require('./args')
const { publishConnect, publishConnected, publishReconnect } = require('./tracing')
const { debug, addressOf } = require('./debug')

const RECONNECT_DEFAULTS = Object.freeze({ initialDelay: 100, maxDelay: 5000, maxRetries: Infinity })

/** The `reconnect` client option: { initialDelay, maxDelay, maxRetries }, or false. */
function reconnectOptions(v) {
  if (v === undefined || v === true) return RECONNECT_DEFAULTS
  if (v === false) return false
  if (v === null || typeof v !== 'object') throw new TypeError('reconnect must be an object or false')
  const out = { ...RECONNECT_DEFAULTS }
  if (v.initialDelay !== undefined) out.initialDelay = checkNumber(v.initialDelay, 'reconnect.initialDelay', MILLISECONDS)
  if (v.maxDelay !== undefined) out.maxDelay = checkNumber(v.maxDelay, 'reconnect.maxDelay', MILLISECONDS)
  if (v.maxRetries !== undefined) out.maxRetries = checkNumber(v.maxRetries, 'reconnect.maxRetries', { min: 0 })
  return Object.freeze(out)
}

class Reconnector {
  #options
  #connectOptions
  #hooks
  #attempt = 0
  #timer = null
  // Bumped by every start and stop: an attempt that ends after one is stale.
  #run = 0
  /** Why the connection is down: the loss, then the latest failed attempt. */
  lastError = null

  /**
   * `hooks`: scheduled({ attempt, delay, error }), connected(transport, attempt), gaveUp(err),
   * and keepsAlive(): whether waiting for the next attempt keeps Node alive.
   */
  constructor(options, connectOptions, hooks) {
    this.#options = options
    this.#connectOptions = connectOptions
    this.#hooks = hooks
  }

  /** The connection was lost with `err`: attempts begin. */
  start(err) {
    this.#run++
    this.#attempt = 0
    this.lastError = err
    this.#schedule()
  }

  /** No more attempts; one under way is dropped when it ends. */
  stop() {
    this.#run++
    if (this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
  }

  // An idle client must not keep Node alive while it waits to reconnect; a queued request or
  // an open Watcher must.
  refresh() {
    if (this.#timer === null) return
    if (this.#hooks.keepsAlive()) this.#timer.ref()
    else this.#timer.unref()
  }

  #schedule() {
    this.#attempt++
    const { initialDelay, maxDelay, maxRetries } = this.#options
    if (this.#attempt > maxRetries) {
      const last = this.lastError
      this.#hooks.gaveUp(new ConnectionError(`gave up reconnecting after ${maxRetries} attempts: ${last.message}`, last.code, { cause: last }))
      return
    }
    const base = Math.min(maxDelay, initialDelay * 2 ** (this.#attempt - 1))
    const delay = Math.round(base / 2 + (Math.random() * base) / 2)
    const info = { attempt: this.#attempt, delay, error: this.lastError }
    if (debug.enabled) debug('reconnect attempt %d to %s in %d ms', info.attempt, addressOf(this.#connectOptions), delay)
    const run = this.#run
    // A listener that throws when an attempt ends is an uncaught exception, not a rejection.
    this.#timer = setTimeout(() => this.#try(run).catch(throwLater), delay)
    this.refresh()
    // Announced once set: a subscriber or listener that closes the connection stops it, and
    // one that throws does not keep it from coming.
    publishReconnect(this.#connectOptions, info)
    if (run === this.#run) this.#hooks.scheduled(info)
  }

  async #try(run) {
    this.#timer = null
    let transport
    try {
      transport = await Transport.connect(this.#connectOptions)
    } catch (err) {
      publishConnect(this.#connectOptions, { attempt: this.#attempt, error: err })
      if (run !== this.#run) return
      this.lastError = err
      this.#schedule()
      return
    }
    if (run !== this.#run) {
      transport.close()
      return
    }
    const attempt = this.#attempt
    publishConnected(this.#connectOptions, transport, attempt)
    // A kharon:connect subscriber may have closed the connection.
    if (run !== this.#run) {
      transport.close()
      return
    }
    this.#run++
    this.#attempt = 0
    this.#hooks.connected(transport, attempt)
  }
}

module.exports = { Reconnector, reconnectOptions }
