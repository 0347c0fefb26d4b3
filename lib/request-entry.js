'use strict'

// What the request table holds for a request in flight. Every entry is a RequestEntry: the
// transport sets its fields and calls its three methods; subclasses decide what a body and a
// push become (PromisedRequest: a promise and an async iterable of pushes; Call: decoded
// call/eval results; Decoded: any other client request; CallbackRequest: a callback).

const { throwLater } = require('./errors')

/** u32 words per frame in a delivery's meta (src/binding/delivery.rs): status, sync, schema version, body start, body end. */
const META_WORDS = 5

class RequestEntry {
  constructor() {
    // Its SYNC while it waits (set by the request table).
    this._sync = 0
    // The transport that carries it (after a reconnect, not the one it was issued on).
    this._transport = null
    this._timer = null
    this._signal = null
    this._onAbort = null
    // The client's Counters, and the trace context while someone subscribes.
    this._counters = null
    this._trace = null
    // What errors name it by (function, space or SQL text), and with `callerStack` where it
    // was issued: set by the client.
    this._name = null
    this._callerStack = null
  }

  /** A run of its pushes, in server order: the frames meta[from..to) of a delivery. */
  _pushes(data, meta, from, to) {}

  /** Its successful final body: data[start..end] of a delivery (valid only during the call). */
  _complete(data, start, end) {
    throw new Error('a RequestEntry subclass defines _complete')
  }

  /** Its failure; called once, and never after _complete. */
  _settle(err) {
    throw new Error('a RequestEntry subclass defines _settle')
  }

  /** Unhooks its timer and AbortSignal, so nothing outlives it. */
  _disarm() {
    if (this._timer !== null) {
      clearTimeout(this._timer)
      this._timer = null
    }
    if (this._signal !== null) {
      this._signal.removeEventListener('abort', this._onAbort)
      this._signal = null
      this._onAbort = null
    }
  }
}

/** One request of the raw Transport in callback mode: `callback(err, body)`, pushes to `onPush(chunk, ctx)`. */
class CallbackRequest extends RequestEntry {
  constructor(callback, onPush, onPushCtx) {
    super()
    this._callback = callback
    this._onPush = onPush
    this._onPushCtx = onPushCtx
    this._settled = false
  }

  _pushes(data, meta, from, to) {
    if (this._onPush === undefined) return
    // A callback may end the request (abort it, close the connection): what follows is not its.
    for (let i = from; i < to && !this._settled; i += META_WORDS) {
      try {
        this._onPush(this._transport._body(data, meta[i + 3], meta[i + 4]), this._onPushCtx)
      } catch (err) {
        throwLater(err)
      }
    }
  }

  _complete(data, start, end) {
    this.#finish(null, this._transport._body(data, start, end))
  }

  _settle(err) {
    this.#finish(err)
  }

  #finish(err, body) {
    this._settled = true
    try {
      if (err) this._callback(err)
      else this._callback(null, body)
    } catch (thrown) {
      throwLater(thrown)
    }
  }
}

module.exports = { RequestEntry, CallbackRequest, META_WORDS }
