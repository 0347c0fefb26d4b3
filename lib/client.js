'use strict'

// The high-level client: decoded values, names for spaces and indexes, typed errors.

const { EventEmitter } = require('node:events')
const { Transport, credentialsOf } = require('./transport')
const { ConnectionError, TimeoutError, abortError, closedError } = require('./errors')
const { Call, Decoded, dataOf } = require('./call')
const { OfflineQueue } = require('./offline-queue')
const { tupleObject, Encoder } = require('./msgpack')
const { Schema } = require('./schema')
const { unsupported } = require('./protocol')
const { requestApi, PreparedStatement, checkOptions, requestOptions, checkTuplesMode } = require('./api')
const { Stream, openStream, checkTransactionOptions } = require('./stream')
const { WatchRegistry } = require('./watchers')
const K = require('./iproto').IPROTO
const build = require('./requests')
const { checkNumber, checkFunction, describe, MILLISECONDS } = require('./args')
const { Counters } = require('./stats')
const { RequestContext, traced, traceRequest, publishConnect, publishConnected, publishDisconnect } = require('./tracing')
const { Reconnector, reconnectOptions } = require('./reconnect')
const { parseUri } = require('./uri')
const { debug, addressOf } = require('./debug')

const ER_TRANSACTION_CONFLICT = 97
const DEFAULT_OFFLINE_QUEUE_LIMIT = 10000
const kCreate = Symbol('kharon.connection')

function checkBoolean(v, name) {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`)
  return v
}

/**
 * A connection to one Tarantool. Create it with `connect()`.
 *
 * When the connection is lost, what was in flight fails (it may have run on the server) and
 * the client reconnects with exponential backoff and jitter, authenticating again and
 * refetching the schema. Requests issued meanwhile wait in a bounded queue until then or
 * until their timeout. Events: 'disconnect' (err), 'reconnecting' ({ attempt, delay, error }),
 * 'connect' (after a reconnect, once the schema is fresh), 'error' (reconnecting gave up;
 * emitted only when someone listens), 'close' (closed for good).
 */
class Connection extends requestApi(EventEmitter) {
  #transport
  #schema
  #tuples
  #fetchSchema
  #timeout
  #connectOptions
  // null with `reconnect: false`
  #reconnector
  #offlineQueue
  #offlineQueueLimit
  #queue = new OfflineQueue()
  #state = 'connected'
  #closing = null
  #nextStreamId = 1
  #generation = 0
  #watchers = new WatchRegistry(() => this.#reconnector?.refresh())
  #shutdownWatcher = null
  #counters = new Counters()
  #connectedSince = 0

  /** Use connect(). */
  constructor(token, transport, connectOptions, options) {
    if (token !== kCreate) throw new TypeError('use connect() to create a Connection')
    super()
    this.#connectOptions = connectOptions
    this.#tuples = options.tuples || 'arrays'
    this.#fetchSchema = options.fetchSchema
    this.#timeout = options.timeout
    this.#reconnector = options.reconnect === false ? null : new Reconnector(options.reconnect, connectOptions, {
      scheduled: (info) => this.emit('reconnecting', info),
      connected: (transport) => this.#reconnected(transport),
      gaveUp: (err) => this.#gaveUp(err),
      keepsAlive: () => this.#queue.length > 0 || this.#watchers.referenced,
    })
    this.#offlineQueue = options.offlineQueue
    this.#offlineQueueLimit = options.offlineQueueLimit
    this.#schema = new Schema((spaceId) => this.#fetchSpace(spaceId))
    this.#adopt(transport)
  }

  /** The raw Transport underneath (a new one after each reconnect). */
  get transport() {
    return this.#transport
  }

  /**
   * 'connected', 'draining' (the server announced its shutdown: requests wait for the
   * reconnect), 'reconnecting', 'closing' or 'closed'.
   */
  get state() {
    return this.#state
  }

  /** Requests waiting for a reconnect. */
  get queued() {
    return this.#queue.length
  }

  /** Bytes of requests not yet taken by the kernel (see maxWriteQueue and 'drain'). */
  get writableLength() {
    return this.#transport.writableLength
  }

  /**
   * The server's side of IPROTO_ID: `{ version, features }`; `{ version: 0, features: [] }`
   * before 2.10. Negotiated again on every reconnect (the server may have changed).
   */
  get protocol() {
    return this.#transport.protocol
  }

  /** Spaces and indexes known by name: { version, fetches, byName, byId }. */
  get schema() {
    return this.#schema
  }

  get closed() {
    return this.#state === 'closed'
  }

  // Closing or closed: nothing new is sent, and what would wait for the connection fails.
  get #ending() {
    return this.#state === 'closing' || this.#state === 'closed'
  }

  /**
   * Counts since connect(), across reconnects, as plain numbers: { pending (in flight or
   * queued), writableLength, requests, errors, timeouts, reconnects, pushes, bytesSent,
   * bytesReceived, connectedSince (ms since the epoch; 0 while not connected) }.
   */
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
      bytesSent: c.bytesSent + (open === null ? 0 : open.bytesSent),
      bytesReceived: c.bytesReceived + (open === null ? 0 : open.bytesReceived),
      connectedSince: this.#state === 'connected' || this.#state === 'draining' ? this.#connectedSince : 0,
    }
  }

  /**
   * Closes gracefully: new requests fail at once, those in flight may finish (for at most
   * `timeout` ms when given), then the socket closes. Requests waiting for a reconnect fail.
   */
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
    this.#stopReconnecting(closedError())
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

  /** Closes at once: everything pending or queued fails with ERR_CONNECTION_CLOSED. */
  destroy() {
    if (this.#state === 'closed') return
    if (this.#closing === null) this.#closing = Promise.resolve()
    // As in close(): the state moves before the queue fails.
    this.#state = 'closing'
    this.#stopReconnecting(closedError())
    this.#finish()
  }

  [Symbol.asyncDispose]() {
    return this.close()
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
    this.emit('close')
  }

  #adopt(transport) {
    this.#transport = transport
    this.#connectedSince = Date.now()
    this.#generation++
    transport.once('close', (err) => this.#lost(transport, err))
    transport.on('drain', () => this.emit('drain'))
    this.#watchers.adopt(transport, true)
    // A server that announces its shutdown (box.shutdown, 2.10+) is drained, not cut off.
    if (this.#shutdownWatcher === null && transport._serverHas('watchers')) {
      this.#shutdownWatcher = this.watch('box.shutdown', (down) => {
        if (down === true) this.#drain(this.#transport)
      }).unref()
    }
  }

  /**
   * Watches a box.broadcast() key (2.10+): a Watcher, an async iterable of its values (the
   * first is the current one), or with `callback(value, key)` called for each. Watchers of
   * one key share one server subscription, and survive reconnects. Once the connection is
   * closing or closed, the Watcher comes closed and its iteration rejects with
   * ERR_CONNECTION_CLOSED: state fails the way a request's promise does, and only bad
   * arguments (or a server without watchers) throw.
   */
  watch(key, callback) {
    return this.#watchers.watch(this.#transport, this.#state === 'connected', this.#ending, key, callback)
  }

  /** The current value of a key: WATCH_ONCE on 3.0+, else a watch for its first value. */
  watchOnce(key, opts) {
    try {
      if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string')
      opts = requestOptions(opts)
    } catch (err) {
      return Promise.reject(err)
    }
    // Once closed, the Watcher path rejects on every server, with the cause of a loss.
    if (this.#transport._serverHas('watch_once') && !this.#ending) {
      return this._request(K.WATCH_ONCE, build.watchKey(key), (b, s, e) => (dataOf(b, s, e) || [])[0], opts, 0, null, key)
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
      if (timeout != null) timer = setTimeout(() => settle(new TimeoutError(`request timed out after ${timeout} ms`)), timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      // Done: close() or destroy() ended the Watcher (or settle() did: then this is a no-op).
      watcher.next().then(({ value, done }) => settle(done ? closedError() : null, value), settle)
    })
  }

  // The server is shutting down: nothing new goes on this connection; once what is in flight
  // has its answers, the socket closes and reconnecting starts.
  #drain(transport) {
    if (transport !== this.#transport || this.#state !== 'connected') return
    this.#state = 'draining'
    // Arranged before 'shutdown', whose listener may throw.
    transport._idle().then(() => {
      if (this.#transport === transport && !transport.closed) transport.close()
    })
    this.emit('shutdown')
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
      this.emit('disconnect', err)
    } finally {
      if (closed) {
        this.#stopReconnecting(err)
        this.#watchers.end(err)
        this.emit('close')
      } else if (this.#state === 'reconnecting') {
        // Not when a subscriber or listener closed the connection: that ended it already.
        this.#reconnector.start(err)
      }
    }
  }

  #gaveUp(err) {
    // The state moves first, as in close().
    this.#state = 'closed'
    this.#stopReconnecting(err)
    this.#watchers.end(err)
    if (this.listenerCount('error') > 0) this.emit('error', err)
    this.emit('close')
  }

  #reconnected(transport) {
    this.#adopt(transport)
    this.#state = 'connected'
    this.#counters.reconnects++
    this.#queue.sendAll(transport)
    this._init().then(() => {
      if (this.#transport === transport && this.#state === 'connected') this.emit('connect')
    }, () => {})
  }

  #stopReconnecting(err) {
    this.#reconnector?.stop()
    this.#queue.failAll(err)
  }

  // Sends now, queues while reconnecting, fails once closed (or at once with `refusal`).
  #dispatch(type, body, entry, options, streamId = 0, refusal = null, name = null) {
    // Options were checked by the request method, before it returned a promise.
    this.#counters.requests++
    if (traced()) {
      entry._trace = new RequestContext(type, name, this.#connectOptions, this.#transport.serverVersion, streamId)
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
    if (this.#state !== 'reconnecting' && this.#state !== 'draining') return closedError()
    if (!this.#offlineQueue) {
      if (this.#state === 'draining') return new ConnectionError('not connected (the server is shutting down)', 'ERR_NOT_CONNECTED')
      const lost = this.#reconnector.lastError
      return new ConnectionError(`not connected (${lost.message})`, 'ERR_NOT_CONNECTED', { cause: lost })
    }
    if (this.#queue.length >= this.#offlineQueueLimit) {
      return new ConnectionError(`offline queue is full (${this.#offlineQueueLimit} requests)`, 'ERR_OFFLINE_QUEUE_FULL')
    }
    if (options?.signal?.aborted) return abortError(options.signal)
    return null
  }

  #fetchSpace(spaceId) {
    return new Promise((resolve, reject) => {
      const decodeSpace = (b, s, e) => ({ tuples: dataOf(b, s, e) || [], schemaVersion: this.#transport.schemaVersion })
      const entry = new Decoded(resolve, reject, decodeSpace, this.#counters)
      this.#dispatch(K.SELECT, build.select(spaceId, 0, [], { iterator: 'ALL' }), entry, undefined, 0, null, spaceId)
    })
  }

  /** Fetches the schema at connect (unless `fetchSchema: false`). */
  _init() {
    return this.#fetchSchema ? this.#schema.refresh() : Promise.resolve()
  }

  get _client() {
    return this
  }

  _issue(type, body, decodeBody, opts, name) {
    return this._request(type, body, decodeBody, opts, 0, null, name)
  }

  _issueCall(type, body, opts, name) {
    return this._withPushes(type, body, opts, 0, null, name)
  }

  _tuplesMode(opts) {
    return checkTuplesMode(opts.tuples) || this.#tuples
  }

  /**
   * Sends a call/eval on stream `streamId` (0: none), or fails it with `refusal` without
   * sending anything; returns its Call.
   */
  _withPushes(type, body, opts, streamId, refusal, name) {
    const hwm = opts.highWaterMark === undefined ? this.#transport.pushHighWaterMark : opts.highWaterMark
    const call = new Call(this.#transport, hwm, opts.onPush, opts.onPushCtx, this._tuplesMode(opts) === 'objects', this.#counters)
    const promise = call._promised()
    this.#dispatch(type, body, call, this.#deadline(opts), streamId, refusal, name)
    return promise
  }

  /** Like _withPushes, for a request without pushes: a promise of its decoded body. */
  _request(type, body, decodeBody, opts, streamId, refusal, name) {
    const options = this.#deadline(opts)
    return new Promise((resolve, reject) => {
      this.#dispatch(type, body, new Decoded(resolve, reject, decodeBody, this.#counters), options, streamId, refusal, name)
    })
  }

  /**
   * A Stream: the connection's request methods, with its own STREAM_ID. Requests on one stream
   * run on the server in the order they are issued (2.10+; older servers ignore the id).
   */
  stream() {
    // Never reused on this connection, across reconnects too.
    return openStream(this, this.#nextStreamId++)
  }

  /** A Stream in a transaction begun with `options` ({ isolation, txnTimeout }). */
  async begin(options) {
    const stream = this.stream()
    await stream.begin(options)
    return stream
  }

  /**
   * Runs `fn(tx)` in a transaction on a new stream: commits when it returns (resolving to its
   * value), rolls back when it throws (rethrowing). `retries` (default 0) runs it again, each
   * time in a new transaction, when it fails with ER_TRANSACTION_CONFLICT.
   */
  async transaction(fn, options) {
    checkFunction(fn, 'the transaction callback')
    const { retries } = checkTransactionOptions(options)
    for (let attempt = 0; ; attempt++) {
      const tx = this.stream()
      await tx.begin(options)
      try {
        const value = await fn(tx)
        await tx.commit()
        return value
      } catch (err) {
        const failure = tx._lostError() ?? err
        if (tx.inTransaction) await tx.rollback().catch(() => {})
        if (attempt < retries && failure.errcode === ER_TRANSACTION_CONFLICT) continue
        throw failure
      }
    }
  }

  /**
   * Which connection (counted from 1) a request issued now will be sent on: the current one,
   * or while reconnecting, the next.
   */
  _sendingGeneration() {
    return this.#state === 'reconnecting' || this.#state === 'draining' ? this.#generation + 1 : this.#generation
  }

  /** Whether connection `generation` is open, or yet to come. */
  _alive(generation) {
    if (generation > this.#generation) return this.#state === 'reconnecting' || this.#state === 'draining'
    return generation === this.#generation && this.#state === 'connected' && !this.#transport.closed
  }

  // Applies the connection-wide default timeout.
  #deadline(opts) {
    if (opts === undefined || opts === null) return this.#timeout === undefined ? undefined : { timeout: this.#timeout }
    if (opts.timeout !== undefined || this.#timeout === undefined) return opts
    return { timeout: this.#timeout, signal: opts.signal }
  }

  // Whether results in `mode` need field names from the schema: objects, from a server that
  // does not send tuples with their formats (before 3.0).
  _needsFormat(mode) {
    return mode === 'objects' && !this.#transport._uses('dml_tuple_extension')
  }

  // Runs `send(space, index)` with what the request names them by. Names go on the wire as
  // they are when the server takes them (3.x), unless the schema is needed anyway
  // (`needsFormat`: the space's field names will be used). Otherwise names become ids through
  // the schema: at once when it is fresh, else after the (shared) refetch.
  _route(space, index, needsFormat, send) {
    const byName = typeof space === 'string' || typeof index === 'string'
    const namesOnWire = byName && this.#transport._serverHas('space_and_index_names')
    if (!this.#fetchSchema) {
      if (byName && !namesOnWire) {
        return Promise.reject(unsupported('space_and_index_names', 'a space or index by name with fetchSchema: false', this.#transport.serverVersion))
      }
      return send(space, index)
    }
    if (!needsFormat && (namesOnWire || !byName)) return send(space, index)
    const ids = this.#schema.tryResolve(space, index, this.#transport.schemaVersion, needsFormat)
    if (ids !== null) return send(ids[0], ids[1])
    return this.#schema.refresh().then(() => {
      const [sid, iid] = this.#schema.resolve(space, index)
      return send(sid, iid)
    })
  }

  _tupleArray(spaceId, tuple) {
    if (Array.isArray(tuple)) return tuple
    const names = this.#schema.fieldNames(spaceId)
    if (names === undefined || names.length === 0) {
      throw new TypeError('an object tuple needs a space format with field names; pass an array')
    }
    const extra = Object.keys(tuple).filter((k) => !names.includes(k))
    if (extra.length > 0) throw new TypeError(`fields not in the space format: ${extra.join(', ')}`)
    const out = names.map((n) => tuple[n])
    while (out.length > 0 && out[out.length - 1] === undefined) out.pop()
    return out
  }

  _tuplesOf(buf, start, end, space, mode) {
    const objects = mode === 'objects'
    const rows = dataOf(buf, start, end, objects) || []
    // 3.x tuples come with their formats and are objects already.
    if (!objects || !this._needsFormat(mode)) return rows
    const names = (typeof space === 'number' && this.#schema.fieldNames(space)) || []
    return rows.map((row) => tupleObject(row, names))
  }

  _firstTuple(buf, start, end, spaceId, mode) {
    const rows = this._tuplesOf(buf, start, end, spaceId, mode)
    return rows.length === 0 ? null : rows[0]
  }
}

/**
 * Connects, authenticates and fetches the schema. `target` is a URI string or an options
 * object ({ host, port, path, user, password, connectTimeout, ... }); `options` adds client
 * options: tuples ('arrays' | 'objects'), timeout (ms, default for every request),
 * reconnect ({ initialDelay, maxDelay, maxRetries } or false), offlineQueue (default true),
 * offlineQueueLimit, pushHighWaterMark, maxFrameSize, fetchSchema (default true: read
 * _vspace/_vindex for names), features and required (IPROTO_ID, see Transport.connect). A
 * failed first connect rejects; reconnecting starts only once a connection has been made.
 */
async function connect(target, options = {}) {
  let base
  if (typeof target === 'string') base = parseUri(target)
  else if (target !== null && typeof target === 'object') base = target
  else throw new TypeError('connect() takes a URI string or an options object')
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const merged = { ...base, ...options }
  checkTuplesMode(merged.tuples)
  if (merged.timeout !== undefined) checkNumber(merged.timeout, 'timeout', MILLISECONDS)
  const client = {
    tuples: merged.tuples,
    fetchSchema: merged.fetchSchema === undefined ? true : checkBoolean(merged.fetchSchema, 'fetchSchema'),
    timeout: merged.timeout,
    reconnect: reconnectOptions(merged.reconnect),
    offlineQueue: merged.offlineQueue === undefined ? true : checkBoolean(merged.offlineQueue, 'offlineQueue'),
    offlineQueueLimit: merged.offlineQueueLimit === undefined
      ? DEFAULT_OFFLINE_QUEUE_LIMIT
      : checkNumber(merged.offlineQueueLimit, 'offlineQueueLimit', { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
  }
  // Reconnects authenticate with the hashes; the password itself is not kept.
  const { user, password, reconnect, offlineQueue, offlineQueueLimit, tuples, timeout, fetchSchema, ...connectOptions } = merged
  connectOptions.credentials = credentialsOf(merged)
  let transport
  try {
    transport = await Transport.connect(connectOptions)
  } catch (err) {
    publishConnect(connectOptions, { attempt: 0, error: err })
    throw err
  }
  publishConnected(connectOptions, transport, 0)
  const conn = new Connection(kCreate, transport, connectOptions, client)
  try {
    await conn._init()
  } catch (err) {
    conn.destroy()
    throw err
  }
  return conn
}

module.exports = { connect, Connection, Call, PreparedStatement, Stream, parseUri }
