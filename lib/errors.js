'use strict'

const native = require('../binding.js')
const { setErrorDecoder } = require('./msgpack')

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

/** An error the server reported: `code` is Tarantool's name (ER_NO_SUCH_PROC), `errcode` its number. */
class TarantoolError extends KharonError {
  constructor(message, code, errcode, serverStack = [], options) {
    super(message, code, options)
    this.errcode = errcode
    this.serverStack = serverStack
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

for (const cls of [KharonError, ConnectionError, TimeoutError, ProtocolError, TarantoolError, PushOverflowError, AbortError, InternalError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, writable: true, configurable: true })
}

const CLASSES = { ConnectionError, ProtocolError, InternalError }

/** Turns the binding's ErrorInfo into the matching Error subclass. */
function fromInfo(info) {
  if (info.kind === 'TarantoolError') {
    const stack = (info.stack || []).map((e) => ({
      type: e.type,
      file: e.file,
      line: e.line,
      message: e.message,
      errno: e.errno,
      code: e.code,
      fields: e.fieldsJson === undefined || e.fieldsJson === null ? undefined : JSON.parse(e.fieldsJson),
    }))
    return new TarantoolError(info.message, info.code, info.errcode, stack)
  }
  if (info.kind === 'TimeoutError') return new TimeoutError(info.message)
  const Cls = CLASSES[info.kind] || InternalError
  return new Cls(info.message, info.code)
}

// An error travelling as a value (MP_EXT 3): the decoded {0: [entry...]} map, entries keyed
// TYPE 0, FILE 1, LINE 2, MESSAGE 3, ERRNO 4, CODE 5, FIELDS 6.
function fromErrorExt(map) {
  const entries = Array.isArray(map && map[0]) ? map[0] : []
  const stack = entries.map((e) => ({
    type: e[0], file: e[1], line: e[2], message: e[3], errno: e[4], code: e[5], fields: e[6],
  }))
  const top = stack[0] || {}
  // The payload comes from the wire: anything but a u32 code is treated as unknown (0).
  const code = Number.isInteger(top.code) && top.code >= 0 && top.code <= 0xffffffff ? top.code : 0
  const message = typeof top.message === 'string' ? top.message : 'unknown error'
  return new TarantoolError(message, native.errcodeName(code), code, stack)
}

setErrorDecoder(fromErrorExt)

function abortError(signal) {
  return new AbortError('the request was aborted', { cause: signal.reason })
}

function closedError() {
  return new ConnectionError('connection closed', 'ERR_CONNECTION_CLOSED')
}

module.exports = {
  KharonError,
  ConnectionError,
  TimeoutError,
  ProtocolError,
  TarantoolError,
  PushOverflowError,
  AbortError,
  InternalError,
  fromInfo,
  abortError,
  closedError,
}
