'use strict'

// Watchers (Tarantool 2.10+): box.broadcast() keys the server pushes by itself (IPROTO WATCH /
// EVENT). The server sends a key's current value on WATCH, then nothing until the client sends
// WATCH again (the ack), and then only the latest value. The Watchers of one key on a connection
// share one server subscription, which keeps only the latest value: kharon acks as soon as one
// Watcher has taken it and asks for more. Each Watcher goes at its own pace and a slow (or idle)
// one holds back no other: when it asks, it gets the latest value, never a queue. A lone
// Watcher still paces the server: nothing more comes until it asks (or its callback returns).

const { decode } = require('./msgpack')
const { closedError, throwLater } = require('./errors')
const build = require('./requests')
const { unsupported } = require('./protocol')
const K = require('./iproto').IPROTO

const DONE = Object.freeze({ value: undefined, done: true })
const kCreate = Symbol('kharon.watcher')

/** One key's server subscription on a connection, shared by its Watchers. */
class Subscription {
  constructor(key) {
    this.key = key
    // Sent again at every ack: a copy of the shared encoder's bytes.
    this.body = build.watchKey(key).toBuffer()
    this.watchers = new Set()
    this.value = undefined
    // EVENTs received; a Watcher has seen the value when its `taken` equals this.
    this.version = 0
    // The server sends nothing more for the key until it is acked.
    this.awaitingAck = false
  }
}

/**
 * The values of one key: an async iterable (the first value is the current one, `undefined`
 * if the key has none), or a callback. Keeps Node alive while open, unless unref()'d.
 */
class Watcher {
  #registry
  #sub
  #callback
  #taken = 0
  #waiter = null
  #running = false
  #closed = false
  #error = null
  #referenced = true

  /** Use conn.watch(). */
  constructor(token, registry, sub, callback) {
    if (token !== kCreate) throw new TypeError('use conn.watch() to create a Watcher')
    this.#registry = registry
    this.#sub = sub
    this.#callback = callback
  }

  get key() {
    return this.#sub.key
  }

  get closed() {
    return this.#closed
  }

  [Symbol.asyncIterator]() {
    if (this.#callback !== undefined) throw new TypeError('a Watcher with a callback is not iterable')
    return this
  }

  /** The next value: the latest one not yet taken, or the next to arrive. */
  next() {
    if (this.#error !== null) {
      const err = this.#error
      this.#error = null
      return Promise.reject(err)
    }
    if (this.#closed) return Promise.resolve(DONE)
    if (this.#waiter !== null) return Promise.reject(new TypeError('next() called before the previous one settled'))
    if (this.#taken < this.#sub.version) return Promise.resolve(this.#take())
    this.#registry._maybeAck(this.#sub)
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject }
    })
  }

  return() {
    this.close()
    return Promise.resolve(DONE)
  }

  /** Stops watching; the server subscription ends with the key's last Watcher. */
  close() {
    // Closed by the user: an error the connection ended with is not reported any more.
    this.#error = null
    if (this.#closed) return
    this.#closed = true
    this.#settleWaiter(DONE, null)
    this.#registry._remove(this.#sub, this, this.#referenced)
  }

  [Symbol.dispose]() {
    this.close()
  }

  /** Lets the process exit while this Watcher is open. */
  unref() {
    if (this.#referenced && !this.#closed) {
      this.#referenced = false
      this.#registry._referenced(-1)
    }
    return this
  }

  ref() {
    if (!this.#referenced && !this.#closed) {
      this.#referenced = true
      this.#registry._referenced(1)
    }
    return this
  }

  _deliver() {
    if (this.#closed) return
    if (this.#callback !== undefined) this.#runCallback()
    else if (this.#waiter !== null) this.#settleWaiter(this.#take(), null)
  }

  /**
   * The connection is gone for good (the registry forgets its Watchers): closed at once; the
   * pending or next next() rejects with `err` (or ends, when null).
   */
  _end(err) {
    if (this.#closed) return
    this.#closed = true
    if (this.#waiter !== null) this.#settleWaiter(DONE, err)
    else if (this.#callback === undefined) this.#error = err
  }

  #take() {
    this.#taken = this.#sub.version
    return { value: this.#sub.value, done: false }
  }

  #settleWaiter(result, err) {
    const waiter = this.#waiter
    if (waiter === null) return
    this.#waiter = null
    if (err !== null) waiter.reject(err)
    else waiter.resolve(result)
  }

  // Runs the callback with the latest value until it has seen it; its return (awaited when it
  // is a promise) is the ack.
  async #runCallback() {
    if (this.#running) return
    this.#running = true
    try {
      while (!this.#closed && this.#taken < this.#sub.version) {
        const { value } = this.#take()
        try {
          await this.#callback(value, this.#sub.key)
        } catch (err) {
          throwLater(err)
        }
      }
    } finally {
      this.#running = false
    }
    if (!this.#closed) this.#registry._maybeAck(this.#sub)
  }
}

/** A connection's subscriptions: sends WATCH/UNWATCH, routes EVENTs, resubscribes after a reconnect. */
class WatchRegistry {
  #subs = new Map()
  #transport = null
  // What the connection was lost with, once it is closed for good (null: closed by the user).
  #endError = null
  #referenced = 0
  #held = null
  #onReferenced

  /** `onReferenced()` is called when whether any Watcher keeps Node alive changes. */
  constructor(onReferenced) {
    this.#onReferenced = onReferenced
  }

  /** Whether an open Watcher keeps Node alive. */
  get referenced() {
    return this.#referenced > 0
  }

  /**
   * A Watcher of `key`. On a closed connection (`closed`), like a request, it fails rather than
   * throws: the Watcher is closed, its first next() rejects with ERR_CONNECTION_CLOSED (`cause`:
   * what the connection was lost with, if it was), and it holds nothing open. Only bad
   * arguments and a server without watchers throw.
   */
  watch(transport, usable, closed, key, callback) {
    if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string')
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('the watch callback must be a function')
    if (!transport._serverHas('watchers')) throw unsupported('watchers', `watch('${key}')`, transport.serverVersion)
    if (closed) {
      const watcher = new Watcher(kCreate, this, new Subscription(key), callback)
      watcher._end(closedError(this.#endError ?? undefined))
      return watcher
    }
    let sub = this.#subs.get(key)
    const created = sub === undefined
    if (created) {
      sub = new Subscription(key)
      this.#subs.set(key, sub)
    }
    const watcher = new Watcher(kCreate, this, sub, callback)
    sub.watchers.add(watcher)
    this._referenced(1)
    if (created) {
      if (usable) transport._notify(K.WATCH, sub.body)
    } else if (sub.version > 0) {
      // A later Watcher of a known key starts from its current value.
      queueMicrotask(() => watcher._deliver())
    }
    return watcher
  }

  /** A new connection: every key is watched again, and its current value comes anew. */
  adopt(transport, usable) {
    this.#transport = transport
    transport._watchEvents((data, start, end) => this.#event(data, start, end))
    if (usable) {
      for (const sub of this.#subs.values()) {
        sub.awaitingAck = false
        transport._notify(K.WATCH, sub.body)
      }
    }
    this.#hold()
  }

  /** The connection is closed for good. */
  end(err) {
    this.#endError = err
    for (const sub of this.#subs.values()) for (const w of [...sub.watchers]) w._end(err)
    this.#subs.clear()
    this.#referenced = 0
    this.#hold()
  }

  #event(data, start, end) {
    let body
    try {
      body = decode(data, start, end)
    } catch {
      return
    }
    const sub = this.#subs.get(body?.[K.EVENT_KEY])
    if (sub === undefined) return
    sub.value = body[K.EVENT_DATA]
    sub.version++
    sub.awaitingAck = true
    for (const w of sub.watchers) w._deliver()
  }

  // Called when a Watcher has taken the latest value and asks for more: that is the ack.
  // Whether its siblings have taken it does not matter, as they will get the latest anyway.
  _maybeAck(sub) {
    if (!sub.awaitingAck || this.#subs.get(sub.key) !== sub) return
    sub.awaitingAck = false
    this.#transport?._notify(K.WATCH, sub.body)
  }

  _remove(sub, watcher, referenced) {
    sub.watchers.delete(watcher)
    if (referenced) this._referenced(-1)
    if (sub.watchers.size > 0) return
    if (this.#subs.get(sub.key) === sub) this.#subs.delete(sub.key)
    this.#transport?._notify(K.UNWATCH, sub.body)
  }

  _referenced(delta) {
    const before = this.#referenced > 0
    this.#referenced += delta
    if (before !== this.#referenced > 0) {
      this.#hold()
      this.#onReferenced()
    }
  }

  // Holds the current transport while a referenced Watcher is open (one hold, moved on reconnect).
  #hold() {
    const want = this.#referenced > 0 && this.#transport !== null && !this.#transport.closed ? this.#transport : null
    if (want === this.#held) return
    if (this.#held !== null) this.#held._unhold()
    if (want !== null) want._hold()
    this.#held = want
  }
}

module.exports = { Watcher, WatchRegistry }
