'use strict'

// A Connection's lifecycle, and the path every one of its requests takes. It owns the
// current Transport and the state: connected, draining (the server announced its shutdown),
// reconnecting (with the Reconnector and the offline queue), closing, closed. A request is sent
// now, queued until the reconnect, or refused, by the state it meets. It is the Connection's
// Requester (see request-methods.js).

const { ConnectionError, abortError, closedError, requestTimeout, locate } = require('./errors')
const { Call, Decoded, dataOf } = require('./call')
const { OfflineQueue } = require('./offline-queue')
const { Encoder } = require('./msgpack')
const { Catalog } = require('./catalog')
const { WatchRegistry } = require('./watchers')
const { requestOptions, checkOptions } = require('./request-methods')
const K = require('./iproto').IPROTO
const build = require('./requests')
const { checkNumber, MILLISECONDS } = require('./args')
const { Counters } = require('./stats')
const { RequestContext, traced, traceRequest, publishDisconnect, kInternal } = require('./tracing')
const { Reconnector } = require('./reconnect')
const { debug, addressOf } = require('./debug')

class Lifecycle {
  #events
  #transport
  #timeout
  #connectOptions
  // null with `reconnect: false`
  #reconnector
  #offlineQueue
  #offlineQueueLimit
  #queue = new OfflineQueue()
  #state = 'connected'
  #closing = null
  #generation = 0
  #watchers = new WatchRegistry(() => this.#reconnector?.refresh())
  #shutdownWatcher = null
  #counters = new Counters()
  #connectedSince = 0
  #callerStack
  // What the connection was lost with when it closed for good; null while open or when closed.
  #lostWith = null
  /** Names to ids, tuples to shapes (see catalog.js). */
  catalog

  /** `events`: the Connection, which emits what happens here. */
  constructor(events, transport, connectOptions, options) {
    this.#events = events
    this.#connectOptions = connectOptions
    this.#timeout = options.timeout
    this.#callerStack = options.callerStack
    this.#reconnector = options.reconnect === false ? null : new Reconnector(options.reconnect, connectOptions, {
      scheduled: (info) => this.#events.emit('reconnecting', info),
      connected: (next) => this.#reconnected(next),
      gaveUp: (err) => this.#gaveUp(err),
      keepsAlive: () => this.#queue.length > 0 || this.#watchers.referenced,
    })
    this.#offlineQueue = options.offlineQueue
    this.#offlineQueueLimit = options.offlineQueueLimit
    this.catalog = new Catalog(() => this.#transport, (spaceId) => this.#fetchSpace(spaceId), options)
    this.#adopt(transport)
  }

  get transport() {
    return this.#transport
  }

  get state() {
    return this.#state
  }

  get queued() {
    return this.#queue.length
  }

  // Closing or closed: nothing new is sent, and what would wait for the connection fails.
  get #ending() {
    return this.#state === 'closing' || this.#state === 'closed'
  }

  stats() {
    const c = this.#counters
    // A closed transport's traffic is in the counters already.
    const open = this.#transport.closed ? null : this.#transport
    return {
      pending: (open === null ? 0 : open.pending) + this.#queue.length,
      writableLength: open === null ? 0 : open.writableLength,
      requests: c.requests,
      errors: c.errors,
      timeouts: c.timeouts,
      reconnects: c.reconnects,
      pushes: c.pushes + (open === null ? 0 : open.pushCount),
      unsolicited: c.unsolicited + (open === null ? 0 : open.unsolicitedCount),
      bytesSent: c.bytesSent + (open === null ? 0 : open.bytesSent),
      bytesReceived: c.bytesReceived + (open === null ? 0 : open.bytesReceived),
      connectedSince: this.#state === 'connected' || this.#state === 'draining' ? this.#connectedSince : 0,
    }
  }

  close(options) {
    try {
      options = checkOptions(options)
      if (options.timeout !== undefined) checkNumber(options.timeout, 'timeout', MILLISECONDS)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#closing !== null) return this.#closing
    // Lost for good already (reconnect: false, or it gave up): nothing left to close.
    if (this.#state === 'closed') return Promise.resolve()
    const wasConnected = this.#state === 'connected' || this.#state === 'draining'
    // The state moves first: a request a tracing subscriber makes while the queue fails is
    // refused, not queued after the queue was emptied.
    this.#state = 'closing'
    this.#stopReconnecting(closedError(undefined, this.#connectOptions))
    this.#closing = (async () => {
      if (wasConnected) {
        const idle = this.#transport._idle()
        if (options.timeout === undefined) await idle
        else {
          let timer
          await Promise.race([idle, new Promise((resolve) => { timer = setTimeout(resolve, options.timeout) })])
          clearTimeout(timer)
        }
      }
      this.#finish()
    })()
    return this.#closing
  }

  destroy() {
    if (this.#state === 'closed') return
    if (this.#closing === null) this.#closing = Promise.resolve()
    // As in close(): the state moves before the queue fails.
    this.#state = 'closing'
    this.#stopReconnecting(closedError(undefined, this.#connectOptions))
    this.#finish()
  }

  #finish() {
    if (this.#state === 'closed') return
    const wasOpen = !this.#transport.closed
    this.#state = 'closed'
    this.#transport.close()
    this.#watchers.end(null)
    if (wasOpen) {
      this.#counters.addTraffic(this.#transport)
      if (debug.enabled) debug('closed the connection to %s', addressOf(this.#connectOptions))
      publishDisconnect(this.#connectOptions, { error: null })
    }
    this.#events.emit('close')
  }

  #adopt(transport) {
    this.#transport = transport
    this.#connectedSince = Date.now()
    this.#generation++
    transport.once('close', (err) => this.#lost(transport, err))
    transport.on('drain', () => this.#events.emit('drain'))
    // Packets that answer no request: the transport decodes them only when someone listens.
    transport._forwardPackets(this.#events)
    this.#watchers.adopt(transport, true)
    // A server that announces its shutdown (box.shutdown, 2.10+) is drained, not cut off.
    if (this.#shutdownWatcher === null && transport._serverHas('watchers')) {
      this.#shutdownWatcher = this.watch('box.shutdown', (down) => {
        if (down === true) this.#drain(this.#transport)
      }).unref()
    }
  }

  watch(key, callback) {
    return this.#watchers.watch(this.#transport, this.#state === 'connected', this.#ending, key, callback)
  }

  watchOnce(key, opts) {
    try {
      if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string')
      opts = requestOptions(opts)
    } catch (err) {
      return Promise.reject(err)
    }
    // Once closed, the Watcher path rejects on every server, with the cause of a loss.
    if (this.#transport._serverHas('watch_once') && !this.#ending) {
      return this.request(K.WATCH_ONCE, build.watchKey(key), (b, s, e) => (dataOf(b, s, e) || [])[0], opts, key)
    }
    return this.#firstValue(key, this.#deadline(opts))
  }

  // WATCH_ONCE's stand-in (2.10, 2.11): a Watcher's first value, within the timeout and signal
  // a request would have, its Watcher closed however it ends.
  #firstValue(key, options) {
    const timeout = options?.timeout
    const signal = options?.signal
    let watcher
    try {
      // Refused before anything is sent where a request would be: its signal aborted already,
      // or the connection down and no waiting for the reconnect. (Closed: the Watcher rejects.)
      let refusal = null
      if (this.#state === 'connected' && signal?.aborted) refusal = abortError(signal)
      else if (this.#state === 'reconnecting' || this.#state === 'draining') refusal = this.#cannotQueue(options)
      if (refusal !== null) throw refusal
      watcher = this.watch(key)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      let timer = null
      const settle = (err, value) => {
        if (timer !== null) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        watcher.close()
        if (err === null) resolve(value)
        else reject(err)
      }
      const onAbort = () => settle(abortError(signal))
      if (timeout != null) timer = setTimeout(() => settle(requestTimeout(timeout, K.WATCH_ONCE, key)), timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      // Done: close() or destroy() ended the Watcher (or settle() did: then this is a no-op).
      watcher.next().then(({ value, done }) => settle(done ? closedError(undefined, this.#connectOptions) : null, value), settle)
    })
  }

  // The server is shutting down: nothing new goes on this connection; once what is in flight
  // has its answers, the socket closes and reconnecting starts.
  #drain(transport) {
    if (transport !== this.#transport || this.#state !== 'connected') return
    this.#state = 'draining'
    // Arranged before 'shutdown', whose listener may throw.
    transport._idle().then(() => {
      if (this.#transport !== transport || transport.closed) return
      transport._closeWith(new ConnectionError(`the server at ${addressOf(this.#connectOptions)} shut down (box.shutdown)`, 'ERR_SERVER_SHUTDOWN'))
    })
    this.#events.emit('shutdown')
  }

  // The socket is gone: what was in flight has failed; reconnect unless told not to.
  #lost(transport, err) {
    if (transport !== this.#transport || (this.#state !== 'connected' && this.#state !== 'draining')) return
    this.#counters.addTraffic(transport)
    if (debug.enabled) debug('disconnected from %s: %s (%s)', addressOf(this.#connectOptions), err.message, err.code)
    // The state moves first, so a request made by a kharon:disconnect subscriber or a
    // 'disconnect' listener is queued (or refused) rather than sent on the dead transport.
    const closed = this.#reconnector === null
    this.#state = closed ? 'closed' : 'reconnecting'
    if (!closed) this.#reconnector.lastError = err
    publishDisconnect(this.#connectOptions, { error: err })
    // What follows the loss happens even if a listener throws (the throw goes on to the caller).
    try {
      this.#events.emit('disconnect', err)
    } finally {
      if (closed) {
        this.#lostWith = err
        this.#stopReconnecting(err)
        this.#watchers.end(err)
        this.#events.emit('close')
      } else if (this.#state === 'reconnecting') {
        // Not when a subscriber or listener closed the connection: that ended it already.
        this.#reconnector.start(err)
      }
    }
  }

  #gaveUp(err) {
    // The state moves first, as in close().
    this.#state = 'closed'
    this.#lostWith = err
    this.#stopReconnecting(err)
    this.#watchers.end(err)
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', err)
    this.#events.emit('close')
  }

  #reconnected(transport) {
    this.#adopt(transport)
    this.#state = 'connected'
    this.#counters.reconnects++
    this.#queue.sendAll(transport)
    this.catalog.refresh().then(() => {
      if (this.#transport !== transport || this.#state !== 'connected') return
      this.#events.emit('reconnect')
      // The old name of 'reconnect' (deprecated).
      this.#events.emit('connect')
    }, () => {})
  }

  #stopReconnecting(err) {
    this.#reconnector?.stop()
    this.#queue.failAll(err)
  }

  /**
   * A request with one response: a promise of `decodeBody(data, start, end)` of its body. On
   * stream `streamId` (0: none); failed with `refusal` without sending anything when given.
   */
  request(type, body, decodeBody, opts, name, streamId = 0, refusal = null) {
    const options = this.#deadline(opts)
    const caller = this.#callerStack ? new Error() : null
    return new Promise((resolve, reject) => {
      const entry = new Decoded(resolve, reject, decodeBody, this.#counters)
      if (caller !== null) entry._callerStack = caller
      this.#dispatch(type, body, entry, options, streamId, refusal, name, opts?.[kInternal] === true)
    })
  }

  /** A call or eval, as request(): its Call's promise, which also iterates the pushes. */
  call(type, body, opts, name, streamId = 0, refusal = null) {
    const hwm = opts.highWaterMark === undefined ? this.#transport.pushHighWaterMark : opts.highWaterMark
    const call = new Call(this.#transport, hwm, opts.onPush, opts.onPushCtx, this.catalog.tuplesMode(opts) === 'objects', this.#counters)
    if (this.#callerStack) call._callerStack = new Error()
    const promise = call._promised()
    this.#dispatch(type, body, call, this.#deadline(opts), streamId, refusal, name, opts[kInternal] === true)
    return promise
  }

  // Sends now, queues while reconnecting, fails once closed (or at once with `refusal`).
  #dispatch(type, body, entry, options, streamId, refusal, name, internal) {
    // Options were checked by the request method, before it returned a promise.
    this.#counters.requests++
    entry._name = name
    if (traced()) {
      entry._trace = new RequestContext(type, name, this.#connectOptions, this.#transport.serverVersion, streamId, internal)
      // A `start` subscriber may issue requests of its own, which reuse the shared encoder.
      const own = body instanceof Encoder ? body.toBuffer() : body
      traceRequest(entry._trace, () => this.#send(type, own, entry, options, streamId, refusal))
    } else {
      this.#send(type, body, entry, options, streamId, refusal)
    }
  }

  #send(type, body, entry, options, streamId, refusal) {
    // A lost transport fails its requests before it tells of its end: a request that a tracing
    // subscriber makes meanwhile meets the loss here, and waits for the reconnect.
    if (this.#transport.closed) this.#lost(this.#transport, this.#transport._endError)
    if (this.#state === 'connected' && refusal === null) {
      this.#transport._send(type, body, entry, options, streamId)
      return
    }
    const err = refusal ?? this.#cannotQueue(options)
    if (err !== null) {
      process.nextTick(() => entry._settle(err))
      return
    }
    this.#queue.push(type, body, entry, options, streamId)
    this.#reconnector?.refresh()
  }

  // Why a request cannot wait for the reconnect, or null.
  #cannotQueue(options) {
    const address = this.#connectOptions
    if (this.#state !== 'reconnecting' && this.#state !== 'draining') return closedError(this.#lostWith ?? undefined, address)
    if (!this.#offlineQueue) {
      if (this.#state === 'draining') return locate(new ConnectionError(`not connected to ${addressOf(address)} (the server is shutting down)`, 'ERR_NOT_CONNECTED'), address)
      const lost = this.#reconnector.lastError
      return locate(new ConnectionError(`not connected to ${addressOf(address)} (${lost.message})`, 'ERR_NOT_CONNECTED', { cause: lost }), address)
    }
    if (this.#queue.length >= this.#offlineQueueLimit) {
      return locate(new ConnectionError(`offline queue is full (${this.#offlineQueueLimit} requests)`, 'ERR_OFFLINE_QUEUE_FULL'), address)
    }
    if (options?.signal?.aborted) return abortError(options.signal)
    return null
  }

  #fetchSpace(spaceId) {
    return new Promise((resolve, reject) => {
      const decodeSpace = (b, s, e) => ({ tuples: dataOf(b, s, e) || [], schemaVersion: this.#transport.schemaVersion })
      const entry = new Decoded(resolve, reject, decodeSpace, this.#counters)
      this.#dispatch(K.SELECT, build.select(spaceId, 0, [], { iterator: 'ALL' }), entry, undefined, 0, null, spaceId, true)
    })
  }

  /**
   * Which connection (counted from 1) a request issued now will be sent on: the current one,
   * or while reconnecting, the next.
   */
  sendingGeneration() {
    return this.#state === 'reconnecting' || this.#state === 'draining' ? this.#generation + 1 : this.#generation
  }

  /** Whether connection `generation` is open, or yet to come. */
  alive(generation) {
    if (generation > this.#generation) return this.#state === 'reconnecting' || this.#state === 'draining'
    return generation === this.#generation && this.#state === 'connected' && !this.#transport.closed
  }

  // Applies the connection-wide default timeout.
  #deadline(opts) {
    if (opts === undefined || opts === null) return this.#timeout === undefined ? undefined : { timeout: this.#timeout }
    if (opts.timeout !== undefined || this.#timeout === undefined) return opts
    return { timeout: this.#timeout, signal: opts.signal }
  }
}

module.exports = { Lifecycle }
