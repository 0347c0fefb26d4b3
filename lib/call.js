'use strict'

// Requests in flight whose results the client decodes: a Call (call/eval, with pushes) and a
// Decoded request (everything else, settled into a native promise).

const { PromisedRequest } = require('./promised-request')
const { RequestEntry } = require('./request-entry')
const { decode, tupleFormatsOf, malformed } = require('./msgpack')
const K = require('./iproto').IPROTO
const { traceSettled } = require('./tracing')
const { withCallerStack } = require('./errors')
const { debug, firstBytes } = require('./debug')

/**
 * The DATA (0x30) of a response body in buf[start..end]. `objects`: 3.x tuples (MP_TUPLE)
 * become objects keyed by the field names in the body's TUPLE_FORMATS.
 */
function dataOf(buf, start = 0, end = buf.length, objects = false) {
  if (end === start) return undefined
  let data
  if (objects) data = bodyOf(decode(buf, start, end, tupleFormatsOf(buf, start, end)))[K.DATA]
  // Most bodies are {0x30: ...}; on 3.x often {0x30: ..., 0x60: formats}: DATA comes first.
  else if (end - start > 2 && (buf[start] === 0x81 || buf[start] === 0x82) && buf[start + 1] === 0x30) data = decode(buf, start + 2, end)
  else data = bodyOf(decode(buf, start, end))[K.DATA]
  // Callers index and map it: anything else from the server is refused here.
  if (data !== undefined && !Array.isArray(data)) throw malformed('the DATA of a response body is not an array')
  return data
}

function bodyOf(body) {
  if (body === null || typeof body !== 'object') throw malformed('a response body is not a map')
  return body
}

/** The request behind call/eval: its promise resolves to the return values and iterates the pushes. */
class Call extends PromisedRequest {
  constructor(transport, highWaterMark, onPush, onPushCtx, objects, counters) {
    super(transport, highWaterMark, onPush, onPushCtx)
    this._objects = objects
    this._counters = counters
  }

  _pushValue(data, start, end) {
    // A push body is {DATA: [value]}: 2.6 writes the array as array32 (dd 00 00 00 01).
    // The bytes looked at are within the body: past its end may lie an older response's.
    if (end - start > 3 && data[start] === 0x81 && data[start + 1] === 0x30 && !this._objects) {
      const b = data[start + 2]
      if (b === 0x91) return decode(data, start + 3, end)
      if (b === 0xdd && end - start > 7 && data[start + 3] === 0 && data[start + 4] === 0 && data[start + 5] === 0 && data[start + 6] === 1) return decode(data, start + 7, end)
    }
    return dataOf(data, start, end, this._objects)?.[0]
  }

  // Decodes straight from the delivery: no Buffer made for the body.
  _complete(data, start, end) {
    let value
    try {
      // An empty body (no DATA) is no values.
      value = dataOf(data, start, end, this._objects) ?? []
    } catch (err) {
      undecodable(err, data, start, end)
      return this._settle(err)
    }
    this._settleValue(value)
  }
}

/** A request resolved into a native promise with a decoding step (no pushes expected). */
class Decoded extends RequestEntry {
  constructor(resolve, reject, decodeBody, counters) {
    super()
    this._resolve = resolve
    this._reject = reject
    this._decode = decodeBody
    this._counters = counters
  }

  _complete(data, start, end) {
    let value
    try {
      value = this._decode(data, start, end)
    } catch (err) {
      undecodable(err, data, start, end)
      return this._settle(err)
    }
    this._resolve(value)
    if (this._trace !== null) traceSettled(this._trace, null)
  }

  _settle(err) {
    if (this._callerStack !== null) err = withCallerStack(err, this._callerStack)
    this._reject(err)
    this._counters.failed(err)
    if (this._trace !== null) traceSettled(this._trace, err)
  }
}

function undecodable(err, data, start, end) {
  if (debug.enabled) debug('cannot decode a response body of %d bytes (%s), starting %s', end - start, err.message, firstBytes(data, start, end))
}

module.exports = { Call, Decoded, dataOf }
