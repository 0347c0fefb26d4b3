'use strict'

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

/** A bug in kharon, reported instead of crashing the process. */
class InternalError extends KharonError {}

for (const cls of [KharonError, ConnectionError, TimeoutError, ProtocolError, TarantoolError, PushOverflowError, InternalError]) {
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

module.exports = {
  KharonError,
  ConnectionError,
  TimeoutError,
  ProtocolError,
  TarantoolError,
  PushOverflowError,
  InternalError,
  fromInfo,
}
