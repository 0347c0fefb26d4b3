'use strict'

// The high-level client: decoded values, names for spaces and indexes, typed errors.

const { EventEmitter } = require('node:events')
const { Transport, credentialsOf } = require('./transport')
const { ConnectionError, TimeoutError, abortError, closedError } = require('./errors')
const { Response } = require('./response')
const { decode, tupleFormatsOf, findKey, rawString, tupleObject } = require('./msgpack')
const { Schema } = require('./schema')
const { unsupported } = require('./protocol')
const K = require('./iproto').IPROTO
const build = require('./requests')
const { checkNumber, checkFunction, checkDeadline, describe, MILLISECONDS, BYTES, U32 } = require('./args')

const RECONNECT_DEFAULTS = Object.freeze({ initialDelay: 100, maxDelay: 5000, maxRetries: Infinity })
const DEFAULT_OFFLINE_QUEUE_LIMIT = 10000
const kCreate = Symbol('kharon.connection')

/**
 * The DATA (0x30) of a response body in buf[start..end]. `objects`: 3.x tuples (MP_TUPLE)
 * become objects keyed by the field names in the body's TUPLE_FORMATS.
 */
function dataOf(buf, start = 0, end = buf.length, objects = false) {
  if (end === start) return undefined
  if (objects) return decode(buf, start, end, tupleFormatsOf(buf, start, end))[K.DATA]
  // Most bodies are {0x30: ...}; on 3.x often {0x30: ..., 0x60: formats}: DATA comes first.
  if ((buf[start] === 0x81 || buf[start] === 0x82) && buf[start + 1] === 0x30) return decode(buf, start + 2, end)
  return decode(buf, start, end)[K.DATA]
}

/** The result of call/eval: a thenable of the return values and an async iterable of pushes. */
class Call extends Response {
  constructor(transport, highWaterMark, onPush, onPushCtx, objects) {
    super(transport, highWaterMark, onPush, onPushCtx)
    this._objects = objects
  }

  _pushValue(chunk) {
    return dataOf(chunk, 0, chunk.length, this._objects)[0]
  }

  // Decodes straight from the delivery: no Buffer made for the body.
  _complete(data, start, end) {
    let value
    try {
      value = dataOf(data, start, end, this._objects)
    } catch (err) {
      return this._settle(err)
    }
    this._settleValue(value)
  }
}

/** A request resolved into a native promise with a decoding step (no pushes expected). */
class Decoded {
  constructor(resolve, reject, decodeBody) {
    this._resolve = resolve
    this._reject = reject
    this._decode = decodeBody
    this._transport = null
    this._timer = null
    this._signal = null
    this._onAbort = null
  }

  _push() {}

  _complete(data, start, end) {
    let value
    try {
      value = this._decode(data, start, end)
    } catch (decodeErr) {
      return this._reject(decodeErr)
    }
    this._resolve(value)
  }

  /** Failures only: successes arrive through _complete. */
  _settle(err) {
    this._reject(err)
  }
}

function checkOptions(opts) {
  if (opts !== undefined && opts !== null && typeof opts !== 'object') throw new TypeError('options must be an object')
  return opts || {}
}

function checkName(v, what) {
  if (typeof v !== 'string' || v === '') throw new TypeError(`${what} must be a non-empty string`)
}

function checkArray(v, what) {
  if (!Array.isArray(v)) throw new TypeError(`${what} must be an array`)
}

function checkSpace(space) {
  if (typeof space === 'number') checkNumber(space, 'space id', U32)
  else if (typeof space !== 'string') throw new TypeError(`space must be a name or an integer id, got ${describe(space)}`)
}

function checkIndex(index) {
  if (typeof index === 'number') checkNumber(index, 'index id', U32)
  else if (typeof index !== 'string') throw new TypeError(`index must be a name or an integer id, got ${describe(index)}`)
}

function checkBoolean(v, name) {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`)
  return v
}

function checkTuplesMode(mode) {
  if (mode !== undefined && mode !== 'arrays' && mode !== 'objects') {
    throw new TypeError("tuples must be 'arrays' or 'objects'")
  }
  return mode
}

/**
 * Parses 'host:port', 'port', 'user:pass@host:port', 'unix/:/path/to.sock',
 * 'user:pass@unix/:/path' (an optional 'tarantool://' prefix is allowed).
 */
function parseUri(uri) {
  let rest = uri.replace(/^tarantool:\/\//, '')
  const out = {}
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = userinfo.indexOf(':')
    out.user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon))
    if (colon >= 0) out.password = decodeURIComponent(userinfo.slice(colon + 1))
  }
  if (rest.startsWith('unix/:')) {
    out.path = rest.slice('unix/:'.length)
    return out
  }
  if (/^\d+$/.test(rest)) {
    out.port = Number(rest)
    return out
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(rest)
  if (m === null) {
    // Whatever stood before '@' may hold a password: never show it.
    const shown = at >= 0 ? `***@${rest}` : rest
    throw new TypeError(`cannot parse the URI ${JSON.stringify(shown)}: expected host:port, port or unix/:path`)
  }
  out.host = m[1].replace(/^\[|\]$/g, '')
  out.port = Number(m[2])
  return out
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
class Connection extends EventEmitter {
  #transport
  #schema
  #tuples
  #fetchSchema
  #timeout
  #connectOptions
  #reconnect
  #offlineQueue
  #offlineQueueLimit
  #queue = []
  #state = 'connected'
  #attempt = 0
  #reconnectTimer = null
  #lastError = null
  #closing = null

  /** Use connect(). */
  constructor(token, transport, connectOptions, options) {
    if (token !== kCreate) throw new TypeError('use connect() to create a Connection')
    super()
    this.#connectOptions = connectOptions
    this.#tuples = options.tuples || 'arrays'
    this.#fetchSchema = options.fetchSchema
    this.#timeout = options.timeout
    this.#reconnect = options.reconnect
    this.#offlineQueue = options.offlineQueue
    this.#offlineQueueLimit = options.offlineQueueLimit
    this.#schema = new Schema((spaceId) => this.#fetchSpace(spaceId))
    this.#adopt(transport)
  }

  /** The raw Transport underneath (a new one after each reconnect). */
  get transport() {
    return this.#transport
  }

  /** 'connected', 'reconnecting', 'closing' or 'closed'. */
  get state() {
    return this.#state
  }

  /** Requests waiting for a reconnect. */
  get queued() {
    return this.#queue.length
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

  ping(opts) {
    return this.#request(K.PING, '', () => undefined, checkOptions(opts))
  }

  /** Calls a stored function. Resolves to its return values; iterate for its pushes. */
  call(name, args = [], opts) {
    checkName(name, 'function name')
    checkArray(args, 'args')
    return this.#withPushes(K.CALL, build.call(name, args), opts)
  }

  /** Evaluates Lua. Resolves to its return values; iterate for its pushes. */
  eval(expr, args = [], opts) {
    if (typeof expr !== 'string') throw new TypeError('expr must be a string')
    checkArray(args, 'args')
    return this.#withPushes(K.EVAL, build.evaluate(expr, args), opts)
  }

  /**
   * Selects tuples. With `fetchPos: true` (2.11+) resolves to `{ tuples, position }`, where
   * `position` (opaque bytes, or null after the last tuple) passed as `after` gets the next page;
   * `after` also takes a tuple.
   */
  select(space, index = 0, key = [], opts) {
    checkSpace(space)
    checkIndex(index)
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    const paging = build.checkPaging(opts)
    build.select(0, 0, key, opts) // validates limit, offset, iterator and key before any await
    if (paging && !this.#transport._serverHas('pagination')) {
      // 2.6 would ignore the keys and return the first page every time.
      return Promise.reject(unsupported('pagination', 'select with after or fetchPos', this.#transport.serverVersion))
    }
    const decodeSelect = opts.fetchPos === true
      ? (b, s, e, sid) => ({ tuples: this.#tuplesOf(b, s, e, sid, mode), position: positionOf(b, s, e) })
      : (b, s, e, sid) => this.#tuplesOf(b, s, e, sid, mode)
    return this.#route(space, index, this.#needsFormat(mode), (sid, iid) =>
      this.#request(K.SELECT, build.select(sid, iid, key, opts), (b, s, e) => decodeSelect(b, s, e, sid), opts))
  }

  insert(space, tuple, opts) {
    return this.#writeTuple(K.INSERT, space, tuple, opts)
  }

  replace(space, tuple, opts) {
    return this.#writeTuple(K.REPLACE, space, tuple, opts)
  }

  update(space, index, key, ops, opts) {
    checkSpace(space)
    checkIndex(index)
    checkArray(ops, 'ops')
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#route(space, index, this.#needsFormat(mode), (sid, iid) =>
      this.#request(K.UPDATE, build.update(sid, iid, key, ops), (b, s, e) => this.#firstTuple(b, s, e, sid, mode), opts))
  }

  upsert(space, tuple, ops, opts) {
    checkSpace(space)
    checkArray(ops, 'ops')
    opts = checkOptions(opts)
    return this.#route(space, 0, !Array.isArray(tuple), (sid) =>
      this.#request(K.UPSERT, build.upsert(sid, this.#tupleArray(sid, tuple), ops), () => undefined, opts))
  }

  delete(space, index, key, opts) {
    checkSpace(space)
    checkIndex(index)
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#route(space, index, this.#needsFormat(mode), (sid, iid) =>
      this.#request(K.DELETE, build.del(sid, iid, key), (b, s, e) => this.#firstTuple(b, s, e, sid, mode), opts))
  }

  /** Runs SQL: { metadata: [{ name, type }], rows, rowCount?, autoincrementIds? }. */
  execute(sql, params = [], opts) {
    if (typeof sql !== 'string') throw new TypeError('sql must be a string')
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#request(K.EXECUTE, build.execute(sql, params), (b, s, e) => sqlResult(b, s, e, mode), opts)
  }

  /** Prepares SQL on the server; the statement runs with stmt.execute(params). */
  prepare(sql, opts) {
    if (typeof sql !== 'string') throw new TypeError('sql must be a string')
    return this.#request(K.PREPARE, build.prepare(sql), (b, s, e) => new PreparedStatement(this, decode(b, s, e)), checkOptions(opts))
  }

  /**
   * Closes gracefully: new requests fail at once, those in flight may finish (for at most
   * `timeout` ms when given), then the socket closes. Requests waiting for a reconnect fail.
   */
  close(options) {
    options = checkOptions(options)
    if (options.timeout !== undefined) checkNumber(options.timeout, 'timeout', MILLISECONDS)
    if (this.#closing !== null) return this.#closing
    const wasConnected = this.#state === 'connected'
    this.#stopReconnecting(closedError())
    this.#state = 'closing'
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
    this.#stopReconnecting(closedError())
    if (this.#closing === null) this.#closing = Promise.resolve()
    this.#finish()
  }

  [Symbol.asyncDispose]() {
    return this.close()
  }

  #finish() {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#transport.close()
    this.emit('close')
  }

  #adopt(transport) {
    this.#transport = transport
    transport.once('close', (err) => this.#lost(transport, err))
  }

  // The socket is gone: what was in flight has failed; reconnect unless told not to.
  #lost(transport, err) {
    if (transport !== this.#transport || this.#state !== 'connected') return
    this.#lastError = err
    // The state moves first, so a request made by a 'disconnect' listener is queued (or
    // refused) rather than sent on the dead transport.
    this.#state = this.#reconnect === false ? 'closed' : 'reconnecting'
    this.#attempt = 0
    this.emit('disconnect', err)
    if (this.#state === 'closed') {
      this.#stopReconnecting(err)
      this.emit('close')
    } else if (this.#state === 'reconnecting' && this.#reconnectTimer === null) {
      this.#scheduleReconnect()
    }
  }

  #scheduleReconnect() {
    this.#attempt++
    const { initialDelay, maxDelay, maxRetries } = this.#reconnect
    if (this.#attempt > maxRetries) {
      const err = new ConnectionError(
        `gave up reconnecting after ${maxRetries} attempts: ${this.#lastError.message}`,
        this.#lastError.code, { cause: this.#lastError },
      )
      this.#stopReconnecting(err)
      this.#state = 'closed'
      if (this.listenerCount('error') > 0) this.emit('error', err)
      this.emit('close')
      return
    }
    const base = Math.min(maxDelay, initialDelay * 2 ** (this.#attempt - 1))
    const delay = Math.round(base / 2 + (Math.random() * base) / 2)
    this.emit('reconnecting', { attempt: this.#attempt, delay, error: this.#lastError })
    this.#reconnectTimer = setTimeout(this.#tryReconnect, delay)
    // An idle client must not keep Node alive while it waits to reconnect.
    if (this.#queue.length === 0) this.#reconnectTimer.unref()
  }

  #tryReconnect = async () => {
    this.#reconnectTimer = null
    let transport
    try {
      transport = await Transport.connect(this.#connectOptions)
    } catch (err) {
      if (this.#state !== 'reconnecting') return
      this.#lastError = err
      this.#scheduleReconnect()
      return
    }
    if (this.#state !== 'reconnecting') {
      transport.close()
      return
    }
    this.#adopt(transport)
    this.#state = 'connected'
    this.#attempt = 0
    const queue = this.#queue
    this.#queue = []
    for (const q of queue) this.#release(q, (timeout) => transport._send(q.type, q.body, q.entry, { timeout, signal: q.signal }))
    this._init().then(() => {
      if (this.#transport === transport && this.#state === 'connected') this.emit('connect')
    }, () => {})
  }

  #stopReconnecting(err) {
    if (this.#reconnectTimer !== null) {
      clearTimeout(this.#reconnectTimer)
      this.#reconnectTimer = null
    }
    const queue = this.#queue
    this.#queue = []
    for (const q of queue) this.#release(q, () => q.entry._settle(err))
  }

  // Sends now, queues while reconnecting, fails once closed.
  #dispatch(type, body, entry, options) {
    if (this.#state === 'connected') {
      this.#transport._send(type, body, entry, options)
      return
    }
    checkDeadline(options)
    let err = null
    if (this.#state !== 'reconnecting') err = closedError()
    else if (!this.#offlineQueue) {
      err = new ConnectionError(`not connected (${this.#lastError.message})`, 'ERR_NOT_CONNECTED', { cause: this.#lastError })
    } else if (this.#queue.length >= this.#offlineQueueLimit) {
      err = new ConnectionError(`offline queue is full (${this.#offlineQueueLimit} requests)`, 'ERR_OFFLINE_QUEUE_FULL')
    } else if (options?.signal?.aborted) err = abortError(options.signal)
    if (err !== null) {
      process.nextTick(() => entry._settle(err))
      return
    }
    this.#enqueue(type, body, entry, options)
  }

  #enqueue(type, body, entry, options) {
    const timeout = options?.timeout ?? undefined
    const q = {
      type,
      // The shared encoder is reused by the next request: keep a copy.
      body: typeof body === 'string' ? body : Buffer.from(body),
      entry,
      signal: options?.signal ?? undefined,
      deadline: timeout === undefined ? undefined : performance.now() + timeout,
      timer: null,
      onAbort: null,
    }
    const drop = (err) => {
      const i = this.#queue.indexOf(q)
      if (i < 0) return
      this.#queue.splice(i, 1)
      this.#release(q, () => entry._settle(err))
    }
    if (timeout !== undefined) {
      q.timer = setTimeout(() => drop(new TimeoutError(`request timed out after ${timeout} ms (waiting for a reconnect)`)), timeout)
    }
    if (q.signal !== undefined) {
      q.onAbort = () => drop(abortError(q.signal))
      q.signal.addEventListener('abort', q.onAbort, { once: true })
    }
    this.#queue.push(q)
    // Someone waits for the reconnect now: it must keep Node alive.
    if (this.#reconnectTimer !== null) this.#reconnectTimer.ref()
  }

  // Unhooks a queued request from its timer and signal, then hands it on with what is left
  // of its timeout.
  #release(q, next) {
    if (q.timer !== null) clearTimeout(q.timer)
    if (q.onAbort !== null) q.signal.removeEventListener('abort', q.onAbort)
    next(q.deadline === undefined ? undefined : Math.max(0, q.deadline - performance.now()))
  }

  #fetchSpace(spaceId) {
    return new Promise((resolve, reject) => {
      const decodeSpace = (b, s, e) => ({ tuples: dataOf(b, s, e) || [], schemaVersion: this.#transport.schemaVersion })
      this.#dispatch(K.SELECT, build.select(spaceId, 0, [], { iterator: 'ALL' }), new Decoded(resolve, reject, decodeSpace))
    })
  }

  /** Fetches the schema at connect (unless `fetchSchema: false`). */
  _init() {
    return this.#fetchSchema ? this.#schema.refresh() : Promise.resolve()
  }

  _executePrepared(stmtId, params, opts) {
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#request(K.EXECUTE, build.execute(stmtId, params), (b, s, e) => sqlResult(b, s, e, mode), opts)
  }

  _unprepare(stmtId, opts) {
    return this.#request(K.PREPARE, build.unprepare(stmtId), () => undefined, checkOptions(opts))
  }

  #writeTuple(type, space, tuple, opts) {
    checkSpace(space)
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#route(space, 0, this.#needsFormat(mode) || !Array.isArray(tuple), (sid) =>
      this.#request(type, build.tuple(sid, this.#tupleArray(sid, tuple)), (b, s, e) => this.#firstTuple(b, s, e, sid, mode), opts))
  }

  #withPushes(type, body, opts) {
    opts = checkOptions(opts)
    const onPush = opts.onPush
    if (onPush !== undefined) checkFunction(onPush, 'onPush')
    const hwm = opts.highWaterMark === undefined
      ? this.#transport.pushHighWaterMark
      : checkNumber(opts.highWaterMark, 'highWaterMark', BYTES)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    const result = new Call(this.#transport, hwm, onPush, opts.onPushCtx, mode === 'objects')
    this.#dispatch(type, body, result, this.#deadline(opts))
    return result
  }

  #request(type, body, decodeBody, opts) {
    const options = this.#deadline(opts)
    return new Promise((resolve, reject) => {
      this.#dispatch(type, body, new Decoded(resolve, reject, decodeBody), options)
    })
  }

  // Applies the connection-wide default timeout.
  #deadline(opts) {
    if (opts === undefined || opts === null) return this.#timeout === undefined ? undefined : { timeout: this.#timeout }
    if (opts.timeout !== undefined || this.#timeout === undefined) return opts
    return { timeout: this.#timeout, signal: opts.signal }
  }

  // Whether results in `mode` need field names from the schema: objects, from a server that
  // does not send tuples with their formats (before 3.0).
  #needsFormat(mode) {
    return mode === 'objects' && !this.#transport._uses('dml_tuple_extension')
  }

  // Runs `send(space, index)` with what the request names them by. Names go on the wire as
  // they are when the server takes them (3.x), unless the schema is needed anyway
  // (`needsFormat`: the space's field names will be used). Otherwise names become ids through
  // the schema: at once when it is fresh, else after the (shared) refetch.
  #route(space, index, needsFormat, send) {
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

  #tupleArray(spaceId, tuple) {
    if (Array.isArray(tuple)) return tuple
    if (tuple === null || typeof tuple !== 'object') throw new TypeError('tuple must be an array or an object')
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

  #tuplesOf(buf, start, end, space, mode) {
    const objects = mode === 'objects'
    const rows = dataOf(buf, start, end, objects) || []
    // 3.x tuples come with their formats and are objects already.
    if (!objects || !this.#needsFormat(mode)) return rows
    const names = (typeof space === 'number' && this.#schema.fieldNames(space)) || []
    return rows.map((row) => tupleObject(row, names))
  }

  #firstTuple(buf, start, end, spaceId, mode) {
    const rows = this.#tuplesOf(buf, start, end, spaceId, mode)
    return rows.length === 0 ? null : rows[0]
  }
}

/** A select's POSITION (0x35) as its exact bytes; null when the page was empty. */
function positionOf(buf, start, end) {
  const at = end > start ? findKey(buf, start, end, K.POSITION) : null
  return at === null ? null : rawString(buf, at[0], at[1])
}

function sqlResult(buf, start, end, mode) {
  const m = end === start ? {} : decode(buf, start, end)
  const metadata = (m[K.METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
  let rows = m[K.DATA] || []
  if (mode === 'objects' && metadata.length > 0) {
    const names = metadata.map((f) => f.name)
    rows = rows.map((row) => tupleObject(row, names))
  }
  const result = { metadata, rows }
  const info = m[K.SQL_INFO]
  if (info !== undefined) {
    result.rowCount = info[0]
    if (info[1] !== undefined) result.autoincrementIds = info[1]
  }
  return result
}

/** A statement prepared on the server (PREPARE). */
class PreparedStatement {
  #conn

  constructor(conn, body) {
    this.#conn = conn
    this.id = body[K.STMT_ID]
    this.bindCount = body[K.BIND_COUNT]
    this.params = (body[K.BIND_METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
    this.metadata = (body[K.METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
  }

  execute(params = [], opts) {
    return this.#conn._executePrepared(this.id, params, opts)
  }

  unprepare(opts) {
    return this.#conn._unprepare(this.id, opts)
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
  const transport = await Transport.connect(connectOptions)
  const conn = new Connection(kCreate, transport, connectOptions, client)
  try {
    await conn._init()
  } catch (err) {
    conn.destroy()
    throw err
  }
  return conn
}

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

module.exports = { connect, Connection, Call, PreparedStatement, parseUri }
