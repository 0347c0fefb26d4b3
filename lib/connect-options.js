'use strict'

// The options of Transport.connect(), checked and given their defaults once, before anything
// connects. The client passes its own through here too.

const native = require('../binding.js')
const { PROTOCOL_VERSION, offeredFeatureIds, checkRequired, checkAuthType } = require('./protocol')
const { DEFAULT_HIGH_WATER_MARK, DEFAULT_MAX_BUFFERED_PUSHES } = require('./promised-request')
const { checkNumber, describe, MILLISECONDS, BYTES } = require('./args')

/**
 * While anything is pending (or always, with `idle`) and nothing has come for `interval` ms, a
 * PING goes out; no byte within `timeout` ms of it and the connection is declared dead. A
 * frozen server is found within 8 s; a healthy one answers PING even while long calls run.
 */
const HEARTBEAT_DEFAULTS = Object.freeze({ interval: 3000, timeout: 5000, idle: false })
const HEARTBEAT_MIN = 50
/** Bytes encoded but not yet taken by the kernel, at most (a frozen server stops taking them). */
const DEFAULT_MAX_WRITE_QUEUE_BYTES = 32 * 1024 * 1024
const DEFAULT_CONNECT_TIMEOUT = 10000

let warnedMaxWriteQueue = false

/**
 * The runtime when it is not Node but runs Node's packages: Bun and Deno have no libuv loop
 * behind their Node-API (libuv's functions abort Bun, do nothing in Deno), so the socket is
 * read on tokio there (readPath 'tokio'). null on Node.
 */
const OTHER_RUNTIME = globalThis.Bun !== undefined || process.versions.bun !== undefined
  ? 'Bun'
  : globalThis.Deno !== undefined || process.versions.deno !== undefined ? 'Deno' : null

/**
 * `{ native, heartbeat, maxPending, maxWriteQueueBytes, required, credentials,
 * pushHighWaterMark, maxBufferedPushes }` from connect(port, host) or connect(options).
 */
function normalizeConnectOptions(portOrOptions, host) {
  let o
  if (typeof portOrOptions === 'number' || typeof portOrOptions === 'string') {
    o = { port: portOrOptions, host }
  } else if (portOrOptions !== null && typeof portOrOptions === 'object') {
    o = portOrOptions
  } else {
    throw new TypeError('connect() takes a port number or an options object')
  }
  const out = {}
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || o.path === '') throw new TypeError('path must be a non-empty string')
    out.path = o.path
  } else {
    const port = typeof o.port === 'string' && /^\d+$/.test(o.port) ? Number(o.port) : o.port
    out.port = checkNumber(port, 'port', { min: 1, max: 65535, integer: true })
    if (o.host !== undefined && o.host !== null) {
      if (typeof o.host !== 'string') throw new TypeError('host must be a string')
      out.host = o.host
    }
  }
  const credentials = credentialsOf(o)
  checkAuthType(o.authType)
  // A server that accepts but never greets (a black hole) must not stall a connect for ever.
  out.connectTimeout = o.connectTimeout === undefined ? DEFAULT_CONNECT_TIMEOUT : checkNumber(o.connectTimeout, 'connectTimeout', MILLISECONDS)
  // Up to 2 GiB: the native side indexes a read's frames with 32-bit offsets.
  if (o.maxFrameSize !== undefined) out.maxFrameSize = checkNumber(o.maxFrameSize, 'maxFrameSize', { min: 16, max: 2 ** 31, integer: true })
  out.protocolVersion = PROTOCOL_VERSION
  out.features = offeredFeatureIds(o.features)
  const readPath = readPathOf(o.readPath)
  if (readPath !== undefined) out.readPath = readPath
  return {
    native: out,
    heartbeat: heartbeatOptions(o.heartbeat),
    maxPending: o.maxPending === undefined ? Infinity : checkNumber(o.maxPending, 'maxPending', { min: 1, max: Infinity }),
    maxWriteQueueBytes: maxWriteQueueBytes(o),
    required: checkRequired(o.required),
    credentials,
    pushHighWaterMark: o.pushHighWaterMark === undefined ? DEFAULT_HIGH_WATER_MARK : checkNumber(o.pushHighWaterMark, 'pushHighWaterMark', BYTES),
    maxBufferedPushes: o.maxBufferedPushes === undefined ? DEFAULT_MAX_BUFFERED_PUSHES : checkNumber(o.maxBufferedPushes, 'maxBufferedPushes', BYTES),
  }
}

/**
 * Who reads the socket: 'uv' (Node's event loop reports it readable and the JS thread reads it,
 * no thread hop per response) or 'tokio' (a reader task hands each read to JS through a
 * ThreadsafeFunction). Unset: 'tokio' on Bun and Deno, else left to the native side, which
 * takes 'uv' where the runtime offers a libuv loop.
 */
function readPathOf(option) {
  // KHARON_READ_PATH sets the default, so that a whole test run can take the portable path.
  const v = option ?? (process.env.KHARON_READ_PATH || undefined)
  if (v === undefined) return OTHER_RUNTIME === null ? undefined : 'tokio'
  if (v !== 'uv' && v !== 'tokio') throw new TypeError(`readPath must be 'uv' or 'tokio', got ${describe(v)}`)
  if (v === 'uv' && OTHER_RUNTIME !== null) {
    throw new TypeError(`readPath 'uv' needs Node's libuv event loop, which ${OTHER_RUNTIME} does not offer: use 'tokio' (the default there)`)
  }
  return v
}

// `maxWriteQueue` is the old name: it read as a count of requests, but it counts bytes.
function maxWriteQueueBytes(o) {
  const bytes = { min: 1024, max: Infinity }
  if (o.maxWriteQueueBytes !== undefined) return checkNumber(o.maxWriteQueueBytes, 'maxWriteQueueBytes', bytes)
  if (o.maxWriteQueue === undefined) return DEFAULT_MAX_WRITE_QUEUE_BYTES
  if (!warnedMaxWriteQueue) {
    warnedMaxWriteQueue = true
    process.emitWarning('the maxWriteQueue option is deprecated: use maxWriteQueueBytes', 'DeprecationWarning', 'KHARON_DEP0001')
  }
  return checkNumber(o.maxWriteQueue, 'maxWriteQueue', bytes)
}

function heartbeatOptions(v) {
  if (v === undefined || v === true) return HEARTBEAT_DEFAULTS
  if (v === false || v === null) return null
  if (typeof v !== 'object') throw new TypeError('heartbeat must be { interval, timeout, idle } or false')
  const ms = { min: HEARTBEAT_MIN, max: 0x7fffffff }
  if (v.idle !== undefined && typeof v.idle !== 'boolean') throw new TypeError(`heartbeat.idle must be a boolean, got ${describe(v.idle)}`)
  return Object.freeze({
    interval: v.interval === undefined ? HEARTBEAT_DEFAULTS.interval : checkNumber(v.interval, 'heartbeat.interval', ms),
    timeout: v.timeout === undefined ? HEARTBEAT_DEFAULTS.timeout : checkNumber(v.timeout, 'heartbeat.timeout', ms),
    idle: v.idle === undefined ? HEARTBEAT_DEFAULTS.idle : v.idle,
  })
}

/**
 * The Credentials to sign in with: `o.credentials` as given, else made from `o.user` and
 * `o.password` (hashed at once; the text goes no further), else null (guest).
 */
function credentialsOf(o) {
  if (o.credentials !== undefined && o.credentials !== null) {
    if (!(o.credentials instanceof native.NativeCredentials)) throw new TypeError('credentials must be a Credentials')
    return o.credentials
  }
  if (o.user === undefined || o.user === null) return null
  if (typeof o.user !== 'string') throw new TypeError('user must be a string')
  if (o.password !== undefined && o.password !== null && typeof o.password !== 'string') {
    throw new TypeError('password must be a string')
  }
  return new native.NativeCredentials(o.user, o.password || '')
}

module.exports = { normalizeConnectOptions, heartbeatOptions, credentialsOf, OTHER_RUNTIME }
