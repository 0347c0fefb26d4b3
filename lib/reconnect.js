'use strict'

// Reconnecting a lost connection: exponential backoff with jitter, one attempt at a time, each
// announced (the Connection's 'reconnecting' event, the kharon:reconnect channel, the debug
// log). What a new transport means for requests and watchers is the Connection's business.

const { Transport } = require('./transport')
const { ConnectionError, TarantoolError, throwLater, locate } = require('./errors')
const { checkNumber, checkFunction, MILLISECONDS } = require('./args')
const { publishConnect, publishConnected, publishReconnect } = require('./tracing')
const { debug, addressOf } = require('./debug')

const RECONNECT_DEFAULTS = Object.freeze({ initialDelay: 100, maxDelay: 5000, maxRetries: Infinity })

const MAX_DELAY = 0x7fffffff
// Tarantool answers ER_LOADING while box.cfg{} runs: a server on its way up.
const ER_LOADING = 116

/**
 * The `reconnect` client option: { initialDelay, maxDelay, maxRetries }, or { strategy }, or
 * false. `strategy(attempt, error)` returns the delay before attempt `attempt` (from 1) in ms,
 * or null to give up; it replaces the backoff numbers.
 */
function reconnectOptions(v) {
  if (v === undefined || v === true) return RECONNECT_DEFAULTS
  if (v === false) return false
  if (v === null || typeof v !== 'object') throw new TypeError('reconnect must be an object or false')
  const out = { ...RECONNECT_DEFAULTS, strategy: null }
  if (v.strategy !== undefined) out.strategy = checkFunction(v.strategy, 'reconnect.strategy')
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
    const run = this.#run
    const delay = this.#delay()
    // The strategy may have closed the connection.
    if (run !== this.#run) return
    if (delay === null) {
      const last = this.lastError
      const err = new ConnectionError(`gave up reconnecting after ${this.#attempt - 1} attempts: ${last.message}`, last.code, { cause: last })
      this.#hooks.gaveUp(locate(err, this.#connectOptions))
      return
    }
    const info = { attempt: this.#attempt, delay, error: this.lastError }
    if (debug.enabled) debug('reconnect attempt %d to %s in %d ms', info.attempt, addressOf(this.#connectOptions), delay)
    // A listener that throws when an attempt ends is an uncaught exception, not a rejection.
    this.#timer = setTimeout(() => this.#try(run).catch(throwLater), delay)
    this.refresh()
    // Announced once set: a subscriber or listener that closes the connection stops it, and
    // one that throws does not keep it from coming.
    publishReconnect(this.#connectOptions, info)
    if (run === this.#run) this.#hooks.scheduled(info)
  }

  // The wait before this attempt, or null to give up: the strategy's, else backoff with jitter.
  #delay() {
    const { initialDelay, maxDelay, maxRetries, strategy } = this.#options
    if (strategy) {
      let chosen
      try {
        chosen = strategy(this.#attempt, this.lastError)
      } catch (err) {
        throwLater(err)
        return null
      }
      if (chosen === null || chosen === undefined || chosen === false) return null
      if (typeof chosen !== 'number' || !(chosen >= 0)) {
        throwLater(new TypeError(`reconnect.strategy must return a delay in ms or null, got ${String(chosen)}`))
        return null
      }
      return Math.min(Math.round(chosen), MAX_DELAY)
    }
    if (this.#attempt > maxRetries) return null
    const base = Math.min(maxDelay, initialDelay * 2 ** (this.#attempt - 1))
    return Math.round(base / 2 + (Math.random() * base) / 2)
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
      if (this.#hooks.fatal?.(err)) this.#hooks.gaveUp(err)
      else this.#schedule()
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

/**
 * The first connect, waiting for the server: attempts are retried with `policy` (the reconnect
 * option's backoff or strategy) for up to `waitMs`, while they fail for want of a server (refused,
 * reset, no greeting, ER_LOADING). Resolves to the Transport; rejects with why it gave up.
 */
async function connectWaiting(connectOptions, policy, waitMs) {
  let first
  try {
    return await Transport.connect(connectOptions)
  } catch (err) {
    publishConnect(connectOptions, { attempt: 0, error: err })
    if (!retriable(err)) throw err
    first = err
  }
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      reconnector.stop()
      const last = reconnector.lastError
      const err = new ConnectionError(`no Tarantool at ${addressOf(connectOptions)} within ${waitMs} ms (waitForServer): ${last.message}`, last.code, { cause: last })
      reject(locate(err, connectOptions))
    }, waitMs)
    const reconnector = new Reconnector(policy, connectOptions, {
      scheduled: () => {},
      connected: (transport) => {
        clearTimeout(deadline)
        resolve(transport)
      },
      gaveUp: (err) => {
        clearTimeout(deadline)
        reject(err)
      },
      keepsAlive: () => true,
      fatal: (err) => !retriable(err),
    })
    reconnector.start(first)
  })
}

function retriable(err) {
  return !(err instanceof TarantoolError) || err.errcode === ER_LOADING
}

module.exports = { Reconnector, reconnectOptions, connectWaiting, RECONNECT_DEFAULTS }
