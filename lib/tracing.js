'use strict'

// Tracing through node:diagnostics_channel, as undici and Node's own modules publish: a
// TracingChannel for requests and plain channels for the connection's life. Nothing is
// built or published unless someone subscribes; a request then costs one hasSubscribers test.

const dc = require('node:diagnostics_channel')
const { requestTypeName } = require('./iproto')

const requests = dc.tracingChannel('kharon:request')
const connects = dc.channel('kharon:connect')
const disconnects = dc.channel('kharon:disconnect')
const reconnects = dc.channel('kharon:reconnect')

/** SQL and Lua text in a trace's `name` is cut to this many characters. */
const NAME_LIMIT = 120

// TracingChannel#hasSubscribers came in Node 20.13; before, its five channels are asked.
const traced = 'hasSubscribers' in requests
  ? () => requests.hasSubscribers
  : () => requests.start.hasSubscribers || requests.end.hasSubscribers || requests.asyncStart.hasSubscribers ||
    requests.asyncEnd.hasSubscribers || requests.error.hasSubscribers

/**
 * Marks a request kharon makes for itself (schema fetches, a pool's role checks): its trace
 * context has `internal: true`, so spans can leave it out. A request option.
 */
const kInternal = Symbol('kharon.internal')

/** What a `kharon:request` subscriber sees: where the request went, never its arguments. */
class RequestContext {
  constructor(type, name, address, serverVersion, streamId, internal) {
    this.type = requestTypeName(type)
    this.name = typeof name === 'string' && name.length > NAME_LIMIT ? name.slice(0, NAME_LIMIT) : name
    addAddress(this, address)
    // Set when the request goes on the wire (later, if it waits for a reconnect).
    this.sync = null
    if (streamId !== 0) this.streamId = streamId
    this.pushes = 0
    this.serverVersion = serverVersion
    this.internal = internal
  }
}

function addAddress(target, address) {
  if (address.path !== undefined) target.path = address.path
  else {
    target.host = address.host ?? 'localhost'
    target.port = address.port
  }
  return target
}

/**
 * Runs `send()` as the synchronous part of a traced request: `start`, then `end` (and
 * `error` if it throws). `asyncStart`/`asyncEnd` follow when the request settles.
 */
function traceRequest(ctx, send) {
  try {
    return requests.start.runStores(ctx, send)
  } catch (err) {
    ctx.error = err
    requests.error.publish(ctx)
    throw err
  } finally {
    requests.end.publish(ctx)
  }
}

/** Publishes a traced request's outcome: `error` (when it failed), `asyncStart`, `asyncEnd`. */
function traceSettled(ctx, err) {
  if (err !== null) {
    ctx.error = err
    requests.error.publish(ctx)
  }
  requests.asyncStart.publish(ctx)
  requests.asyncEnd.publish(ctx)
}

function publish(channel, address, fields) {
  if (channel.hasSubscribers) channel.publish(Object.assign(addAddress({}, address), fields))
}

module.exports = {
  NAME_LIMIT,
  kInternal,
  RequestContext,
  traced,
  traceRequest,
  traceSettled,
  /** A connection was made: { host, port | path, attempt (0: the first), serverVersion, protocol } or failed: { ..., error }. */
  publishConnect: (address, fields) => publish(connects, address, fields),
  /** A connection was made to `address` (attempt 0: the first connect). */
  publishConnected: (address, transport, attempt) => publish(connects, address, { attempt, serverVersion: transport.serverVersion, protocol: transport.protocol }),
  /** An established connection ended: { host, port | path, error (null: closed by the client) }. */
  publishDisconnect: (address, fields) => publish(disconnects, address, fields),
  /** A reconnect is scheduled: { host, port | path, attempt, delay, error }. */
  publishReconnect: (address, fields) => publish(reconnects, address, fields),
}
