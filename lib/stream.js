'use strict'

// Streams and interactive transactions (Tarantool 2.10+): the connection's request methods
// with a STREAM_ID, plus begin/commit/rollback. The server rolls back a stream's open
// transaction when the socket closes, so a stream whose transaction was open then is dead: it
// refuses every later request (ERR_TRANSACTION_LOST) rather than run it, after a reconnect,
// outside the transaction its caller believes it is in.

const { ConnectionError, TarantoolError } = require('./errors')
const { unsupported } = require('./protocol')
const { requestApi, kRequester, requestOptions, noValue } = require('./request-methods')
const build = require('./requests')
const { checkNumber, checkFunction, describe, MILLISECONDS } = require('./args')
const K = require('./iproto').IPROTO

/** TXN_ISOLATION values, by net.box's names. */
const ISOLATION = Object.freeze({
  default: 0,
  'read-committed': 1,
  'read-confirmed': 2,
  'best-effort': 3,
  linearizable: 4,
})

const ER_ACTIVE_TRANSACTION = 79
const ER_TRANSACTION_CONFLICT = 97
const NONE = 0
const OPEN = 1
const LOST = 2
const kCreate = Symbol('kharon.stream')
const kLostError = Symbol('kharon.lostError')

/** `isSync` of begin's or commit's options: absent or a boolean. */
function checkIsSync(o) {
  if (o.isSync !== undefined && typeof o.isSync !== 'boolean') throw new TypeError(`isSync must be a boolean, got ${describe(o.isSync)}`)
  return o.isSync === true
}

/**
 * Checks { isolation, txnTimeout, isSync, retries, timeout, signal }; returns the first four,
 * `isSync` as a boolean and `retries` defaulted.
 */
function checkTransactionOptions(options) {
  const o = requestOptions(options)
  const isSync = checkIsSync(o)
  if (o.isolation !== undefined && !Object.hasOwn(ISOLATION, o.isolation)) {
    throw new TypeError(`isolation must be one of ${Object.keys(ISOLATION).join(', ')}, got ${describe(o.isolation)}`)
  }
  if (o.txnTimeout !== undefined) {
    checkNumber(o.txnTimeout, 'txnTimeout', MILLISECONDS)
    if (o.txnTimeout === 0) throw new RangeError('txnTimeout must be more than 0 ms')
  }
  const retries = o.retries === undefined ? 0 : checkNumber(o.retries, 'retries', { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true })
  return { isolation: o.isolation, txnTimeout: o.txnTimeout, isSync, retries }
}

/**
 * A stream of one connection (`conn.stream()`): every request method of the connection, its
 * requests carrying this stream's id, so the server runs them in the order they are issued;
 * and begin/commit/rollback for a transaction spanning them. Servers before 2.10 ignore the id:
 * there requests on a stream are plain requests, and begin() is refused (ERR_UNSUPPORTED).
 */
class Stream extends requestApi(Object) {
  #conn
  #life
  #id
  #txn = NONE
  // The connection (by generation) that carries the open transaction.
  #generation = 0
  #lost = null
  #requester

  /** Use conn.stream(). */
  constructor(token, conn, life, id) {
    if (token !== kCreate) throw new TypeError('use conn.stream() to create a Stream')
    super()
    this.#conn = conn
    this.#life = life
    this.#id = id
    this.#requester = new StreamRequester(life, id, () => this[kLostError]())
  }

  get [kRequester]() {
    return this.#requester
  }

  /** The STREAM_ID its requests carry. */
  get id() {
    return this.#id
  }

  get connection() {
    return this.#conn
  }

  /** Whether a transaction was begun and not yet committed, rolled back or lost. */
  get inTransaction() {
    return this[kLostError]() === null && this.#txn === OPEN
  }

  /**
   * Begins a transaction: `{ isolation` (a name of ISOLATION)`, txnTimeout` (ms; the server
   * rolls back a transaction older than that)`, isSync }` (true: a synchronous transaction,
   * committed once a quorum of replicas has it, whatever its spaces; 3.2+). Requests issued
   * after it, without waiting for its answer, are in the transaction too.
   */
  begin(options) {
    let body
    let isSync
    try {
      const o = checkTransactionOptions(options)
      isSync = o.isSync
      body = build.begin(o.isolation === undefined ? undefined : ISOLATION[o.isolation], o.txnTimeout === undefined ? undefined : o.txnTimeout / 1000, isSync)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this[kLostError]() ?? this.#unsupportedSync(isSync, 'begin') ?? this.#unsupported('begin')
    if (refusal !== null) return Promise.reject(refusal)
    const generation = this.#life.sendingGeneration()
    this.#txn = OPEN
    this.#generation = generation
    return this.#life.request(K.BEGIN, body, noValue, options, null, this.#id).catch((err) => {
      // Refused by the server: no transaction, unless one was open already (ACTIVE_TRANSACTION).
      if (err instanceof TarantoolError && err.errcode !== ER_ACTIVE_TRANSACTION && this.#generation === generation) this.#txn = NONE
      throw err
    })
  }

  /**
   * Commits; the transaction is over whatever the answer (ER_TRANSACTION_CONFLICT, ...).
   * `{ isSync: true }` makes it synchronous at commit (3.2+), as begin's `isSync` does.
   */
  commit(options) {
    return this.#finish(K.COMMIT, 'commit', options, true)
  }

  rollback(options) {
    return this.#finish(K.ROLLBACK, 'rollback', options, false)
  }

  /** `await using tx = await conn.begin()`: rolls back what was not committed. */
  async [Symbol.asyncDispose]() {
    if (this.inTransaction) await this.rollback()
  }

  /** ERR_TRANSACTION_LOST once the connection that carried the open transaction is gone. */
  [kLostError]() {
    if (this.#txn === OPEN && !this.#life.alive(this.#generation)) {
      this.#txn = LOST
      this.#lost = new ConnectionError(
        `the transaction on stream ${this.#id} was lost with its connection (the server rolled it back)`,
        'ERR_TRANSACTION_LOST',
      )
    }
    return this.#txn === LOST ? this.#lost : null
  }

  #finish(type, what, options, takesSync) {
    // Checked first: a bad argument, or a refused isSync, leaves the transaction as it was.
    let opts
    let isSync = false
    try {
      opts = requestOptions(options)
      if (takesSync) isSync = checkIsSync(opts)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this[kLostError]() ?? this.#unsupportedSync(isSync, what) ?? this.#unsupported(what)
    if (refusal === null) this.#txn = NONE
    return this.#life.request(type, isSync ? build.commit(true) : '', noValue, opts, null, this.#id, refusal)
  }

  #unsupported(what) {
    const transport = this.#life.transport
    return transport._serverHas('transactions') ? null : unsupported('transactions', `${what}()`, transport.serverVersion)
  }

  // A server with is_sync has transactions too: asked for isSync, the feature named is is_sync.
  #unsupportedSync(isSync, what) {
    const transport = this.#life.transport
    return !isSync || transport._serverHas('is_sync') ? null : unsupported('is_sync', `${what}({ isSync: true })`, transport.serverVersion)
  }
}

/** A Stream's Requester (see request-methods.js): its connection's, with its STREAM_ID. */
class StreamRequester {
  #life
  #id
  #lostError

  constructor(life, id, lostError) {
    this.#life = life
    this.#id = id
    this.#lostError = lostError
  }

  get catalog() {
    return this.#life.catalog
  }

  get transport() {
    return this.#life.transport
  }

  request(type, body, decodeBody, opts, name) {
    return this.#life.request(type, body, decodeBody, opts, name, this.#id, this.#lostError())
  }

  call(type, body, opts, name) {
    return this.#life.call(type, body, opts, name, this.#id, this.#lostError())
  }
}

function openStream(conn, life, id) {
  return new Stream(kCreate, conn, life, id)
}

/**
 * Runs `fn(tx)` in a transaction on a stream from `openOne()`: commits when it returns,
 * rolls back when it throws; `retries` more times, each in a new transaction, on
 * ER_TRANSACTION_CONFLICT. `isSync` goes on BEGIN, which makes the whole transaction synchronous.
 */
async function runTransaction(openOne, fn, options) {
  checkFunction(fn, 'the transaction callback')
  const { retries } = checkTransactionOptions(options)
  for (let attempt = 0; ; attempt++) {
    const tx = openOne()
    await tx.begin(options)
    try {
      const value = await fn(tx)
      await tx.commit()
      return value
    } catch (err) {
      const failure = tx[kLostError]() ?? err
      if (tx.inTransaction) await tx.rollback().catch(() => {})
      if (attempt < retries && failure.errcode === ER_TRANSACTION_CONFLICT) continue
      throw failure
    }
  }
}

module.exports = { Stream, openStream, runTransaction, checkTransactionOptions, ISOLATION }
