'use strict'

// Argument checks shared by the public methods, following Node's own convention: a value of
// the wrong type is a TypeError, a number out of range (or not an integer where one is
// needed) is a RangeError.

/** Checks a number option; returns it. */
function checkNumber(value, name, { min = -Infinity, max = Infinity, integer = false } = {}) {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number, got ${describe(value)}`)
  }
  if (!(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'an integer' : 'a number'
    throw new RangeError(`${name} must be ${kind} from ${min} to ${max}, got ${value}`)
  }
  return value
}

function checkFunction(value, name) {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${describe(value)}`)
  return value
}

function describe(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return `an instance of ${v.constructor ? v.constructor.name : 'Object'}`
  return `${typeof v} ${String(v)}`
}

/** Checks the { timeout, signal } of a request. */
function checkDeadline(options) {
  if (options == null) return
  if (options.timeout != null) checkNumber(options.timeout, 'timeout', MILLISECONDS)
  if (options.signal != null && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(options.signal)}`)
  }
}

const U32 = { min: 0, max: 0xffffffff, integer: true }
const MILLISECONDS = { min: 0, max: 0x7fffffff }
const BYTES = { min: 0, max: Number.MAX_SAFE_INTEGER }

module.exports = { checkNumber, checkFunction, checkDeadline, describe, U32, MILLISECONDS, BYTES }
