'use strict'

const { EventEmitter } = require('node:events')
const native = require('../binding.js')
const { KharonError, ConnectionError, TimeoutError, fromInfo, fromErrorResponse, abortError, closedError, throwLater } = require('./errors')
const { PROTOCOL_VERSION, FEATURE_NAMES, protocolOf, offeredFeatureIds, checkRequired, requirementError } = require('./protocol')
const { Response, CallbackRequest, DEFAULT_HIGH_WATER_MARK, DEFAULT_MAX_BUFFERED_PUSHES, META_WORDS } = require('./response')
const { checkNumber, checkFunction, checkDeadline, describe, U32, MILLISECONDS, BYTES } = require('./args')
const { debug, addressOf } = require('./debug')
const { view, copyOf } = require('./views')
const { SyncTable } = require('./sync-table')
const { Encoder } = require('./msgpack')

// Writes through a connection's writeHandle: a plain Node-API call (src/binding/frame_writer.rs).
const writeFrames = native.frameWriter()

const CHUNK = 0x80
const EVENT = 76
const PING = 64
/**
 * While anything is pending (or always, with `idle`) and nothing has come for `interval` ms, a
 * PING goes out; no byte within `timeout` ms of it and the connection is declared dead. A
 * frozen server is found within 8 s; a healthy one answers PING even while long calls run.
 */
const HEARTBEAT_DEFAULTS = Object.freeze({ interval: 3000, timeout: 5000, idle: false })
const HEARTBEAT_MIN = 50
/** Bytes encoded but not yet taken by the kernel, at most (a frozen server stops taking them). */
const DEFAULT_MAX_WRITE_QUEUE = 32 * 1024 * 1024
const DEFAULT_CONNECT_TIMEOUT = 10000
// How often a backlog is looked at until it drains.
const DRAIN_POLL_MS = 5
const ERROR_FLAG = 0x8000
// Longest request head: 0xce size(4) + map(1) + key(1) + type(<=5) + key(1) + 0xce sync(4)
// + key(1) + stream id (<=9).
const MAX_HEAD = 27
const STREAM_ID = 0x0a
const INITIAL_OUT = 64 * 1024
// Requests encoded in one tick go out in one write (after the one that found the connection
// idle, which leaves at once), except that every this many leave at once: a long run of them
// (a window of calls refilled as responses come) then keeps the server busy while the rest are
// encoded, instead of server and client taking turns (1.5x the rate of 1,000 small calls in
// flight). Bodies of any size: a count, so big ones add no syscalls.
const EARLY_WRITE_REQUESTS = 512
const EMPTY = Buffer.alloc(0)
const kConnect = Symbol('kharon.connect')

/**
 * The raw IPROTO transport: sends request bodies already encoded as MessagePack and hands
 * back raw response bodies. Requests issued in one JS tick leave in one write (one per 512
 * in a long run).
 *
 * Events: 'close' (err?) once, when the connection ends for any reason.
 */
class Transport extends EventEmitter {
  #native
  #pending = new SyncTable()
  // SYNCs given up on (timeout, abort) whose response has not come yet: not reused until it
  // comes, so a late response can never be taken for a newer request's.
  #forgotten = new Set()
  #nextSync = 1
  #closed = false
  #endError = null
  #out = Buffer.allocUnsafe(INITIAL_OUT)
  #outLen = 0
  // Requests in #out.
  #unsent = 0
  #flushQueued = false
  #pausedBy = 0
  #highWaterMark
  #maxBufferedPushes
  // Push bytes kept for pending requests nobody iterates yet (see Response#_keep).
  #bufferedPushes = 0
  #idleWaiters = []
  #holds = 0
  // Whether the native side keeps Node alive now (see #becameBusy, #releaseLater).
  #referenced = false
  #releaseQueued = false
  #heartbeat
  #maxPending
  #maxWriteQueue
  #backlog = 0
  #drainTimer = null
  #wantDrain = false
  #lastRead = 0
  #pingSentAt = 0
  // The meta index of the frame being delivered (see _deliver).
  #frameAt = 0
  #beat = null
  #protocol
  #serverFeatures
  #sessionFeatures
  #pushCount = 0
  #bytesSent = 0
  // Where small deliveries come (the same bytes every time: what is kept is copied), and the
  // view of it that the decoders read.
  #landing
  #landingView
  #writeHandle

  /** Use Transport.connect(). */
  constructor(token, nativeConnection, options) {
    if (token !== kConnect) throw new TypeError('use Transport.connect() to create a Transport')
    super()
    this.#native = nativeConnection
    this.#writeHandle = nativeConnection.writeHandle
    this.#landing = nativeConnection.landing
    this.#landingView = view(this.#landing, 0, this.#landing.length)
    this.#highWaterMark = options.pushHighWaterMark
    this.#maxBufferedPushes = options.maxBufferedPushes
    this.#heartbeat = options.heartbeat
    this.#maxPending = options.maxPending
    this.#maxWriteQueue = options.maxWriteQueue
    this.schemaVersion = 0
    this.serverVersion = nativeConnection.serverVersion
    this.#protocol = protocolOf(nativeConnection.protocolVersion, nativeConnection.protocolFeatures)
    this.#serverFeatures = new Set(this.#protocol.features)
    // The session's features: what was offered, as far as the server has it.
    const offered = options.native.features || []
    this.#sessionFeatures = new Set(offered.map((id) => FEATURE_NAMES[id]).filter((f) => this.#serverFeatures.has(f)))
    /** Called with each EVENT (2.10+ watchers) body: (data, start, end). */
    this._onEvent = null
    if (this.#heartbeat !== null && this.#heartbeat.idle) this.#startHeartbeat()
  }

  /**
   * The server's side of IPROTO_ID: `{ version, features }` (feature names as net.box spells
   * them). `{ version: 0, features: [] }` for servers before 2.10, which have no ID.
   */
  get protocol() {
    return this.#protocol
  }

  /** Whether the session uses `feature`: kharon offered it and the server has it. */
  _uses(feature) {
    return this.#sessionFeatures.has(feature)
  }

  /** Whether the server has `feature`, offered or not (a request kind it serves). */
  _serverHas(feature) {
    return this.#serverFeatures.has(feature)
  }

  /**
   * Connects (and authenticates when `user` is given).
   * connect(port, host?, callback?) or connect({ host, port, path, user, password,
   * connectTimeout, maxFrameSize, pushHighWaterMark, features, required }, callback?).
   * With a 2.10+ server, IPROTO_ID is exchanged first, offering `features` (default: all that
   * kharon implements); `required: { version, features }` refuses a server that lacks them.
   */
  static connect(portOrOptions, host, callback) {
    if (typeof host === 'function') {
      callback = host
      host = undefined
    }
    // A bad callback throws (there is nothing to report to); without a callback, bad arguments
    // reject the promise connect() returns, as every promise-returning method does.
    if (callback !== undefined) checkFunction(callback, 'callback')
    let options
    try {
      const takesHost = typeof portOrOptions === 'number' || typeof portOrOptions === 'string'
      if (host !== undefined && host !== null && !(takesHost && typeof host === 'string')) {
        const expected = takesHost ? 'a host string or a callback' : 'a callback'
        throw new TypeError(`the second argument of connect() must be ${expected}, got ${describe(host)}`)
      }
      options = normalizeConnectOptions(portOrOptions, host)
    } catch (err) {
      if (callback === undefined) return Promise.reject(err)
      throw err
    }
    const promise = openTransport(options)
    if (callback === undefined) return promise
    promise.then((t) => callback(null, t), (err) => callback(err))
    return undefined
  }

  /** Pushes (IPROTO_CHUNK) received on this connection. */
  get pushCount() {
    return this.#pushCount
  }

  /** Bytes of requests handed to the socket. */
  get bytesSent() {
    return this.#bytesSent
  }

  /** Bytes read from the socket after the handshake. */
  get bytesReceived() {
    return this.#native.bytesReceived
  }

  /** Number of requests awaiting their final response. */
  get pending() {
    return this.#pending.size
  }

  /** The SYNC the next request will get (u32; wraps to 0, skipping ids still in use). */
  get nextSync() {
    let sync = this.#nextSync
    while (this.#inUse(sync)) sync = (sync + 1) >>> 0
    return sync
  }

  set nextSync(sync) {
    checkNumber(sync, 'nextSync', U32)
    this.#nextSync = sync
  }

  get closed() {
    return this.#closed
  }

  /** What the connection ended with (null while it is open). */
  get _endError() {
    return this.#endError
  }

  /**
   * Sends one request. `body` is an encoded MessagePack map (Buffer or Uint8Array), a
   * binary (latin1) string, or empty/omitted for none. With a callback, `callback(err, body)`;
   * without, returns a Response: a promise of the final body that is also an async iterable
   * of the pushes. Options: { onPush(chunk, ctx), onPushCtx, highWaterMark, timeout, signal }.
   */
  request(type, body, options, callback) {
    if (typeof body === 'function') {
      callback = body
      body = undefined
      options = undefined
    } else if (typeof options === 'function') {
      callback = options
      options = undefined
    }
    // A bad callback throws; with no callback, bad arguments reject the Response returned.
    if (callback !== undefined) checkFunction(callback, 'callback')
    let onPush
    let onPushCtx
    let highWaterMark = this.#highWaterMark
    try {
      checkNumber(type, 'request type', U32)
      if (body === undefined || body === null) body = EMPTY
      else if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
        throw new TypeError(`body must be a Buffer, Uint8Array or string, got ${describe(body)}`)
      }
      if (options !== undefined && options !== null) {
        if (typeof options !== 'object') throw new TypeError('options must be an object')
        onPush = options.onPush
        onPushCtx = options.onPushCtx
        if (onPush !== undefined) checkFunction(onPush, 'onPush')
        if (options.highWaterMark !== undefined) highWaterMark = checkNumber(options.highWaterMark, 'highWaterMark', BYTES)
      }
      checkDeadline(options)
    } catch (err) {
      if (callback === undefined) return this.#refused(err)
      throw err
    }
    if (callback !== undefined) {
      this._send(type, body, new CallbackRequest(callback, onPush, onPushCtx), options)
      return undefined
    }
    const entry = new Response(this, highWaterMark, onPush, onPushCtx)
    const promise = entry._promised()
    this._send(type, body, entry, options)
    return promise
  }

  // A Response failed with `err` before anything was sent: a promise that also iterates (and
  // rejects there too), like any other.
  #refused(err) {
    const entry = new Response(this, this.#highWaterMark, undefined, undefined)
    const promise = entry._promised()
    entry._settle(err)
    return promise
  }

  /** Bytes more of pushes the connection keeps for requests nobody iterates yet. */
  _pushRoom() {
    return this.#maxBufferedPushes - this.#bufferedPushes
  }

  _countPushes(bytes) {
    this.#bufferedPushes += bytes
  }

  /** Push bytes held for pending requests nobody iterates yet (at most maxBufferedPushes). */
  get bufferedPushes() {
    return this.#bufferedPushes
  }

  /** Default push buffer of this connection's requests, in bytes. */
  get pushHighWaterMark() {
    return this.#highWaterMark
  }

  /**
   * Sends a request whose outcome goes to `entry` (a Response or CallbackRequest; the client
   * passes subclasses that decode). `body`: as for request(), or the client's Encoder.
   * `options` may carry `timeout` (ms) and `signal`, already checked by the caller
   * (checkDeadline); `streamId` (2.10+ streams) goes in the header when it is not 0.
   */
  _send(type, body, entry, options, streamId = 0) {
    const timeout = options == null ? undefined : options.timeout
    const signal = options == null ? undefined : options.signal
    if (this.#closed) {
      process.nextTick(() => entry._settle(closedError()))
      return
    }
    if (signal != null && signal.aborted) {
      process.nextTick(() => entry._settle(abortError(signal)))
      return
    }
    if (this.#pending.size >= this.#maxPending) {
      const err = new KharonError(`${this.#pending.size} requests are pending, the most maxPending allows`, 'ERR_TOO_MANY_PENDING')
      process.nextTick(() => entry._settle(err))
      return
    }
    const bodyLen = typeof body === 'string' ? Buffer.byteLength(body, 'latin1') : body.length
    if (this.#outLen + this.#backlog + bodyLen + MAX_HEAD > this.#maxWriteQueue) {
      const err = new KharonError(
        `the write queue is full: ${this.#outLen + this.#backlog} bytes wait for the socket (maxWriteQueue ${this.#maxWriteQueue})`,
        'ERR_WRITE_QUEUE_FULL',
      )
      this.#wantDrain = true
      this.#watchDrain()
      process.nextTick(() => entry._settle(err))
      return
    }
    const sync = this.#takeSync()
    this.#encode(type, sync, body, streamId, bodyLen)
    if (entry._trace !== null) {
      // A request that waited for a reconnect may go to another server than it was issued to.
      entry._trace.sync = sync
      entry._trace.serverVersion = this.serverVersion
    }
    if (this.#pending.size === 0 && this.#holds === 0) this.#becameBusy()
    this.#pending.add(sync, entry)
    // Push backpressure goes to the connection that carries the request (after a reconnect,
    // not the one it was created on).
    entry._transport = this
    if (timeout != null) entry._timer = setTimeout(this.#expire, timeout, sync, timeout)
    if (signal != null) {
      entry._signal = signal
      entry._onAbort = () => this.#forget(sync, abortError(signal))
      signal.addEventListener('abort', entry._onAbort, { once: true })
    }
  }

  #expire = (sync, ms) => {
    this.#forget(sync, new TimeoutError(`request timed out after ${ms} ms`))
  }

  /** Fails a pending request now (its answer, when it comes, is dropped). */
  _fail(entry, err) {
    this.#forget(entry._sync, err)
  }

  // Gives up on a request: a late response to its SYNC is dropped on arrival.
  #forget(sync, err) {
    const entry = this.#pending.get(sync)
    if (entry === undefined) return
    this.#pending.delete(entry)
    this.#forgotten.add(sync)
    if (this.#pending.size === 0) this.#becameIdle()
    release(entry)
    entry._settle(err)
  }

  /** Resolves once no request is pending (at once if none is). */
  _idle() {
    if (this.#pending.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Sends a request that gets no response (WATCH, UNWATCH): nothing waits for it, so it does
   * not keep Node alive and nothing fails when the connection goes.
   */
  _notify(type, body) {
    if (this.#closed) return
    this.#encode(type, this.#takeSync(), body, 0, body.length)
  }

  /**
   * Bytes of requests not yet taken by the kernel: encoded this tick, or written and waiting
   * for the socket (a slow or frozen server). Past maxWriteQueue requests are refused; 'drain'
   * says when there is room again.
   */
  get writableLength() {
    return this.#outLen + (this.#closed ? 0 : this.#native.writeBacklog)
  }

  // Looks at the backlog until it is gone; then 'drain', if a request was refused meanwhile.
  #watchDrain() {
    if (this.#drainTimer !== null || this.#closed) return
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = null
      if (this.#closed) return
      this.#backlog = this.#native.writeBacklog
      if (this.#backlog > 0 || this.#outLen > 0) return this.#watchDrain()
      if (this.#wantDrain) {
        this.#wantDrain = false
        this.emit('drain')
      }
    }, DRAIN_POLL_MS)
    this.#drainTimer.unref()
  }

  /** Keeps Node alive while held (an open Watcher), as a pending request does. */
  _hold() {
    if (this.#closed) return
    if (this.#holds++ === 0 && this.#pending.size === 0) this.#becameBusy()
  }

  #becameBusy() {
    if (!this.#referenced) {
      this.#referenced = true
      this.#native.ref()
    }
    this.#startHeartbeat()
  }

  #startHeartbeat() {
    if (this.#heartbeat === null || this.#beat !== null) return
    // Silence is counted from now: the connection had no reason to hear anything before.
    this.#lastRead = performance.now()
    this.#pingSentAt = 0
    this.#schedule(this.#heartbeat.interval)
  }

  #schedule(ms) {
    this.#beat = setTimeout(this.#onBeat, ms)
    // Pending requests keep Node alive, not the heartbeat.
    this.#beat.unref()
  }

  #onBeat = () => {
    this.#beat = null
    const { interval, timeout, idle } = this.#heartbeat
    if (this.#closed || (!idle && this.#pending.size === 0 && this.#holds === 0)) return
    const now = performance.now()
    // Reading is held back for a slow push consumer: bytes the server sent meanwhile wait in
    // the socket, and they prove it alive as well as bytes read would.
    if (this.#pausedBy > 0 && this.#native.hasUnreadBytes) this.#lastRead = now
    if (this.#pingSentAt !== 0 && this.#lastRead < this.#pingSentAt) {
      if (now - this.#pingSentAt >= timeout) return this.#silent(now)
      return this.#schedule(this.#pingSentAt + timeout - now)
    }
    if (this.#pingSentAt !== 0 && debug.enabled) debug('heartbeat: the server is alive (bytes came %d ms after PING)', Math.round(this.#lastRead - this.#pingSentAt))
    this.#pingSentAt = 0
    const quiet = now - this.#lastRead
    if (quiet < interval) return this.#schedule(interval - quiet)
    if (debug.enabled) debug('heartbeat: PING after %d ms of silence', Math.round(quiet))
    this._notify(PING, EMPTY)
    this.#pingSentAt = now
    this.#schedule(timeout)
  }

  // No byte came, not even the answer to a PING: the server is frozen or out of reach.
  #silent(now) {
    const err = new ConnectionError(
      `the server sent nothing for ${Math.round(now - this.#lastRead)} ms, not even an answer to PING within ${this.#heartbeat.timeout} ms`,
      'ETIMEDOUT',
    )
    if (debug.enabled) debug('heartbeat: the server is dead: %s', err.message)
    this.#end(err)
  }

  _unhold() {
    if (this.#closed) return
    if (--this.#holds === 0 && this.#pending.size === 0) this.#release()
  }

  // Nothing pending: Node may exit. Not at once, though: a caller awaiting one request after
  // another issues the next from the continuations this response runs, and a nextTick queued
  // from a microtask runs after all of them. So back-to-back requests cost no ref/unref
  // crossings (two of those cost more than a microsecond).
  #releaseLater() {
    if (this.#referenced && !this.#releaseQueued) {
      this.#releaseQueued = true
      queueMicrotask(this.#queueRelease)
    }
  }

  #queueRelease = () => process.nextTick(this.#releaseIfIdle)

  #releaseIfIdle = () => {
    this.#releaseQueued = false
    if (this.#pending.size === 0 && this.#holds === 0) this.#release()
  }

  #release() {
    if (this.#referenced) {
      this.#referenced = false
      this.#native.unref()
    }
  }

  #becameIdle() {
    // A burst may have grown the write buffer a lot: kept while the burst lasts (dropping it at
    // every flush left tens of MiB of garbage during a flood), not for the connection's life.
    if (this.#out.length > 16 * INITIAL_OUT && this.#outLen === 0) this.#out = Buffer.allocUnsafe(INITIAL_OUT)
    if (this.#holds === 0) {
      if (this.#closed) this.#release()
      else this.#releaseLater()
    }
    if (this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  /** Closes the connection; every pending request fails with ERR_CONNECTION_CLOSED. */
  close() {
    if (!this.#closed) this.#end(closedError())
    return Promise.resolve()
  }

  #takeSync() {
    let sync = this.#nextSync
    while (this.#inUse(sync)) sync = (sync + 1) >>> 0
    this.#nextSync = (sync + 1) >>> 0
    return sync
  }

  #inUse(sync) {
    // A slot taken by another SYNC rules this one out too: the table needs a free slot.
    return !this.#pending.fits(sync) || (this.#forgotten.size !== 0 && this.#forgotten.has(sync))
  }

  #encode(type, sync, body, streamId, bodyLen) {
    this.#reserve(MAX_HEAD + bodyLen)
    const out = this.#out
    const start = this.#outLen
    let p = start + 5
    out[start] = 0xce
    out[p++] = streamId === 0 ? 0x82 : 0x83
    out[p++] = 0x00
    if (type < 0x80) out[p++] = type
    else if (type < 0x100) { out[p++] = 0xcc; out[p++] = type }
    else if (type < 0x10000) { out[p++] = 0xcd; out.writeUInt16BE(type, p); p += 2 }
    else { out[p++] = 0xce; out.writeUInt32BE(type, p); p += 4 }
    out[p++] = 0x01
    out[p++] = 0xce
    putU32(out, p, sync)
    p += 4
    if (streamId !== 0) {
      out[p++] = STREAM_ID
      if (streamId < 0x80) out[p++] = streamId
      else if (streamId < 0x100000000) { out[p++] = 0xce; out.writeUInt32BE(streamId, p); p += 4 }
      else { out[p++] = 0xcf; out.writeBigUInt64BE(BigInt(streamId), p); p += 8 }
    }
    if (typeof body === 'string') p += out.latin1Write(body, p)
    else if (body instanceof Encoder) p = body.copyInto(out, p)
    else if (bodyLen > 0) {
      out.set(body, p)
      p += bodyLen
    }
    putU32(out, start + 1, p - start - 5)
    this.#outLen = p
    // While the kernel takes nothing (a backlog), writing early would only queue it in pieces.
    if (++this.#unsent >= EARLY_WRITE_REQUESTS && this.#backlog === 0) return this.#writeOut()
    if (!this.#flushQueued) {
      // On an idle connection (a caller awaiting each request) the request leaves at once:
      // there is nothing yet to coalesce it with, and its round trip starts before the
      // caller's remaining microtasks and a nextTick run. A burst begun on an idle
      // connection costs one write more. With requests in flight, more are likely to come
      // from other callbacks of this loop turn: they share the immediate's write.
      if (this.#pending.size === 0) return this.#writeOut()
      this.#flushQueued = true
      setImmediate(this.#flush)
    }
  }

  #reserve(extra) {
    const need = this.#outLen + extra
    if (need <= this.#out.length) return
    let size = this.#out.length * 2
    while (size < need) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.#out.copy(grown, 0, 0, this.#outLen)
    this.#out = grown
  }

  // Everything encoded in this turn of the event loop while requests are in flight leaves in
  // one crossing and usually one syscall (see EARLY_WRITE_REQUESTS). The flush runs after the
  // microtasks drain, so requests issued from a chain of promise continuations (await loops)
  // coalesce too; a microtask flush would run between them and write each alone.
  #flush = () => {
    this.#flushQueued = false
    this.#writeOut()
  }

  #writeOut() {
    this.#unsent = 0
    if (this.#outLen === 0) return
    if (!this.#closed) {
      const backlog = writeFrames(this.#writeHandle, view(this.#out, 0, this.#outLen))
      this.#bytesSent += this.#outLen
      this.#backlog = backlog < 0 ? 0 : backlog
      if (this.#backlog > 0) this.#watchDrain()
    }
    this.#outLen = 0
  }

  /** Whether `data` is the landing, whose bytes the next delivery overwrites. */
  _isLanding(data) {
    return data === this.#landingView
  }

  /** Body data[start..end] of a delivery as a Buffer that stays valid: copied out of the landing. */
  _body(data, start, end) {
    return data === this.#landingView ? copyOf(data, start, end) : view(data, start, end)
  }

  /**
   * Called by the binding with every frame read since its last call: meta[0..words) indexes
   * them in data, which is the landing for a small batch.
   */
  _deliver(data, meta, closed, words) {
    if (data !== undefined && !this.#closed) {
      if (this.#beat !== null) this.#lastRead = performance.now()
      // A Buffer made by napi has another hidden class than Buffers made in JS; decoding from
      // both made every byte read in the decoder polymorphic (a 10k-tuple select decoded 1.5x
      // slower once call replies had been decoded). A view per delivery keeps them alike.
      data = data === this.#landing ? this.#landingView : view(data, 0, data.length)
      // A user callback (a request's callback, onPush) that throws is an uncaught exception,
      // as from any event callback; the frames after it and the end still go where they belong.
      for (let i = 0; i < words;) {
        try {
          i = this.#deliverFrames(data, meta, i, words)
        } catch (err) {
          i = this.#frameAt + META_WORDS
          throwLater(err)
        }
      }
    }
    if (closed !== undefined && closed !== null && !this.#closed) {
      const err = fromInfo(closed)
      if (err.code === 'ERR_PROTOCOL' && debug.enabled) debug('protocol error, closing: %s', err.message)
      this.#end(err)
    }
  }

  // Hands frames meta[from..words) to their requests; returns where it stopped (words, or
  // anywhere once the transport has closed). #frameAt is the frame being handed over.
  #deliverFrames(data, meta, from, words) {
    const pending = this.#pending
    for (let i = from; i < words; i += META_WORDS) {
      if (this.#closed) return words
      this.#frameAt = i
      const status = meta[i]
      if (status === EVENT) {
        if (this._onEvent !== null) this._onEvent(data, meta[i + 3], meta[i + 4])
        continue
      }
      const entry = pending.get(meta[i + 1])
      if (entry === undefined) {
        if (status !== CHUNK && this.#forgotten.size !== 0) this.#forgotten.delete(meta[i + 1])
        continue
      }
      if (status === CHUNK) {
        // Pushes come in runs for one request: each run is handed over in one call.
        const sync = meta[i + 1]
        let to = i + META_WORDS
        while (to < words && meta[to] === CHUNK && meta[to + 1] === sync) to += META_WORDS
        this.#pushCount += (to - i) / META_WORDS
        this.#frameAt = to - META_WORDS
        entry._pushes(data, meta, i, to)
        i = to - META_WORDS
        continue
      }
      pending.delete(entry)
      if (pending.size === 0) this.#becameIdle()
      if (entry._timer !== null || entry._signal !== null) release(entry)
      this.schemaVersion = meta[i + 2]
      if (status & ERROR_FLAG) {
        entry._settle(fromErrorResponse(status & ~ERROR_FLAG, data, meta[i + 3], meta[i + 4]))
      } else {
        entry._complete(data, meta[i + 3], meta[i + 4])
      }
    }
    return words
  }

  _pauseReading() {
    if (this.#pausedBy++ === 0) this.#native.pause()
  }

  _resumeReading() {
    if (--this.#pausedBy === 0) this.#native.resume()
  }

  // Fails everything pending at once (the connection is gone) and announces the close. The
  // native side lets go of the socket, and of this transport's callback, here and not at GC.
  #end(err) {
    this.#closed = true
    this.#endError = err
    this.#native.close()
    if (this.#drainTimer !== null) {
      clearTimeout(this.#drainTimer)
      this.#drainTimer = null
    }
    if (this.#beat !== null) {
      clearTimeout(this.#beat)
      this.#beat = null
    }
    this.#forgotten.clear()
    const pending = this.#pending.takeAll()
    const held = this.#holds > 0
    this.#holds = 0
    if (pending.length > 0 || held) this.#becameIdle()
    this.#release()
    for (const entry of pending) {
      release(entry)
      entry._settle(err)
    }
    this.emit('close', err)
  }
}

// Buffer#writeUInt32BE checks its arguments on every call; these were checked already.
function putU32(out, at, n) {
  out[at] = n >>> 24
  out[at + 1] = n >>> 16
  out[at + 2] = n >>> 8
  out[at + 3] = n
}

// Drops what ties a finished request to timers and signals, so nothing outlives it.
function release(entry) {
  if (entry._timer !== null) {
    clearTimeout(entry._timer)
    entry._timer = null
  }
  if (entry._signal !== null) {
    entry._signal.removeEventListener('abort', entry._onAbort)
    entry._signal = null
    entry._onAbort = null
  }
}

function normalizeConnectOptions(portOrOptions, host) {
  let o
  if (typeof portOrOptions === 'number' || typeof portOrOptions === 'string') {
    o = { port: portOrOptions, host }
  } else if (portOrOptions !== null && typeof portOrOptions === 'object') {
    o = portOrOptions
  } else {
    throw new TypeError('connect() takes a port number or an options object')
  }
  const out = {}
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || o.path === '') throw new TypeError('path must be a non-empty string')
    out.path = o.path
  } else {
    const port = typeof o.port === 'string' && /^\d+$/.test(o.port) ? Number(o.port) : o.port
    out.port = checkNumber(port, 'port', { min: 1, max: 65535, integer: true })
    if (o.host !== undefined && o.host !== null) {
      if (typeof o.host !== 'string') throw new TypeError('host must be a string')
      out.host = o.host
    }
  }
  const credentials = credentialsOf(o)
  // A server that accepts but never greets (a black hole) must not stall a connect for ever.
  out.connectTimeout = o.connectTimeout === undefined ? DEFAULT_CONNECT_TIMEOUT : checkNumber(o.connectTimeout, 'connectTimeout', MILLISECONDS)
  // Up to 2 GiB: the native side indexes a read's frames with 32-bit offsets.
  if (o.maxFrameSize !== undefined) out.maxFrameSize = checkNumber(o.maxFrameSize, 'maxFrameSize', { min: 16, max: 2 ** 31, integer: true })
  out.protocolVersion = PROTOCOL_VERSION
  out.features = offeredFeatureIds(o.features)
  return {
    native: out,
    heartbeat: heartbeatOptions(o.heartbeat),
    maxPending: o.maxPending === undefined ? Infinity : checkNumber(o.maxPending, 'maxPending', { min: 1, max: Infinity }),
    maxWriteQueue: o.maxWriteQueue === undefined ? DEFAULT_MAX_WRITE_QUEUE : checkNumber(o.maxWriteQueue, 'maxWriteQueue', { min: 1024, max: Infinity }),
    required: checkRequired(o.required),
    credentials,
    pushHighWaterMark: o.pushHighWaterMark === undefined ? DEFAULT_HIGH_WATER_MARK : checkNumber(o.pushHighWaterMark, 'pushHighWaterMark', BYTES),
    maxBufferedPushes: o.maxBufferedPushes === undefined ? DEFAULT_MAX_BUFFERED_PUSHES : checkNumber(o.maxBufferedPushes, 'maxBufferedPushes', BYTES),
  }
}

function heartbeatOptions(v) {
  if (v === undefined || v === true) return HEARTBEAT_DEFAULTS
  if (v === false || v === null) return null
  if (typeof v !== 'object') throw new TypeError('heartbeat must be { interval, timeout, idle } or false')
  const ms = { min: HEARTBEAT_MIN, max: 0x7fffffff }
  if (v.idle !== undefined && typeof v.idle !== 'boolean') throw new TypeError(`heartbeat.idle must be a boolean, got ${describe(v.idle)}`)
  return Object.freeze({
    interval: v.interval === undefined ? HEARTBEAT_DEFAULTS.interval : checkNumber(v.interval, 'heartbeat.interval', ms),
    timeout: v.timeout === undefined ? HEARTBEAT_DEFAULTS.timeout : checkNumber(v.timeout, 'heartbeat.timeout', ms),
    idle: v.idle === undefined ? HEARTBEAT_DEFAULTS.idle : v.idle,
  })
}

/**
 * The Credentials to sign in with: `o.credentials` as given, else made from `o.user` and
 * `o.password` (hashed at once; the text goes no further), else null (guest).
 */
function credentialsOf(o) {
  if (o.credentials !== undefined && o.credentials !== null) {
    if (!(o.credentials instanceof native.NativeCredentials)) throw new TypeError('credentials must be a Credentials')
    return o.credentials
  }
  if (o.user === undefined || o.user === null) return null
  if (typeof o.user !== 'string') throw new TypeError('user must be a string')
  if (o.password !== undefined && o.password !== null && typeof o.password !== 'string') {
    throw new TypeError('password must be a string')
  }
  return new native.NativeCredentials(o.user, o.password || '')
}

async function openTransport(options) {
  let transport
  const address = addressOf(options.native)
  if (debug.enabled) debug('connect %s (timeout %d ms)', address, options.native.connectTimeout)
  const result = await native.connect(options.native, options.credentials, (data, meta, closed, words) => {
    transport._deliver(data, meta, closed, words)
  })
  if (!(result instanceof native.NativeConnection)) {
    const err = fromInfo(result)
    if (debug.enabled) debug('connect %s failed: %s (%s)', address, err.message, err.code)
    throw err
  }
  transport = new Transport(kConnect, result, options)
  if (debug.enabled) logSession(address, transport, options.credentials)
  const refused = requirementError(options.required, transport.protocol, transport.serverVersion)
  if (refused !== null) {
    transport.close()
    throw refused
  }
  return transport
}

function logSession(address, transport, credentials) {
  debug('connected to %s: Tarantool %s', address, transport.serverVersion)
  debug('auth: %s', credentials === null ? 'guest (no credentials)' : `signed in as ${JSON.stringify(credentials.user)}`)
  const { version, features } = transport.protocol
  if (version === 0) debug('negotiation: no IPROTO_ID (Tarantool %s has none)', transport.serverVersion)
  else debug('negotiation: protocol version %d, server features: %s', version, features.join(', ') || 'none')
}

module.exports = { Transport, credentialsOf }
