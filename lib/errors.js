'use strict'

const native = require('../binding.js')
const { decode, setErrorDecoder } = require('./msgpack')
const { requestTypeName } = require('./iproto')
const { addressOf } = require('./debug')

const ERROR_24 = 0x31
const ERROR = 0x52

// Every error kharon raises is one of these classes, each with a stable string `code`.

class KharonError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.code = code
  }
}

/** The socket failed or closed: `code` is the OS code (ECONNREFUSED, ECONNRESET, ...). */
class ConnectionError extends KharonError {}

/** A deadline passed: `code` is always 'ETIMEDOUT'. */
class TimeoutError extends KharonError {
  constructor(message, options) {
    super(message, 'ETIMEDOUT', options)
  }
}

/** The peer broke the IPROTO protocol; the connection is closed. */
class ProtocolError extends KharonError {}

/**
 * An error the server reported: `code` is Tarantool's name (ER_NO_SUCH_PROC), `errcode` its
 * number, `serverStack` the IPROTO_ERROR stack (newest first), `type` and `fields` those of its
 * newest entry; the older entries (`box.error` causes) follow as the `cause` chain.
 */
class TarantoolError extends KharonError {
  constructor(message, code, errcode, serverStack = [], options) {
    super(message, code, options)
    this.errcode = errcode
    this.serverStack = serverStack
    const top = serverStack[0]
    this.type = top === undefined ? undefined : top.type
    this.fields = top === undefined ? undefined : top.fields
  }
}

/** The server lacks a feature: `feature` names it, `serverVersion` is the server's. */
class UnsupportedError extends KharonError {
  constructor(message, { feature, serverVersion }) {
    super(message, 'ERR_UNSUPPORTED')
    this.feature = feature
    this.serverVersion = serverVersion
  }
}

/** Pushes were dropped because nobody iterated them before the buffer filled. */
class PushOverflowError extends KharonError {
  constructor(message) {
    super(message, 'ERR_PUSH_OVERFLOW')
  }
}

/** The request was aborted through its AbortSignal; the signal's reason is `cause`. */
class AbortError extends KharonError {
  constructor(message, options) {
    super(message, 'ABORT_ERR', options)
  }
}

/** A bug in kharon, reported instead of crashing the process. */
class InternalError extends KharonError {}

/**
 * An error the crud module returned (`nil, err`: an errors-library object, not MP_ERROR), code
 * 'ERR_CRUD': `className` (InsertError, GetSpaceError, ...), `operationData` (the tuple or
 * object it failed on, for batches). A batch call that failed in part rejects with one carrying
 * `errors` (each one) and `result` (the rows that did go in). An option crud's argument checks
 * refuse is a TarantoolError instead: the server raised it.
 */
class CrudError extends KharonError {
  constructor(message, { className, operationData, errors, result } = {}) {
    super(message, 'ERR_CRUD')
    this.className = className
    this.operationData = operationData
    if (errors !== undefined) this.errors = errors
    if (result !== undefined) this.result = result
  }

  /** The CrudError of what crud returned as the error of `crud.<fn>`. */
  static from(value, fn) {
    if (value instanceof Error) return value
    if (value === null || typeof value !== 'object') return new CrudError(`crud.${fn}: ${String(value)}`)
    const message = typeof value.err === 'string' ? value.err : typeof value.str === 'string' ? value.str : `crud.${fn} failed`
    return new CrudError(message, {
      className: typeof value.class_name === 'string' ? value.class_name : undefined,
      operationData: value.operation_data,
    })
  }
}

/**
 * vshard refused a routed call for its bucket beyond what retrying could get past, code
 * 'ERR_SHARDING': `vshardCode` and `vshardName` (vshard's error: NO_ROUTE_TO_BUCKET,
 * UNREACHABLE_MASTER, ...), `bucketId`, `destination` (a replica set uuid, when vshard names one).
 */
class ShardingError extends KharonError {
  constructor(message, { vshardCode, vshardName, bucketId, destination } = {}) {
    super(message, 'ERR_SHARDING')
    this.vshardCode = vshardCode
    this.vshardName = vshardName
    this.bucketId = bucketId
    this.destination = destination
  }
}

for (const cls of [KharonError, ConnectionError, TimeoutError, ProtocolError, TarantoolError, UnsupportedError, PushOverflowError, AbortError, InternalError, CrudError, ShardingError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, writable: true, configurable: true })
}

const CLASSES = { ConnectionError, ProtocolError, InternalError }

/**
 * Turns the binding's ErrorInfo into the matching Error subclass. A refused AUTH comes with the
 * raw error response body, decoded here as every other error response is. With `address`
 * (where the connection goes), the error says where, in its message and as `host` and `port`
 * (or `path`).
 */
function fromInfo(info, address) {
  if (info.kind === 'TarantoolError') {
    const body = info.body ?? Buffer.alloc(0)
    const err = fromErrorResponse(info.errcode, body, 0, body.length)
    // The server's own message: it names the user at most, never the password (only its
    // scramble is sent). Set before anything reads `stack`, whose first line V8 writes then.
    err.message = `authentication failed: ${err.message}`
    return address === undefined ? err : locate(err, address)
  }
  const where = address === undefined ? '' : ` (${addressOf(address)})`
  if (info.kind === 'UnsupportedError') {
    return locate(new UnsupportedError(`${info.message}${where}`, { feature: info.feature, serverVersion: info.serverVersion }), address)
  }
  if (info.kind === 'TimeoutError') return locate(new TimeoutError(`${info.message}${where}`), address)
  const Cls = CLASSES[info.kind] || InternalError
  return locate(new Cls(`${info.message}${where}`, info.code), address)
}

/**
 * Why a connect attempt to `address` failed, saying where and how far it got: a refused or
 * unresolved address, a peer that never greeted (not a Tarantool, or a frozen one), a greeting
 * not followed by replies to ID and AUTH.
 */
function connectError(info, address, timeoutMs) {
  const where = addressOf(address)
  if (info.kind === 'TimeoutError') {
    let message = `connect to ${where} timed out after ${timeoutMs} ms`
    if (info.stage === 'greeting') message = `no Tarantool greeting from ${where} within ${timeoutMs} ms`
    else if (info.stage === 'handshake') message = `${where} greeted but did not answer the handshake (ID, AUTH) within ${timeoutMs} ms`
    return locate(new TimeoutError(message), address)
  }
  if (info.kind === 'ConnectionError') {
    const reason = info.message.replace(/ \(os error \d+\)$/, '')
    return locate(new ConnectionError(`connect ${info.code} ${where} (${reason})`, info.code), address)
  }
  return fromInfo(info, address)
}

/** Sets where a connection error happened: `host` and `port`, or `path` (never credentials). */
function locate(err, address) {
  if (address === undefined) return err
  if (address.path !== undefined) err.path = address.path
  else {
    err.host = address.host ?? 'localhost'
    err.port = address.port
  }
  return err
}

/** A request that did not settle within `ms`; it names the request (type, and function, space or cut SQL). */
function requestTimeout(ms, type, name, waiting = '') {
  return new TimeoutError(`request timed out after ${ms} ms${waiting} (${describeRequest(type, name)})`)
}

const NAME_IN_MESSAGE = 60

function describeRequest(type, name) {
  const kind = requestTypeName(type)
  if (name === null || name === undefined) return kind
  if (typeof name !== 'string') return `${kind} ${name}`
  return `${kind} '${name.length > NAME_IN_MESSAGE ? `${name.slice(0, NAME_IN_MESSAGE)}…` : name}'`
}

/**
 * Entries of an error stack kept, newest first: each error of the cause chain holds the stack
 * from its entry on, so a server's 20,000-entry stack would cost 200 million copies. Tarantool's
 * own stacks are a few entries deep.
 */
const MAX_STACK = 64

// The IPROTO_ERROR map ({0: [entry...]}, entries keyed TYPE 0, FILE 1, LINE 2, MESSAGE 3,
// ERRNO 4, CODE 5, FIELDS 6), decoded, as a stack of plain entries.
function stackOf(map) {
  const entries = map !== null && typeof map === 'object' && Array.isArray(map[0]) ? map[0].slice(0, MAX_STACK) : []
  return entries.map((e) => ({
    type: e?.[0], file: e?.[1], line: e?.[2], message: e?.[3], errno: e?.[4], code: e?.[5], fields: e?.[6],
  }))
}

// The payload comes from the wire: anything but a u32 code is treated as unknown (0).
function u32Code(code) {
  return Number.isInteger(code) && code >= 0 && code <= 0xffffffff ? code : 0
}

/** A TarantoolError for the newest entry of `stack`, with the older ones as its `cause` chain. */
function fromStack(stack, fallbackMessage, errcode) {
  let err
  for (let i = stack.length - 1; i >= 0; i--) {
    const entry = stack[i]
    const message = typeof entry.message === 'string' && entry.message !== '' ? entry.message : i === 0 ? fallbackMessage : 'unknown error'
    const code = u32Code(entry.code)
    err = new TarantoolError(message, native.errcodeName(code), code, stack.slice(i), err === undefined ? undefined : { cause: err })
  }
  return err ?? new TarantoolError(fallbackMessage, native.errcodeName(errcode), errcode, [])
}

// An error travelling as a value (MP_EXT 3): the decoded IPROTO_ERROR map.
function fromErrorExt(map) {
  return fromStack(stackOf(map), 'unknown error', 0)
}

/**
 * An error response (type 0x8000 | errcode): IPROTO_ERROR when present (2.4.1+), else the
 * ERROR_24 message. A body that cannot be read still gives the error with the status's code.
 */
function fromErrorResponse(errcode, buf, start, end) {
  let body = null
  try {
    if (end > start) body = decode(buf, start, end)
  } catch {}
  const stack = body === null ? [] : stackOf(body[ERROR])
  const message24 = typeof body?.[ERROR_24] === 'string' ? body[ERROR_24] : `Tarantool error ${errcode}`
  const err = fromStack(stack, message24, errcode)
  // The status's code is authoritative for the response itself.
  err.errcode = errcode
  err.code = native.errcodeName(errcode)
  return err
}

setErrorDecoder(fromErrorExt)

function abortError(signal) {
  return new AbortError('the request was aborted', { cause: signal.reason })
}

/**
 * Throws `err` from a fresh tick: what a user callback threw becomes an uncaught exception, as
 * from Node's own event callbacks, and kharon's work around the call goes on.
 */
function throwLater(err) {
  process.nextTick(() => {
    throw err
  })
}

/** `cause`: what the connection was lost with, when it was lost rather than closed. */
function closedError(cause, address) {
  const message = address === undefined ? 'connection closed' : `connection to ${addressOf(address)} closed`
  return locate(new ConnectionError(message, 'ERR_CONNECTION_CLOSED', cause === undefined ? undefined : { cause }), address)
}

/**
 * `err` (shared by every request a connection's end failed) as this request's own copy, its
 * stack the frames of `caller` (an Error made where the request was issued) outside kharon.
 */
function withCallerStack(err, caller) {
  if (err === null || typeof err !== 'object') return err
  const own = Object.create(Object.getPrototypeOf(err), Object.getOwnPropertyDescriptors(err))
  const frames = caller.stack.split('\n').slice(1).filter((line) => !line.includes(LIB_DIR))
  own.stack = `${err.name}: ${err.message}\n${frames.join('\n')}`
  return own
}

const LIB_DIR = __dirname

module.exports = {
  KharonError,
  ConnectionError,
  TimeoutError,
  ProtocolError,
  TarantoolError,
  UnsupportedError,
  PushOverflowError,
  AbortError,
  InternalError,
  CrudError,
  ShardingError,
  fromInfo,
  connectError,
  locate,
  requestTimeout,
  withCallerStack,
  fromErrorResponse,
  abortError,
  closedError,
  throwLater,
}
