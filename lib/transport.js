'use strict'

// The raw IPROTO transport: one connection's requests in flight and what comes back for them.
// Its parts each live in a file of their own: the options (connect-options.js), the request
// table (request-table.js) and its entries (request-entry.js, promised-request.js), the
// outgoing frames (write-queue.js) and the heartbeat (heartbeat.js). Here they meet: a request
// gets a SYNC and a frame, its response finds it by SYNC, and the connection's end fails
// everything at once.

const { EventEmitter } = require('node:events')
const native = require('../binding.js')
const { KharonError, fromInfo, connectError, locate, requestTimeout, fromErrorResponse, abortError, closedError, throwLater } = require('./errors')
const { FEATURE_NAMES, protocolOf, requirementError } = require('./protocol')
const { PromisedRequest } = require('./promised-request')
const { CallbackRequest, META_WORDS } = require('./request-entry')
const { RequestTable } = require('./request-table')
const { WriteQueue } = require('./write-queue')
const { Heartbeat } = require('./heartbeat')
const { normalizeConnectOptions } = require('./connect-options')
const { checkNumber, checkFunction, checkDeadline, describe, U32, BYTES } = require('./args')
const { debug, addressOf } = require('./debug')
const { view, copyOf } = require('./views')
const { decode } = require('./msgpack')

const CHUNK = 0x80
const EVENT = 76
const PING = 64
const ERROR_FLAG = 0x8000
const EMPTY = Buffer.alloc(0)
const kConnect = Symbol('kharon.connect')

/**
 * The raw IPROTO transport: sends request bodies already encoded as MessagePack and hands
 * back raw response bodies. Requests issued in one JS tick leave in one write (one per 512
 * in a long run).
 *
 * Events: 'close' (err?) once, when the connection ends for any reason; 'drain' once the
 * write queue has room again after a request was refused for the lack of it; 'iproto' (packet)
 * for each packet the server sent that answers no request (see #unsolicited).
 */
class Transport extends EventEmitter {
  #native
  // Where it goes: { host, port } or { path }, for errors.
  #address
  #pending = new RequestTable()
  #writes
  #heartbeat = null
  #closed = false
  #endError = null
  #pausedBy = 0
  #highWaterMark
  #maxBufferedPushes
  // Push bytes kept for pending requests nobody iterates yet (see PromisedRequest#_keep).
  #bufferedPushes = 0
  #idleWaiters = []
  #holds = 0
  // Whether the native side keeps Node alive now (see #becameBusy, #releaseLater).
  #referenced = false
  #releaseQueued = false
  #maxPending
  // The meta index of the frame being delivered (see _deliver).
  #frameAt = 0
  #onEvent = null
  #protocol
  #serverFeatures
  #sessionFeatures
  #pushCount = 0
  #unsolicitedCount = 0
  // The Connection this transport is the current one of: 'iproto' is emitted there too.
  #iprotoTarget = null
  // Where small deliveries come (the same bytes every time: what is kept is copied), and the
  // view of it that the decoders read.
  #landing
  #landingView

  /** Use Transport.connect(). */
  constructor(token, nativeConnection, options) {
    if (token !== kConnect) throw new TypeError('use Transport.connect() to create a Transport')
    super()
    this.#native = nativeConnection
    const { host, port, path } = options.native
    this.#address = path !== undefined ? { path } : { host, port }
    this.#writes = new WriteQueue(nativeConnection, options.maxWriteQueueBytes, () => this.emit('drain'))
    this.#landing = nativeConnection.landing
    this.#landingView = view(this.#landing, 0, this.#landing.length)
    this.#highWaterMark = options.pushHighWaterMark
    this.#maxBufferedPushes = options.maxBufferedPushes
    this.#maxPending = options.maxPending
    this.schemaVersion = 0
    this.serverVersion = nativeConnection.serverVersion
    this.#protocol = protocolOf(nativeConnection.protocolVersion, nativeConnection.protocolFeatures, nativeConnection.authType)
    this.#serverFeatures = new Set(this.#protocol.features)
    // The session's features: what was offered, as far as the server has it.
    const offered = options.native.features || []
    this.#sessionFeatures = new Set(offered.map((id) => FEATURE_NAMES[id]).filter((f) => this.#serverFeatures.has(f)))
    if (options.heartbeat !== null) {
      this.#heartbeat = new Heartbeat(options.heartbeat, {
        where: ` at ${addressOf(this.#address)}`,
        busy: () => this.#pending.size > 0 || this.#holds > 0,
        unreadBytes: () => this.#pausedBy > 0 && this.#native.hasUnreadBytes,
        ping: () => this._notify(PING, EMPTY),
        dead: (err) => this.#end(locate(err, this.#address)),
      })
      if (options.heartbeat.idle) this.#heartbeat.start()
    }
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

  /**
   * Who reads the socket: 'uv' (the JS thread, when Node's event loop reports it readable) or
   * 'tokio' (a reader task, on Bun and Deno or when asked; see the readPath option).
   */
  get readPath() {
    return this.#native.readPath
  }

  /** Pushes (IPROTO_CHUNK) received on this connection. */
  get pushCount() {
    return this.#pushCount
  }

  /** Packets received on this connection that answered no request (see 'iproto'). */
  get unsolicitedCount() {
    return this.#unsolicitedCount
  }

  /** Bytes of requests handed to the socket. */
  get bytesSent() {
    return this.#writes.bytesSent
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
    return this.#pending.nextSync
  }

  set nextSync(sync) {
    this.#pending.nextSync = checkNumber(sync, 'nextSync', U32)
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
    const entry = new PromisedRequest(this, highWaterMark, onPush, onPushCtx)
    const promise = entry._promised()
    this._send(type, body, entry, options)
    return promise
  }

  // A Response failed with `err` before anything was sent: a promise that also iterates (and
  // rejects there too), like any other.
  #refused(err) {
    const entry = new PromisedRequest(this, this.#highWaterMark, undefined, undefined)
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
   * Sends a request whose outcome goes to `entry` (a RequestEntry). `body`: as for request(),
   * or the client's Encoder. `options` may carry `timeout` (ms) and `signal`, already checked
   * by the caller (checkDeadline); `streamId` (2.10+ streams) goes in the header when not 0.
   */
  _send(type, body, entry, options, streamId = 0) {
    const timeout = options == null ? undefined : options.timeout
    const signal = options == null ? undefined : options.signal
    const refusal = this.#refusal(signal)
    if (refusal !== null) {
      process.nextTick(() => entry._settle(refusal))
      return
    }
    const bodyLen = typeof body === 'string' ? Buffer.byteLength(body, 'latin1') : body.length
    const full = this.#writes.refusal(bodyLen)
    if (full !== null) {
      process.nextTick(() => entry._settle(new KharonError(full, 'ERR_WRITE_QUEUE_FULL')))
      return
    }
    const idle = this.#pending.size === 0
    const sync = this.#pending.add(entry)
    this.#writes.add(type, sync, body, streamId, bodyLen, idle)
    if (entry._trace !== null) {
      // A request that waited for a reconnect may go to another server than it was issued to.
      entry._trace.sync = sync
      entry._trace.serverVersion = this.serverVersion
    }
    if (idle && this.#holds === 0) this.#becameBusy()
    // Push backpressure goes to the connection that carries the request.
    entry._transport = this
    if (timeout != null) entry._timer = setTimeout(this.#expire, timeout, entry, timeout, type)
    if (signal != null) {
      entry._signal = signal
      entry._onAbort = () => this._fail(entry, abortError(signal))
      signal.addEventListener('abort', entry._onAbort, { once: true })
    }
  }

  // Why a request cannot be sent now, or null.
  #refusal(signal) {
    if (this.#closed) return closedError(undefined, this.#address)
    if (signal != null && signal.aborted) return abortError(signal)
    if (this.#pending.size >= this.#maxPending) {
      return new KharonError(`${this.#pending.size} requests are pending, the most maxPending allows`, 'ERR_TOO_MANY_PENDING')
    }
    return null
  }

  #expire = (entry, ms, type) => {
    this._fail(entry, requestTimeout(ms, type, entry._name))
  }

  /** Gives up on a pending request now: it fails, and its answer is dropped when it comes. */
  _fail(entry, err) {
    if (this.#pending.get(entry._sync) !== entry) return
    this.#pending.forget(entry)
    if (this.#pending.size === 0) this.#becameIdle()
    entry._disarm()
    entry._settle(err)
  }

  /** Resolves once no request is pending (at once if none is). */
  _idle() {
    if (this.#pending.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Sends a request that gets no response (WATCH, UNWATCH, the heartbeat's PING): nothing
   * waits for it, so it does not keep Node alive and nothing fails when the connection goes.
   * What the server answers all the same (PING always; WATCH and UNWATCH, with an error, when
   * it has no watchers, before 2.10) is dropped, not taken for an unsolicited packet.
   */
  _notify(type, body) {
    if (this.#closed) return
    const answered = type === PING || !this.#serverFeatures.has('watchers')
    this.#writes.add(type, this.#pending.takeSync(answered), body, 0, body.length, this.#pending.size === 0)
  }

  /** Emits 'iproto' on `events` (the Connection) as well as here, while this is its transport. */
  _forwardPackets(events) {
    this.#iprotoTarget = events
  }

  /** Where EVENT bodies (2.10+ watchers) go: `handler(data, start, end)`. The connection's WatchRegistry is the one owner. */
  _watchEvents(handler) {
    this.#onEvent = handler
  }

  /**
   * Bytes of requests not yet taken by the kernel: encoded this tick, or written and waiting
   * for the socket (a slow or frozen server). Past maxWriteQueueBytes requests are refused;
   * 'drain' says when there is room again.
   */
  get writableLength() {
    return this.#writes.length
  }

  /** Keeps Node alive while held (an open Watcher), as a pending request does. */
  _hold() {
    if (this.#closed) return
    if (this.#holds++ === 0 && this.#pending.size === 0) this.#becameBusy()
  }

  _unhold() {
    if (this.#closed) return
    if (--this.#holds === 0 && this.#pending.size === 0) this.#release()
  }

  #becameBusy() {
    if (!this.#referenced) {
      this.#referenced = true
      this.#native.ref()
    }
    this.#heartbeat?.start()
  }

  // Nothing pending: Node may exit. Not at once, though: a caller awaiting one request after
  // another issues the next from the continuations this response runs, and a nextTick queued
  // from a microtask runs after all of them, so back-to-back requests cost no ref/unref.
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
    this.#writes.shrink()
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
    if (!this.#closed) this.#end(closedError(undefined, this.#address))
    return Promise.resolve()
  }

  /** Closes the connection with `err` (located here) as the reason everything pending fails. */
  _closeWith(err) {
    if (!this.#closed) this.#end(locate(err, this.#address))
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
      if (this.#heartbeat !== null && this.#heartbeat.running) this.#heartbeat.lastRead = performance.now()
      // Decoders read napi's Buffers and JS's through one kind of view, so that they stay
      // monomorphic (bench/README.md: "One hidden class for what the decoder reads").
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
      const err = fromInfo(closed, this.#address)
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
        if (this.#onEvent !== null) this.#onEvent(data, meta[i + 3], meta[i + 4])
        continue
      }
      const entry = pending.get(meta[i + 1])
      if (entry === undefined) {
        this.#stray(data, meta, i, status)
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
      // Only OK and errors (ERROR_FLAG | code) are a final answer: of those, `code` is the error
      // code, or ERROR_FLAG for OK; of any other type, more (see answers()).
      const code = (status ^ ERROR_FLAG) >>> 0
      if (code > ERROR_FLAG) {
        this.#unsolicited(data, meta, i)
        continue
      }
      pending.delete(entry)
      if (pending.size === 0) this.#becameIdle()
      if (entry._timer !== null || entry._signal !== null) entry._disarm()
      this.schemaVersion = meta[i + 2]
      if (code !== ERROR_FLAG) {
        entry._settle(fromErrorResponse(code, data, meta[i + 3], meta[i + 4]))
      } else {
        entry._complete(data, meta[i + 3], meta[i + 4])
      }
    }
    return words
  }

  // Frame i has a SYNC that no pending request has. A late answer (or push) to a request given
  // up on, or the answer to one that nothing waits for (a PING), is dropped; anything else is
  // unsolicited.
  #stray(data, meta, i, status) {
    const sync = meta[i + 1]
    if (status === CHUNK ? this.#pending.isForgotten(sync) : answers(status) && this.#pending.unmatched(sync)) return
    this.#unsolicited(data, meta, i)
  }

  // Frame i answers no request: a packet for a SYNC nothing waits for, or of a type that is no
  // answer (nor a push, nor an EVENT). It is counted, and if anyone listens to 'iproto', here or
  // on the Connection, decoded and emitted: { type, sync, schemaVersion, body } (body undefined
  // for a packet without one; for one that does not decode, the bytes as `raw` and why as
  // `error`). A listener that throws is an uncaught exception, as from any callback.
  #unsolicited(data, meta, i) {
    this.#unsolicitedCount++
    const target = this.#iprotoTarget
    const here = this.listenerCount('iproto') > 0
    const there = target !== null && target.listenerCount('iproto') > 0
    if (debug.enabled) debug('unsolicited packet: type %d, sync %d, %d bytes of body', meta[i], meta[i + 1], meta[i + 4] - meta[i + 3])
    if (!here && !there) return
    const packet = this.#packet(data, meta[i], meta[i + 1], meta[i + 2], meta[i + 3], meta[i + 4])
    if (here) emitPacket(this, packet)
    if (there) emitPacket(target, packet)
  }

  #packet(data, type, sync, schemaVersion, start, end) {
    const packet = { type, sync, schemaVersion, body: undefined }
    if (start < end) {
      try {
        packet.body = decode(data, start, end)
      } catch (err) {
        packet.raw = this._body(data, start, end)
        packet.error = err
        if (debug.enabled) debug('unsolicited packet: its body does not decode: %s', err.message)
      }
    }
    return packet
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
    this.#writes.close()
    this.#heartbeat?.stop()
    const pending = this.#pending.takeAll()
    const held = this.#holds > 0
    this.#holds = 0
    if (pending.length > 0 || held) this.#becameIdle()
    this.#release()
    for (const entry of pending) {
      entry._disarm()
      entry._settle(err)
    }
    this.emit('close', err)
  }
}

// Whether a packet of type `status` is a final answer: OK, or an error (ERROR_FLAG | code).
function answers(status) {
  return ((status ^ ERROR_FLAG) >>> 0) <= ERROR_FLAG
}

function emitPacket(emitter, packet) {
  try {
    emitter.emit('iproto', packet)
  } catch (err) {
    throwLater(err)
  }
}

async function openTransport(options) {
  let transport
  const address = addressOf(options.native)
  if (debug.enabled) debug('connect %s (timeout %d ms)', address, options.native.connectTimeout)
  let onDelivery = (data, meta, closed, words) => {
    transport._deliver(data, meta, closed, words)
  }
  // On the tokio read path (Bun, Deno) a read may be handed over before this function resumes:
  // it is kept until the transport exists (copied: it may be in the landing, which the next
  // read overwrites).
  let early = null
  if (options.native.readPath === 'tokio') {
    onDelivery = (data, meta, closed, words) => {
      if (transport !== undefined) transport._deliver(data, meta, closed, words)
      else (early ??= []).push([data && Buffer.from(data), meta && meta.slice(0, words), closed, words])
    }
  }
  const result = await native.connect(options.native, options.credentials, onDelivery)
  if (!(result instanceof native.NativeConnection)) {
    const err = connectError(result, options.native, options.native.connectTimeout)
    if (debug.enabled) debug('connect %s failed: %s (%s)', address, err.message, err.code)
    throw err
  }
  transport = new Transport(kConnect, result, options)
  if (early !== null) for (const args of early) transport._deliver(...args)
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

module.exports = { Transport }
