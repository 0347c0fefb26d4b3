'use strict'

// Outgoing requests: each framed (size, header, body) into one buffer, handed to the socket
// together. JS frames every request after the handshake: a frame is built where its body was
// encoded, and a tick's worth of them crosses into Rust at once (src/binding/frame_writer.rs).
// The handshake's two requests (ID, AUTH) are framed in Rust (src/protocol/frame.rs), before
// any JS is involved; a cargo test holds both framings to the same bytes.

const native = require('../binding.js')
const { Encoder } = require('./msgpack')
const { view } = require('./views')

// A plain Node-API call into the connection's write handle.
const writeFrames = native.frameWriter()

// Longest request head: 0xce size(4) + map(1) + key(1) + type(<=5) + key(1) + 0xce sync(4)
// + key(1) + stream id (<=9).
const MAX_HEAD = 27
const STREAM_ID = 0x0a
const INITIAL_OUT = 64 * 1024
// In a long run of requests (a window of calls refilled as responses come), every this many
// leave at once, so the server works on them while the rest are encoded. A count, not bytes:
// big bodies add no writes. (bench/README.md: "Write coalescing".)
const EARLY_WRITE_REQUESTS = 512
// How often a backlog is looked at until it drains.
const DRAIN_POLL_MS = 5

class WriteQueue {
  #native
  #handle
  #maxBytes
  #onDrain
  #out = Buffer.allocUnsafe(INITIAL_OUT)
  #outLen = 0
  // Requests in #out.
  #unsent = 0
  #flushQueued = false
  // Bytes the kernel has not taken yet, as of the last write or look.
  #backlog = 0
  #drainTimer = null
  #wantDrain = false
  #closed = false
  bytesSent = 0

  /** `onDrain()` runs once the backlog is gone after a request was refused for room. */
  constructor(nativeConnection, maxBytes, onDrain) {
    this.#native = nativeConnection
    this.#handle = nativeConnection.createWriteHandle()
    this.#maxBytes = maxBytes
    this.#onDrain = onDrain
  }

  /** Bytes of requests not yet taken by the kernel: framed this tick, or waiting for the socket. */
  get length() {
    return this.#outLen + (this.#closed ? 0 : this.#native.writeBacklog)
  }

  /** The error refusing a body of `bodyLen` bytes, or null when it fits under maxWriteQueueBytes. */
  refusal(bodyLen) {
    const queued = this.#outLen + this.#backlog
    if (queued + bodyLen + MAX_HEAD <= this.#maxBytes) return null
    this.#wantDrain = true
    this.#watchDrain()
    return `the write queue is full: ${queued} bytes wait for the socket (maxWriteQueueBytes ${this.#maxBytes})`
  }

  /**
   * Frames one request. It leaves at once when `idle` (nothing else is in flight, so there is
   * nothing to coalesce it with and its round trip starts before the caller's other
   * microtasks); otherwise with the rest of this turn of the event loop.
   */
  add(type, sync, body, streamId, bodyLen, idle) {
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
    if (++this.#unsent >= EARLY_WRITE_REQUESTS && this.#backlog === 0) return this.#write()
    if (!this.#flushQueued) {
      if (idle) return this.#write()
      this.#flushQueued = true
      setImmediate(this.#flush)
    }
  }

  /** The buffer a burst grew is kept while it lasts, not for the connection's life. */
  shrink() {
    if (this.#out.length > 16 * INITIAL_OUT && this.#outLen === 0) this.#out = Buffer.allocUnsafe(INITIAL_OUT)
  }

  close() {
    this.#closed = true
    if (this.#drainTimer !== null) {
      clearTimeout(this.#drainTimer)
      this.#drainTimer = null
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

  // After the microtasks drain: requests issued from a chain of promise continuations (await
  // loops) share the write; a microtask flush would run between them and write each alone.
  #flush = () => {
    this.#flushQueued = false
    this.#write()
  }

  #write() {
    this.#unsent = 0
    if (this.#outLen === 0) return
    if (!this.#closed) {
      const backlog = writeFrames(this.#handle, view(this.#out, 0, this.#outLen))
      this.bytesSent += this.#outLen
      this.#backlog = backlog < 0 ? 0 : backlog
      if (this.#backlog > 0) this.#watchDrain()
    }
    this.#outLen = 0
  }

  // Looks at the backlog until it is gone; then onDrain, if a request was refused meanwhile.
  #watchDrain() {
    if (this.#drainTimer !== null || this.#closed) return
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = null
      if (this.#closed) return
      this.#backlog = this.#native.writeBacklog
      if (this.#backlog > 0 || this.#outLen > 0) return this.#watchDrain()
      if (this.#wantDrain) {
        this.#wantDrain = false
        this.#onDrain()
      }
    }, DRAIN_POLL_MS)
    this.#drainTimer.unref()
  }
}

// Buffer#writeUInt32BE checks its arguments on every call; these were checked already.
function putU32(out, at, n) {
  out[at] = n >>> 24
  out[at + 1] = n >>> 16
  out[at + 2] = n >>> 8
  out[at + 3] = n
}

module.exports = { WriteQueue }
