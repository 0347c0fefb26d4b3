'use strict'

// A pool over a Tarantool replica set: one client Connection per instance, requests routed by
// the instance's role in round-robin. Servers with watchers (2.10+) report their role
// themselves (the box.status key), so a change is seen within milliseconds; older ones are
// polled (box.info.ro) periodically, after every reconnect and at once when a write meets
// ER_READONLY. Replication itself is Tarantool's.
//
// The event loop: pending work holds it (a request waiting for an instance, add() waiting for
// a role); an idle pool does not (its timers are unref'd, a role check holds it while it runs).

const { EventEmitter } = require('node:events')
const { connect } = require('./client')
const { ConnectionError, TimeoutError, abortError } = require('./errors')
const { unsupported } = require('./protocol')
const { checkArguments, requestOptions, failedCall } = require('./request-methods')
const { checkTransactionOptions } = require('./stream')
const { checkNumber, checkFunction, describe, MILLISECONDS } = require('./args')
const { zeroStats, totalOf } = require('./stats')
const { withoutPassword } = require('./uri')
const { kInternal } = require('./tracing')

const MODES = ['rw', 'ro', 'prefer-ro', 'prefer-rw', 'any']
const DEFAULT_MODE = Object.freeze({ ping: 'any', select: 'any' })
const WRITE_MODE = 'rw'
const ER_READONLY = 'ER_READONLY'
const DEFAULT_CHECK_INTERVAL = 1000
const DEFAULT_WAIT = 10000

// What each routed method checks before it waits for an instance: a bad argument is rejected at
// once, with the error the connection's method would give, whether an instance is up or not.
const CHECKS = {
  ...checkArguments,
  stream: requestOptions,
  transaction(fn, opts) {
    checkFunction(fn, 'the transaction callback')
    checkTransactionOptions(opts)
  },
}

/**
 * One instance, known by its URI without the password (`uri`): that is what the pool shows
 * (instances(), events, watch items, stats, errors) and what add() and remove() match.
 */
class Instance {
  constructor(uri) {
    // Only connect() sees the URI as given.
    this.target = uri
    this.uri = withoutPassword(uri)
    this.conn = null
    this.ro = null
    this.running = false
    this.lastError = null
    this.checking = null
    // The box.status Watcher, when the server has watchers: polling is then not needed.
    this.status = null
    this.firstStatus = null
    // Until the first box.status value: ref'd while add() waits on it.
    this.firstStatusTimer = null
    // An add() waits for the open (or reopen) under way.
    this.awaited = false
  }

  /** Someone waits for the open under way: the wait for the first status holds Node. */
  waitedFor() {
    this.awaited = true
    if (this.firstStatusTimer !== null) this.firstStatusTimer.ref()
  }

  get connected() {
    return this.conn !== null && this.conn.state === 'connected'
  }

  info() {
    const serverVersion = this.conn === null ? null : this.conn.serverVersion
    return { uri: this.uri, connected: this.connected, ro: this.ro, serverVersion, lastError: this.lastError }
  }
}

/**
 * Events: 'change' ({ uri, connected, ro, added?, removed? }) on a role or membership change
 * (`uri` without its password, as everywhere the pool shows one),
 * 'close' once close() has closed every connection,
 * 'error' (err, uri) when an instance fails and someone listens.
 */
class Pool extends EventEmitter {
  #instances = new Map()
  #options
  #checkInterval
  #timer = null
  #next = 0
  #waiters = new Set()
  #closed = false

  constructor(options) {
    super()
    const { checkInterval, ...clientOptions } = options
    this.#checkInterval = checkInterval
    clientOptions.heartbeat = idleHeartbeat(clientOptions.heartbeat)
    this.#options = clientOptions
    this.#timer = setInterval(() => this.#checkAll(), checkInterval)
    this.#timer.unref()
  }

  /** [{ uri, connected, ro, serverVersion (null before the first connect), lastError }] */
  instances() {
    return [...this.#instances.values()].map((i) => i.info())
  }

  /**
   * `{ instances: { [uri]: Connection#stats() }, total }`: each instance's counts (zeros for one
   * never connected) and their sums (without connectedSince).
   */
  stats() {
    const instances = {}
    for (const inst of this.#instances.values()) instances[inst.uri] = inst.conn === null ? zeroStats() : inst.conn.stats()
    return { instances, total: totalOf(Object.values(instances)) }
  }

  /**
   * Adds an instance and connects to it (in the background when it is down). A URI known
   * already, with or without its password, adds nothing.
   */
  add(uri) {
    if (typeof uri !== 'string' || uri === '') return Promise.reject(new TypeError('uri must be a non-empty string'))
    if (this.#closed) return Promise.reject(poolClosed())
    const known = this.#instances.get(withoutPassword(uri))
    if (known !== undefined) {
      if (known.checking === null) return Promise.resolve()
      known.waitedFor()
      return known.checking
    }
    const inst = new Instance(uri)
    inst.awaited = true
    this.#instances.set(inst.uri, inst)
    this.#emitChange(inst, { added: true })
    return this.#open(inst)
  }

  /** Removes an instance (its URI with or without the password): its connection closes gracefully. */
  async remove(uri) {
    if (typeof uri !== 'string') throw new TypeError('uri must be a string')
    const inst = this.#instances.get(withoutPassword(uri))
    if (inst === undefined) return
    this.#instances.delete(inst.uri)
    this.#emitChange(inst, { removed: true })
    if (inst.conn !== null && !inst.conn.closed) await inst.conn.close()
  }

  async close() {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    for (const w of this.#waiters) w.fail(poolClosed())
    await Promise.all([...this.#instances.values()].map((i) => (i.conn === null || i.conn.closed ? null : i.conn.close())))
    this.emit('close')
  }

  [Symbol.asyncDispose]() {
    return this.close()
  }

  // `args`: the method's arguments, options last. `send(conn, opts)`: opts with what remains of
  // the timeout once an instance was waited for.
  ping(opts) { return this.#route('ping', [opts], (c, o) => c.ping(o)) }
  select(space, index, key, opts) { return this.#route('select', [space, index, key, opts], (c, o) => c.select(space, index, key, o)) }
  insert(space, tuple, opts) { return this.#route('insert', [space, tuple, opts], (c, o) => c.insert(space, tuple, o)) }
  replace(space, tuple, opts) { return this.#route('replace', [space, tuple, opts], (c, o) => c.replace(space, tuple, o)) }
  update(space, index, key, ops, opts) { return this.#route('update', [space, index, key, ops, opts], (c, o) => c.update(space, index, key, ops, o)) }
  upsert(space, tuple, ops, opts) { return this.#route('upsert', [space, tuple, ops, opts], (c, o) => c.upsert(space, tuple, ops, o)) }
  delete(space, index, key, opts) { return this.#route('delete', [space, index, key, opts], (c, o) => c.delete(space, index, key, o)) }
  execute(sql, params, opts) { return this.#route('execute', [sql, params, opts], (c, o) => c.execute(sql, params, o)) }
  /** Prepares on one instance; the statement then runs on that instance's connection. */
  prepare(sql, opts) { return this.#route('prepare', [sql, opts], (c, o) => c.prepare(sql, o)) }

  /**
   * A Stream on one instance, chosen by `mode` (default 'rw') once: all its requests go there
   * and it does not move; an open transaction on it is lost if that instance goes away.
   */
  stream(opts) { return this.#route('stream', [opts], (c) => c.stream()) }
  /** Connection#transaction on one instance chosen by `mode` (default 'rw'). */
  transaction(fn, opts) { return this.#route('transaction', [fn, opts], (c, o) => c.transaction(fn, o)) }

  /**
   * Watches `key` on every instance `mode` selects (default 'any'; 'rw': the masters, 'ro': the
   * replicas), following role and membership changes: a PoolWatcher, an async iterable of
   * `{ uri, value }`, or with `callback(value, key, uri)` called for each. It returns no
   * promise, so bad arguments (and a server without watchers) throw.
   */
  watch(key, opts, callback) {
    if (typeof opts === 'function') {
      callback = opts
      opts = undefined
    }
    if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string')
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('the watch callback must be a function')
    const mode = opts == null || opts.mode === undefined ? 'any' : opts.mode
    if (!MODES.includes(mode)) throw new TypeError(`mode must be one of ${MODES.join(', ')}, got ${describe(mode)}`)
    const up = [...this.#instances.values()].filter((i) => i.connected)
    if (up.length > 0 && up.every((i) => !i.conn.protocol.features.includes('watchers'))) {
      throw unsupported('watchers', `pool.watch('${key}')`, up[0].conn.transport.serverVersion)
    }
    // On a closed pool, as on a closed connection: a closed PoolWatcher whose iteration rejects.
    const refusal = this.#closed ? poolClosed() : null
    return new PoolWatcher(this, key, callback, () => this.#watchable(mode), refusal)
  }

  // The instances a watch in `mode` covers now.
  #watchable(mode) {
    const up = [...this.#instances.values()].filter((i) => i.connected && i.conn.protocol.features.includes('watchers'))
    if (mode === 'rw') return up.filter((i) => i.ro === false)
    if (mode === 'ro') return up.filter((i) => i.ro === true)
    return up
  }

  /** Like Connection#call: a promise of the result that also iterates the pushes. */
  call(name, args, opts) {
    return this.#routeCall('call', [name, args, opts], (c, o) => c.call(name, args, o))
  }

  eval(expr, args, opts) {
    return this.#routeCall('eval', [expr, args, opts], (c, o) => c.eval(expr, args, o))
  }

  // Connects (or reconnects, once the connection closed for good) to an instance; an instance
  // removed meanwhile, even if added again since, keeps no connection.
  async #open(inst) {
    inst.checking = (async () => {
      try {
        const conn = await connect(inst.target, this.#options)
        if (this.#instances.get(inst.uri) !== inst || this.#closed) {
          conn.destroy()
          return
        }
        const reopened = inst.conn !== null
        inst.conn = conn
        inst.lastError = null
        if (reopened) this.#emitChange(inst)
        conn.on('disconnect', (err) => {
          inst.lastError = err
          this.#emitChange(inst)
        })
        conn.on('reconnect', () => {
          this.#emitChange(inst)
          this.#check(inst)
        })
        // Draining: no new request goes there (Instance#connected is false meanwhile).
        conn.on('shutdown', () => this.#emitChange(inst))
        this.#followStatus(inst)
        await this.#check(inst)
      } catch (err) {
        inst.lastError = err
        if (this.listenerCount('error') > 0) this.emit('error', err, inst.uri)
      } finally {
        inst.checking = null
        inst.awaited = false
      }
    })()
    return inst.checking
  }

  // Takes the role from box.status pushes (2.10+): { is_ro, status, ... } at every change.
  // The first value comes at once: connecting waits for it (at most checkInterval ms), and
  // while add() waits, so does Node (the Watcher itself does not hold it).
  #followStatus(inst) {
    inst.status = null
    if (!inst.conn.protocol.features.includes('watchers')) return
    let known
    inst.firstStatus = new Promise((resolve) => {
      const timer = setTimeout(() => known(), this.#checkInterval)
      if (!inst.awaited) timer.unref()
      inst.firstStatusTimer = timer
      known = () => {
        clearTimeout(timer)
        if (inst.firstStatusTimer === timer) inst.firstStatusTimer = null
        resolve()
      }
    })
    inst.status = inst.conn.watch('box.status', (value) => {
      known()
      if (value === null || typeof value !== 'object') return
      this.#setRole(inst, value.is_ro, value.status)
    }).unref()
  }

  // Reads box.info.ro unless box.status reports the role (polling stays the fallback when it
  // says nothing); a change of role is announced and may release waiting requests.
  async #check(inst) {
    if (inst.conn === null) return
    if (inst.status !== null) {
      await inst.firstStatus
      if (inst.ro !== null) return
    }
    let ro
    let status
    try {
      ;[ro, status] = await inst.conn.eval('return box.info.ro, box.info.status', [], { timeout: this.#checkInterval, [kInternal]: true })
    } catch (err) {
      inst.lastError = err
      // An instance too slow to say its role is taken out of rotation until it answers again.
      if (err instanceof TimeoutError && inst.running) {
        inst.running = false
        this.#emitChange(inst)
      }
      return
    }
    this.#setRole(inst, ro, status)
  }

  #setRole(inst, ro, status) {
    // An instance still loading (or orphaned) is not offered requests.
    inst.running = status === 'running'
    if (ro !== inst.ro) {
      inst.ro = ro
      this.#emitChange(inst)
    }
    this.#wakeWaiters()
  }

  // Opens what is down for good (never connected, or closed: `reconnect: false` or its retries
  // used up), checks the roles of the others.
  #checkAll() {
    for (const inst of this.#instances.values()) {
      if (inst.checking !== null) continue
      if (inst.conn === null || inst.conn.closed) this.#open(inst)
      else if (inst.connected) this.#check(inst)
    }
  }

  #emitChange(inst, extra) {
    this.emit('change', { ...inst.info(), ...extra })
  }

  // Round-robin over connected instances of the wanted role; null when there is none.
  #pick(mode) {
    const all = [...this.#instances.values()].filter((i) => i.connected && i.running && i.ro !== null)
    const rw = all.filter((i) => !i.ro)
    const ro = all.filter((i) => i.ro)
    let eligible
    switch (mode) {
      case 'rw': eligible = rw; break
      case 'ro': eligible = ro; break
      case 'prefer-ro': eligible = ro.length > 0 ? ro : rw; break
      case 'prefer-rw': eligible = rw.length > 0 ? rw : ro; break
      default: eligible = all
    }
    if (eligible.length === 0) return null
    return eligible[this.#next++ % eligible.length]
  }

  // The mode of a request whose arguments are good; throws the first bad one (the mode last).
  #checked(method, args) {
    CHECKS[method](...args)
    const opts = args[args.length - 1]
    const mode = opts == null || opts.mode === undefined ? DEFAULT_MODE[method] || WRITE_MODE : opts.mode
    if (!MODES.includes(mode)) throw new TypeError(`mode must be one of ${MODES.join(', ')}, got ${describe(mode)}`)
    return mode
  }

  // Sends through an eligible instance, waiting for one when there is none; the request's
  // timeout covers the wait and the request together. A write that meets a read-only instance
  // triggers a role check at once.
  #route(method, args, send) {
    const opts = args[args.length - 1]
    let mode
    try {
      mode = this.#checked(method, args)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#instanceFor(mode, opts).then(({ inst, rest }) => this.#watchReadOnly(send(inst.conn, rest)))
  }

  #routeCall(method, args, send) {
    const opts = args[args.length - 1]
    let mode
    try {
      mode = this.#checked(method, args)
    } catch (err) {
      return failedCall(err)
    }
    const inst = this.#closed ? null : this.#pick(mode)
    if (inst !== null) return this.#watchReadOnly(send(inst.conn, opts))
    // Wrapped, so that the promise holds the Call itself rather than adopting its result.
    return pendingCall(this.#instanceFor(mode, opts).then(({ inst: i, rest }) => ({ call: this.#watchReadOnly(send(i.conn, rest)) })))
  }

  // A write refused as read-only means the roles moved: look at every instance now, since
  // the new master is elsewhere.
  #watchReadOnly(result) {
    Promise.resolve(result).catch((err) => {
      if (err && err.code === ER_READONLY) {
        for (const inst of this.#instances.values()) if (inst.connected) this.#check(inst)
      }
    })
    return result
  }

  // { inst, rest }: an eligible instance, waited for up to the timeout when there is none, and
  // the request's options with what remains of its timeout (the same ones when it did not wait).
  #instanceFor(mode, opts) {
    if (this.#closed) return Promise.reject(poolClosed())
    const inst = this.#pick(mode)
    if (inst !== null) return Promise.resolve({ inst, rest: opts })
    const timeout = opts?.timeout ?? this.#options.timeout
    const wait = timeout ?? DEFAULT_WAIT
    const started = performance.now()
    const expired = () => new TimeoutError(`no ${mode === 'rw' ? 'writable (master)' : mode} instance available within ${wait} ms`)
    return new Promise((resolve, reject) => {
      const waiter = {
        mode,
        timer: setTimeout(() => waiter.fail(expired()), wait),
        signal: opts?.signal,
        onAbort: null,
        done: (i) => {
          if (timeout === undefined) {
            waiter.cleanup()
            return resolve({ inst: i, rest: opts })
          }
          const left = Math.ceil(timeout - (performance.now() - started))
          if (left <= 0) return waiter.fail(expired())
          waiter.cleanup()
          resolve({ inst: i, rest: { ...opts, timeout: left } })
        },
        fail: (err) => { waiter.cleanup(); reject(err) },
        cleanup: () => {
          this.#waiters.delete(waiter)
          clearTimeout(waiter.timer)
          if (waiter.onAbort !== null) waiter.signal.removeEventListener('abort', waiter.onAbort)
        },
      }
      if (waiter.signal != null) {
        if (waiter.signal.aborted) return waiter.fail(abortError(waiter.signal))
        waiter.onAbort = () => waiter.fail(abortError(waiter.signal))
        waiter.signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.#waiters.add(waiter)
    })
  }

  #wakeWaiters() {
    for (const w of [...this.#waiters]) {
      const inst = this.#pick(w.mode)
      if (inst !== null) w.done(inst)
    }
  }
}

/**
 * One key watched on several instances of a pool. Each instance's Watcher is acked once the
 * value it brought has been taken (by the iterator, or the callback's return), so each
 * instance has at most one value waiting here: the latest.
 */
class PoolWatcher {
  #pool
  #key
  #callback
  #select
  #watchers = new Map()
  #queue = []
  #waiter = null
  #closed = false
  // What the first next() rejects with, on a PoolWatcher made closed.
  #error = null
  #referenced = true
  #onChange = () => this.#sync()
  #onPoolClose = () => this.close()

  /** `refusal`: the pool is closed, and this PoolWatcher comes closed with that error. */
  constructor(pool, key, callback, select, refusal) {
    this.#pool = pool
    this.#key = key
    this.#callback = callback
    this.#select = select
    if (refusal !== null) {
      this.#closed = true
      this.#error = refusal
      return
    }
    pool.on('change', this.#onChange)
    pool.once('close', this.#onPoolClose)
    this.#sync()
  }

  get key() {
    return this.#key
  }

  /** The URIs watched now. */
  get uris() {
    return [...this.#watchers.keys()]
  }

  [Symbol.asyncIterator]() {
    if (this.#callback !== undefined) throw new TypeError('a PoolWatcher with a callback is not iterable')
    return this
  }

  next() {
    if (this.#queue.length > 0) return Promise.resolve(this.#take())
    if (this.#error !== null) {
      const err = this.#error
      this.#error = null
      return Promise.reject(err)
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true })
    if (this.#waiter !== null) return Promise.reject(new TypeError('next() called before the previous one settled'))
    return new Promise((resolve) => {
      this.#waiter = resolve
    })
  }

  return() {
    this.close()
    return Promise.resolve({ value: undefined, done: true })
  }

  close() {
    this.#error = null
    if (this.#closed) return
    this.#closed = true
    this.#pool.off('change', this.#onChange)
    this.#pool.off('close', this.#onPoolClose)
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
    for (const item of this.#queue.splice(0)) item.taken()
    if (this.#waiter !== null) {
      const wake = this.#waiter
      this.#waiter = null
      wake({ value: undefined, done: true })
    }
  }

  [Symbol.dispose]() {
    this.close()
  }

  unref() {
    this.#referenced = false
    for (const w of this.#watchers.values()) w.unref()
    return this
  }

  ref() {
    this.#referenced = true
    for (const w of this.#watchers.values()) w.ref()
    return this
  }

  #take() {
    const item = this.#queue.shift()
    item.taken()
    return { value: { uri: item.uri, value: item.value }, done: false }
  }

  // Starts watching on instances the mode selects now, stops on those it no longer does.
  #sync() {
    if (this.#closed) return
    const selected = new Map(this.#select().map((i) => [i.uri, i]))
    for (const [uri, w] of this.#watchers) {
      if (!selected.has(uri)) {
        w.close()
        this.#watchers.delete(uri)
      }
    }
    for (const [uri, inst] of selected) {
      if (this.#watchers.has(uri)) continue
      const w = inst.conn.watch(this.#key, (value) => this.#offer(uri, value))
      if (!this.#referenced) w.unref()
      this.#watchers.set(uri, w)
    }
  }

  #offer(uri, value) {
    if (this.#closed) return undefined
    if (this.#callback !== undefined) return this.#callback(value, this.#key, uri)
    return new Promise((taken) => {
      this.#queue.push({ uri, value, taken })
      if (this.#waiter !== null) {
        const wake = this.#waiter
        this.#waiter = null
        wake(this.#take())
      }
    })
  }
}

function poolClosed() {
  return new ConnectionError('pool is closed', 'ERR_CONNECTION_CLOSED')
}

/**
 * A call/eval waiting for an eligible instance (`chosen`: a promise of { call } once one is):
 * the same shape as a Connection's Call, a native promise that also iterates the pushes.
 */
function pendingCall(chosen) {
  const promise = chosen.then(({ call }) => call)
  // As with a Connection's Call, a failure nobody awaits is not an unhandled rejection.
  promise.catch(() => {})
  promise.pushes = (options) => pushesOfChosen(chosen, (call) => call.pushes(options))
  promise[Symbol.asyncIterator] = () => pushesOfChosen(chosen, (call) => call[Symbol.asyncIterator]())
  return promise
}

async function * pushesOfChosen(chosen, open) {
  const { call } = await chosen
  yield * open(call)
}

/**
 * The pool's connections ping even when idle (`heartbeat.idle`), unless told otherwise: a frozen
 * instance then leaves rotation within interval + timeout, whether requests are pending or not.
 */
function idleHeartbeat(heartbeat) {
  if (heartbeat === undefined || heartbeat === true) return { idle: true }
  if (heartbeat !== null && typeof heartbeat === 'object' && heartbeat.idle === undefined) return { ...heartbeat, idle: true }
  return heartbeat
}

/**
 * Connects to every URI of a replica set (or to vshard routers, as plain instances) and
 * resolves once at least one is up; the others keep being retried every `checkInterval` ms.
 */
async function connectPool(uris, options = {}) {
  if (!Array.isArray(uris) || uris.length === 0 || uris.some((u) => typeof u !== 'string' || u === '')) {
    throw new TypeError('connectPool() takes a non-empty array of URI strings')
  }
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const checkInterval = options.checkInterval === undefined
    ? DEFAULT_CHECK_INTERVAL
    : checkNumber(options.checkInterval, 'checkInterval', { ...MILLISECONDS, min: 1 })
  const pool = new Pool({ ...options, checkInterval })
  await Promise.all(uris.map((u) => pool.add(u)))
  if (!pool.instances().some((i) => i.connected)) {
    const errors = pool.instances().map((i) => `${i.uri}: ${i.lastError?.message}`)
    await pool.close()
    throw new ConnectionError(`no instance of the pool could be reached (${errors.join('; ')})`, 'ERR_NO_INSTANCE')
  }
  return pool
}

module.exports = { connectPool, Pool, PoolWatcher }
