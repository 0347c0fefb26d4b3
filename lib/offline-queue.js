'use strict'

// Requests issued while a connection is down (reconnecting, or draining a server that shuts
// down): they wait here, each within its own timeout and AbortSignal, and leave in issue order
// once a connection is back.

const { requestTimeout, abortError } = require('./errors')
const { Encoder } = require('./msgpack')

class OfflineQueue {
  // A Set: in issue order, and a request that times out leaves it in O(1) (10,000 queued
  // requests timing out together cost linear time, not quadratic).
  #items = new Set()

  get length() {
    return this.#items.size
  }

  /** Keeps a request until `sendAll` or `failAll`, or until its timeout or signal drops it. */
  push(type, body, entry, options, streamId) {
    const timeout = options?.timeout ?? undefined
    const q = {
      type,
      streamId,
      // The shared encoder is reused by the next request: keep a copy.
      body: typeof body === 'string' ? body : body instanceof Encoder ? body.toBuffer() : Buffer.from(body),
      entry,
      signal: options?.signal ?? undefined,
      deadline: timeout === undefined ? undefined : performance.now() + timeout,
      timer: null,
      onAbort: null,
    }
    const drop = (err) => {
      if (!this.#items.delete(q)) return
      release(q)
      entry._settle(err)
    }
    if (timeout !== undefined) {
      q.timer = setTimeout(() => drop(requestTimeout(timeout, type, entry._name, ' waiting for a reconnect')), timeout)
    }
    if (q.signal !== undefined) {
      q.onAbort = () => drop(abortError(q.signal))
      q.signal.addEventListener('abort', q.onAbort, { once: true })
    }
    this.#items.add(q)
  }

  /** Sends everything on `transport`, each with what is left of its timeout. */
  sendAll(transport) {
    for (const q of this.#take()) {
      const timeout = release(q)
      transport._send(q.type, q.body, q.entry, { timeout, signal: q.signal }, q.streamId)
    }
  }

  failAll(err) {
    for (const q of this.#take()) {
      release(q)
      q.entry._settle(err)
    }
  }

  #take() {
    const items = this.#items
    this.#items = new Set()
    return items
  }
}

// Unhooks a queued request from its timer and signal; returns what is left of its timeout.
function release(q) {
  if (q.timer !== null) clearTimeout(q.timer)
  if (q.onAbort !== null) q.signal.removeEventListener('abort', q.onAbort)
  return q.deadline === undefined ? undefined : Math.max(0, q.deadline - performance.now())
}

module.exports = { OfflineQueue }
