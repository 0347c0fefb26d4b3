'use strict'

// The high-level client: decoded values, names for spaces and indexes, typed errors. A
// Connection is the public face of its Lifecycle (lifecycle.js: state, reconnect, the request
// path) and its Catalog (catalog.js); the request methods are request-methods.js's.

const { EventEmitter } = require('node:events')
const { Transport } = require('./transport')
const { credentialsOf } = require('./connect-options')
const { Call } = require('./call')
const { Lifecycle } = require('./lifecycle')
const { checkTuplesMode } = require('./catalog')
const { requestApi, kRequester, PreparedStatement } = require('./request-methods')
const { Stream, openStream, runTransaction } = require('./stream')
const { checkNumber, describe, MILLISECONDS } = require('./args')
const { publishConnect, publishConnected } = require('./tracing')
const { reconnectOptions, connectWaiting, RECONNECT_DEFAULTS } = require('./reconnect')
const { parseUri } = require('./uri')

const DEFAULT_OFFLINE_QUEUE_LIMIT = 10000
// Options of the client alone, not handed to Transport.connect (user and password become credentials).
const CLIENT_ONLY = new Set(['user', 'password', 'reconnect', 'offlineQueue', 'offlineQueueLimit', 'tuples', 'timeout', 'fetchSchema', 'waitForServer', 'callerStack'])
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
 * 'reconnect' (once the schema is fresh again; 'connect' is its deprecated name), 'error'
 * (reconnecting gave up; emitted only when someone listens), 'close' (closed for good),
 * 'shutdown' (the server announced its shutdown), 'drain', 'iproto' (a packet from the server
 * that answers no request: { type, sync, schemaVersion, body }).
 */
class Connection extends requestApi(EventEmitter) {
  #life
  #nextStreamId = 1

  /** Use connect(). */
  constructor(token, transport, connectOptions, options) {
    if (token !== kCreate) throw new TypeError('use connect() to create a Connection')
    super()
    this.#life = new Lifecycle(this, transport, connectOptions, options)
  }

  get [kRequester]() {
    return this.#life
  }

  /** The raw Transport underneath (a new one after each reconnect). */
  get transport() {
    return this.#life.transport
  }

  /**
   * 'connected', 'draining' (the server announced its shutdown: requests wait for the
   * reconnect), 'reconnecting', 'closing' or 'closed'.
   */
  get state() {
    return this.#life.state
  }

  /** Requests waiting for a reconnect. */
  get queued() {
    return this.#life.queued
  }

  /** Bytes of requests not yet taken by the kernel (see maxWriteQueueBytes and 'drain'). */
  get writableLength() {
    return this.#life.transport.writableLength
  }

  /**
   * The server's side of IPROTO_ID: `{ version, features }`; `{ version: 0, features: [] }`
   * before 2.10. Negotiated again on every reconnect (the server may have changed).
   */
  get protocol() {
    return this.#life.transport.protocol
  }

  /** The server's version from its greeting, e.g. '3.8.0' (the current one, after a reconnect). */
  get serverVersion() {
    return this.#life.transport.serverVersion
  }

  /** Spaces and indexes known by name: { version, fetches, byName, byId }. */
  get schema() {
    return this.#life.catalog.schema
  }

  get closed() {
    return this.#life.state === 'closed'
  }

  /**
   * Counts since connect(), across reconnects, as plain numbers: { pending (in flight or
   * queued), writableLength, requests, errors, timeouts, reconnects, pushes, bytesSent,
   * bytesReceived, connectedSince (ms since the epoch; 0 while not connected) }.
   */
  stats() {
    return this.#life.stats()
  }

  /**
   * Closes gracefully: new requests fail at once, those in flight may finish (for at most
   * `timeout` ms when given), then the socket closes. Requests waiting for a reconnect fail.
   */
  close(options) {
    return this.#life.close(options)
  }

  /** Closes at once: everything pending or queued fails with ERR_CONNECTION_CLOSED. */
  destroy() {
    this.#life.destroy()
  }

  [Symbol.asyncDispose]() {
    return this.close()
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
    return this.#life.watch(key, callback)
  }

  /** The current value of a key: WATCH_ONCE on 3.0+, else a watch for its first value. */
  watchOnce(key, opts) {
    return this.#life.watchOnce(key, opts)
  }

  /**
   * A Stream: the connection's request methods, with its own STREAM_ID. Requests on one stream
   * run on the server in the order they are issued (2.10+; older servers ignore the id).
   */
  stream() {
    // Never reused on this connection, across reconnects too.
    return openStream(this, this.#life, this.#nextStreamId++)
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
  transaction(fn, options) {
    return runTransaction(() => this.stream(), fn, options)
  }
}

/**
 * Connects, authenticates and fetches the schema. `target` is a URI string, an options object
 * ({ host, port, path, user, password, connectTimeout, ... }) or a port (then `host` may come
 * next); `options` adds client options: tuples ('arrays' | 'objects'), timeout (ms, default
 * for every request), reconnect ({ initialDelay, maxDelay, maxRetries }, { strategy } or
 * false), offlineQueue (default true), offlineQueueLimit, pushHighWaterMark, maxFrameSize,
 * fetchSchema (default true: read _vspace/_vindex for names), features and required
 * (IPROTO_ID, see Transport.connect), waitForServer (ms: retry the first connect with the
 * reconnect policy that long, while no server answers), callerStack (errors show where the
 * request was issued). Without waitForServer a failed first connect rejects at once.
 */
async function connect(target, ...rest) {
  let base
  let options = rest[0] === undefined ? {} : rest[0]
  if (typeof target === 'string') base = parseUri(target)
  else if (typeof target === 'number') {
    base = { port: target }
    if (typeof rest[0] === 'string') {
      base.host = rest[0]
      options = rest[1] === undefined ? {} : rest[1]
    }
  } else if (target !== null && typeof target === 'object') base = target
  else throw new TypeError('connect() takes a URI string, an options object or a port')
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const merged = { ...base, ...options }
  checkTuplesMode(merged.tuples)
  if (merged.timeout !== undefined) checkNumber(merged.timeout, 'timeout', MILLISECONDS)
  const waitForServer = merged.waitForServer === undefined ? undefined : checkNumber(merged.waitForServer, 'waitForServer', MILLISECONDS)
  const client = {
    callerStack: merged.callerStack === undefined ? false : checkBoolean(merged.callerStack, 'callerStack'),
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
  const connectOptions = Object.fromEntries(Object.entries(merged).filter(([key]) => !CLIENT_ONLY.has(key)))
  connectOptions.credentials = credentialsOf(merged)
  let transport
  if (waitForServer !== undefined) {
    transport = await connectWaiting(connectOptions, client.reconnect || RECONNECT_DEFAULTS, waitForServer)
  } else {
    try {
      transport = await Transport.connect(connectOptions)
    } catch (err) {
      publishConnect(connectOptions, { attempt: 0, error: err })
      throw err
    }
  }
  publishConnected(connectOptions, transport, 0)
  const conn = new Connection(kCreate, transport, connectOptions, client)
  try {
    await conn[kRequester].catalog.refresh()
  } catch (err) {
    conn.destroy()
    throw err
  }
  return conn
}

module.exports = { connect, Connection, Call, PreparedStatement, Stream, parseUri }
