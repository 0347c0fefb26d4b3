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

/** Checks { isolation, txnTimeout, retries, timeout, signal }; returns the first three, `retries` defaulted. */
function checkTransactionOptions(options) {
  const o = requestOptions(options)
  if (o.isolation !== undefined && !Object.hasOwn(ISOLATION, o.isolation)) {
    throw new TypeError(`isolation must be one of ${Object.keys(ISOLATION).join(', ')}, got ${describe(o.isolation)}`)
  }
  if (o.txnTimeout !== undefined) {
    checkNumber(o.txnTimeout, 'txnTimeout', MILLISECONDS)
    if (o.txnTimeout === 0) throw new RangeError('txnTimeout must be more than 0 ms')
  }
  const retries = o.retries === undefined ? 0 : checkNumber(o.retries, 'retries', { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true })
  return { isolation: o.isolation, txnTimeout: o.txnTimeout, retries }
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
   * Begins a transaction: `{ isolation` (a name of ISOLATION)`, txnTimeout }` (ms; the server
   * rolls back a transaction older than that). Requests issued after it, without waiting for
   * its answer, are in the transaction too.
   */
  begin(options) {
    let body
    try {
      const { isolation, txnTimeout } = checkTransactionOptions(options)
      body = build.begin(isolation === undefined ? undefined : ISOLATION[isolation], txnTimeout === undefined ? undefined : txnTimeout / 1000)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this[kLostError]() ?? this.#unsupported('begin')
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

  /** Commits; the transaction is over whatever the answer (ER_TRANSACTION_CONFLICT, ...). */
  commit(options) {
    return this.#finish(K.COMMIT, 'commit', options)
  }

  rollback(options) {
    return this.#finish(K.ROLLBACK, 'rollback', options)
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

  #finish(type, what, options) {
    // Checked first: a bad argument leaves the transaction as it was.
    let opts
    try {
      opts = requestOptions(options)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this[kLostError]() ?? this.#unsupported(what)
    if (refusal === null) this.#txn = NONE
    return this.#life.request(type, '', noValue, opts, null, this.#id, refusal)
  }

  #unsupported(what) {
    const transport = this.#life.transport
    return transport._serverHas('transactions') ? null : unsupported('transactions', `${what}()`, transport.serverVersion)
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
 * ER_TRANSACTION_CONFLICT.
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
