'use strict'

const { PushOverflowError, TimeoutError, throwLater, withCallerStack } = require('./errors')
const { checkNumber, MILLISECONDS } = require('./args')
const { traceSettled } = require('./tracing')
const { copyOf } = require('./views')
const { RequestEntry, META_WORDS } = require('./request-entry')

/** Default per-request push buffer, in bytes of push bodies. */
const DEFAULT_HIGH_WATER_MARK = 1024 * 1024
/** Default bytes of pushes a connection keeps for its pending requests nobody iterates yet. */
const DEFAULT_MAX_BUFFERED_PUSHES = 64 * 1024 * 1024
const PENDING = 0
const DONE = 1
const FAILED = 2
const DONE_RESULT = Object.freeze({ value: undefined, done: true })
const EMPTY_QUEUE = Object.freeze([])
/** The request behind the promise a caller gets. */
const kRequest = Symbol('kharon.request')

/**
 * Buffered pushes of one request from one delivery: frames meta[at..to). The delivery's meta
 * already says where each body lies, so buffering pushes of a delivery JS owns makes nothing
 * but this; pushes of the landing (reused by the next read) are copied first.
 */
class Run {
  constructor(data, meta, at, to) {
    this.data = data
    this.meta = meta
    this.at = at
    this.to = to
  }
}

/** What iterating or buffering pushes needs: made on the first of either (most requests have neither). */
class PushState {
  constructor() {
    this.runs = EMPTY_QUEUE
    this.head = 0
    this.bytes = 0
    this.iterating = false
    this.overflowed = false
    this.discarded = false
    this.pausing = false
    // Bytes kept while not iterated, counted against the connection's maxBufferedPushes.
    this.counted = 0
    this.waiter = null
    // The per-item wait of pushes({ timeout }).
    this.timeout = undefined
  }
}

/**
 * One request in promise mode; exported as `Response`, the name of what Transport#request
 * returns. The caller gets a native promise of the final body (a thenable would cost more
 * microtasks per request: bench/README.md) that also carries the request's pushes (IPROTO_CHUNK) as an async iterable: `pushes()` and
 * `[Symbol.asyncIterator]`. `instanceof` this class (or a subclass) holds for such promises.
 *
 * Pushes are buffered up to `highWaterMark` bytes. While an iterator is active, going over
 * the mark pauses reading from the socket until the consumer drains to a quarter of it
 * (other requests on the connection wait meanwhile). Before iteration starts, pushes beyond
 * the mark are dropped instead, so a request that is only awaited never stalls the
 * connection; an iterator started after such a drop throws PushOverflowError once it has
 * yielded what was kept, rather than silently missing pushes. Those kept pushes also count
 * against the connection's `maxBufferedPushes` while the request is pending, so many requests
 * nobody iterates cannot hold unbounded memory between them.
 */
class PromisedRequest extends RequestEntry {
  static [Symbol.hasInstance](value) {
    const request = value !== null && typeof value === 'object' ? value[kRequest] : undefined
    return request !== undefined && this.prototype.isPrototypeOf(request)
  }

  constructor(transport, highWaterMark, onPush, onPushCtx) {
    super()
    this._transport = transport
    this._highWaterMark = highWaterMark
    this._onPush = onPush
    this._onPushCtx = onPushCtx
    this._state = PENDING
    this._result = undefined
    this._promise = null
    this._resolve = null
    this._reject = null
    this._q = null
  }

  /** The value a push with body data[start..end] yields: the body; the client's Call decodes it. */
  _pushValue(data, start, end) {
    return this._transport._body(data, start, end)
  }

  /**
   * Called by the transport with a run of this request's pushes, in server order: the frames
   * meta[from..to) of a delivery (META_WORDS each).
   */
  _pushes(data, meta, from, to) {
    if (this._trace !== null) this._trace.pushes += (to - from) / META_WORDS
    // A callback may end the request (closing the connection): what follows is not its.
    if (this._onPush !== undefined) {
      for (let i = from; i < to && this._state === PENDING; i += META_WORDS) this._callOnPush(data, meta[i + 3], meta[i + 4])
      return
    }
    if (this._state === PENDING) this._keep(data, meta, from, to)
  }

  _callOnPush(data, start, end) {
    let value
    try {
      value = this._pushValue(data, start, end)
    } catch (err) {
      // A push that does not decode fails its request, as a final body would, not the process.
      this._transport._fail(this, err)
      return
    }
    try {
      this._onPush(value, this._onPushCtx)
    } catch (err) {
      throwLater(err)
    }
  }

  _pushState() {
    if (this._q === null) this._q = new PushState()
    return this._q
  }

  // Hands the first push to a waiting next() and buffers the others.
  _keep(data, meta, from, to) {
    const q = this._pushState()
    // After a drop, later pushes would leave a silent gap: the iterator ends in an error.
    if (q.discarded || q.overflowed) return
    if (q.iterating) {
      if (q.waiter !== null) {
        this._wakeWith(data, meta[from + 3], meta[from + 4])
        from += META_WORDS
        if (from === to || q.discarded) return
      }
      this._enqueue(data, meta, from, to, bodyBytes(meta, from, to))
      if (!q.pausing && q.bytes > this._highWaterMark) {
        q.pausing = true
        this._transport._pauseReading()
      }
      return
    }
    // Not iterated (yet): what fits under the mark and the connection's budget is kept, the
    // rest dropped.
    const room = Math.min(this._highWaterMark - q.bytes, this._transport._pushRoom())
    let bytes = 0
    let fit = from
    while (fit < to && bytes + meta[fit + 4] - meta[fit + 3] <= room) {
      bytes += meta[fit + 4] - meta[fit + 3]
      fit += META_WORDS
    }
    if (fit > from) {
      this._enqueue(data, meta, from, fit, bytes)
      q.counted += bytes
      this._transport._countPushes(bytes)
    }
    if (fit < to) q.overflowed = true
  }

  // Buffers pushes meta[from..to) of a delivery: as they are, or copied out of the landing.
  _enqueue(data, meta, from, to, bytes) {
    const q = this._q
    if (q.runs === EMPTY_QUEUE) q.runs = []
    q.runs.push(this._transport._isLanding(data) ? copiedRun(data, meta, from, to) : new Run(data, meta, from, to))
    q.bytes += bytes
  }

  _complete(data, start, end) {
    this._settleValue(this._transport._body(data, start, end))
  }

  _settle(err) {
    if (this._callerStack !== null) err = withCallerStack(err, this._callerStack)
    this._state = FAILED
    this._result = err
    if (this._reject !== null) {
      // As with a thenable: a request nobody awaits fails silently (it is counted), and one
      // awaited later, after other awaits, still rejects there rather than as unhandled.
      this._promise.catch(ignore)
      this._reject(err)
    }
    this._afterSettle()
    if (this._counters !== null) this._counters.failed(err)
    if (this._trace !== null) traceSettled(this._trace, err)
  }

  _settleValue(value) {
    this._state = DONE
    this._result = value
    if (this._resolve !== null) this._resolve(value)
    this._afterSettle()
    if (this._trace !== null) traceSettled(this._trace, null)
  }

  _afterSettle() {
    this._resolve = this._reject = null
    const q = this._q
    if (q === null) return
    // Nothing more can arrive for this request, so its buffer can no longer grow; what it kept
    // is the caller's now, not the connection's.
    this._uncount()
    this._stopPausing()
    if (q.waiter !== null && q.head === q.runs.length) this._finishWaiter()
  }

  /** The promise the caller gets; made once, before the request is sent. */
  _promised() {
    // A closure that writes into this young object costs less than two write barriers.
    const promise = new Promise((resolve, reject) => {
      this._resolve = resolve
      this._reject = reject
    })
    promise[kRequest] = this
    promise.pushes = pushesOfPromise
    promise[Symbol.asyncIterator] = iterateFromPromise
    this._promise = promise
    return promise
  }

  /**
   * An async iterator over the pushes. `timeout` (ms) bounds the wait for each item: when it
   * passes, the iterator throws TimeoutError and ends; the request itself goes on.
   */
  pushes(options) {
    const timeout = options === undefined || options === null ? undefined : options.timeout
    if (timeout !== undefined) checkNumber(timeout, 'timeout', MILLISECONDS)
    const q = this._pushState()
    if (q.iterating) throw new TypeError('the pushes of a request can be iterated only once')
    q.iterating = true
    q.timeout = timeout
    // From here reading pauses over the mark, which bounds the buffer instead.
    this._uncount()
    if (q.bytes > this._highWaterMark && !q.pausing) {
      q.pausing = true
      this._transport._pauseReading()
    }
    return new PushIterator(this)
  }

  _next() {
    const q = this._q
    const runs = q.runs
    if (q.head < runs.length) {
      const run = runs[q.head]
      const at = run.at
      const start = run.meta[at + 3]
      const end = run.meta[at + 4]
      run.at = at + META_WORDS
      if (run.at === run.to) {
        // The delivery may be freed once none of its pushes is left.
        runs[q.head++] = undefined
        if (q.head === runs.length) {
          q.runs = EMPTY_QUEUE
          q.head = 0
        } else if (q.head > 1024 && q.head * 2 > runs.length) {
          q.runs = runs.slice(q.head)
          q.head = 0
        }
      }
      q.bytes -= end - start
      if (q.pausing && q.bytes <= this._highWaterMark / 4) this._stopPausing()
      try {
        return Promise.resolve({ value: this._pushValue(run.data, start, end), done: false })
      } catch (err) {
        this._discard()
        return Promise.reject(err)
      }
    }
    return this._nextUnbuffered(q)
  }

  // Kept out of _next, whose buffered path is then small enough to be inlined into next().
  _nextUnbuffered(q) {
    if (q.discarded) return Promise.resolve(DONE_RESULT)
    if (q.overflowed) {
      this._discard()
      return Promise.reject(new PushOverflowError(
        `pushes beyond highWaterMark (${this._highWaterMark} bytes) or the connection's maxBufferedPushes arrived before iteration started and were dropped`,
      ))
    }
    if (this._state !== PENDING) {
      this._discard()
      return this._state === FAILED ? Promise.reject(this._result) : Promise.resolve(DONE_RESULT)
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, timer: null }
      if (q.timeout !== undefined) {
        waiter.timer = setTimeout(() => {
          if (q.waiter !== waiter) return
          q.waiter = null
          this._discard()
          reject(new TimeoutError(`no push or response within ${q.timeout} ms`))
        }, q.timeout)
      }
      q.waiter = waiter
    })
  }

  _wakeWith(data, start, end) {
    let value
    try {
      value = this._pushValue(data, start, end)
    } catch (err) {
      const waiter = this._q.waiter
      this._q.waiter = null
      if (waiter.timer !== null) clearTimeout(waiter.timer)
      this._discard()
      waiter.reject(err)
      return
    }
    this._wake({ value, done: false })
  }

  _wake(result) {
    const waiter = this._q.waiter
    this._q.waiter = null
    if (waiter.timer !== null) clearTimeout(waiter.timer)
    waiter.resolve(result)
  }

  _finishWaiter() {
    const waiter = this._q.waiter
    this._q.waiter = null
    if (waiter.timer !== null) clearTimeout(waiter.timer)
    this._discard()
    if (this._state === FAILED) waiter.reject(this._result)
    else waiter.resolve(DONE_RESULT)
  }

  /** Drops what is buffered and everything still to come (net.box future:discard()). */
  _discard() {
    const q = this._q
    q.discarded = true
    q.runs = EMPTY_QUEUE
    q.head = 0
    q.bytes = 0
    this._uncount()
    this._stopPausing()
  }

  _uncount() {
    const q = this._q
    if (q.counted !== 0) {
      this._transport._countPushes(-q.counted)
      q.counted = 0
    }
  }

  _stopPausing() {
    if (this._q.pausing) {
      this._q.pausing = false
      this._transport._resumeReading()
    }
  }
}

function pushesOfPromise(options) {
  return this[kRequest].pushes(options)
}

function iterateFromPromise() {
  return this[kRequest].pushes()
}

function ignore() {}

// A Run of its own: the bytes from its first body to its last, and its meta words rebased.
function copiedRun(data, meta, from, to) {
  const start = meta[from + 3]
  const words = meta.slice(from, to)
  for (let i = 0; i < words.length; i += META_WORDS) {
    words[i + 3] -= start
    words[i + 4] -= start
  }
  return new Run(copyOf(data, start, meta[to - META_WORDS + 4]), words, 0, words.length)
}

function bodyBytes(meta, from, to) {
  let bytes = 0
  for (let i = from; i < to; i += META_WORDS) bytes += meta[i + 4] - meta[i + 3]
  return bytes
}

class PushIterator {
  constructor(response) {
    this._response = response
  }

  next() {
    return this._response._next()
  }

  return() {
    const r = this._response
    if (r._q.waiter !== null) r._wake(DONE_RESULT)
    r._discard()
    return Promise.resolve(DONE_RESULT)
  }

  [Symbol.asyncIterator]() {
    return this
  }
}

module.exports = { PromisedRequest, DEFAULT_HIGH_WATER_MARK, DEFAULT_MAX_BUFFERED_PUSHES }
