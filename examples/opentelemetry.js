'use strict'

// kharon's requests as OpenTelemetry spans, from the `kharon:request` TracingChannel.
//
//   const { instrument } = require('./opentelemetry')   // a copy of this file in your project
//   const stop = instrument()   // spans go to the globally registered tracer provider
//
// Only @opentelemetry/api is used (a devDependency here: kharon itself depends on nothing). With
// the OpenTelemetry SDK registered, spans go to its exporters and become children of the
// span active when a request is issued. kharon's own requests (schema fetches, a pool's role
// checks: `internal: true` in the context) make no span unless `{ internal: true }` is passed.
// Run directly (`node examples/opentelemetry.js`), this file starts a throwaway Tarantool
// (./throwaway.js, running ./tour.lua) and prints each span it records.

const dc = require('node:diagnostics_channel')
const { trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api')

const SPACE_REQUESTS = new Set(['select', 'insert', 'replace', 'update', 'upsert', 'delete'])
const SQL_REQUESTS = new Set(['execute', 'prepare'])

/** The span's attributes, after OpenTelemetry's database conventions. */
function attributesOf(ctx) {
  const attributes = { 'db.system.name': 'tarantool', 'db.operation.name': ctx.type }
  if (SPACE_REQUESTS.has(ctx.type)) attributes['db.collection.name'] = String(ctx.name)
  else if (ctx.type === 'call') attributes['db.stored_procedure.name'] = ctx.name
  else if (SQL_REQUESTS.has(ctx.type) && ctx.name !== null) attributes['db.query.text'] = ctx.name
  if (ctx.path !== undefined) attributes['server.address'] = ctx.path
  else {
    attributes['server.address'] = ctx.host
    attributes['server.port'] = ctx.port
  }
  if (ctx.streamId !== undefined) attributes['kharon.stream_id'] = ctx.streamId
  attributes['db.tarantool.version'] = ctx.serverVersion
  return attributes
}

function spanName(ctx) {
  if (SPACE_REQUESTS.has(ctx.type) || ctx.type === 'call') return `${ctx.type} ${ctx.name}`
  return ctx.type
}

/**
 * Subscribes to `kharon:request` and turns each request into a CLIENT span of `tracer`
 * (default: the global provider's 'kharon' tracer); kharon's internal requests too with
 * `{ internal: true }`. Returns a function that unsubscribes.
 */
function instrument(tracer = trace.getTracer('kharon'), { internal = false } = {}) {
  const channel = dc.tracingChannel('kharon:request')
  const spans = new WeakMap()
  const handlers = {
    start(ctx) {
      if (ctx.internal && !internal) return
      spans.set(ctx, tracer.startSpan(spanName(ctx), { kind: SpanKind.CLIENT, attributes: attributesOf(ctx) }))
    },
    end() {},
    error(ctx) {
      const span = spans.get(ctx)
      if (span === undefined) return
      span.recordException(ctx.error)
      span.setAttribute('db.response.status_code', String(ctx.error.code))
      span.setStatus({ code: SpanStatusCode.ERROR, message: ctx.error.message })
    },
    asyncStart() {},
    asyncEnd(ctx) {
      const span = spans.get(ctx)
      if (span === undefined) return
      spans.delete(ctx)
      if (ctx.sync !== null) span.setAttribute('kharon.sync', ctx.sync)
      if (ctx.pushes > 0) span.setAttribute('kharon.pushes', ctx.pushes)
      span.end()
    },
  }
  channel.subscribe(handlers)
  return () => channel.unsubscribe(handlers)
}

/**
 * A tracer provider that keeps finished spans in memory (`spans`) and hands each to
 * `onEnd`: enough to see what instrument() produces without the SDK.
 */
class RecordingTracerProvider {
  constructor(onEnd = () => {}) {
    this.spans = []
    this.onEnd = onEnd
  }

  getTracer() {
    return {
      startSpan: (name, options = {}) => new RecordedSpan(this, name, options),
      startActiveSpan: () => {
        throw new Error('not needed by instrument()')
      },
    }
  }
}

let nextSpanId = 1

class RecordedSpan {
  constructor(provider, name, options) {
    this.provider = provider
    this.name = name
    this.kind = options.kind
    this.attributes = { ...options.attributes }
    this.status = { code: SpanStatusCode.UNSET }
    this.exceptions = []
    this.ended = false
    this.context = { traceId: '0'.repeat(31) + '1', spanId: (nextSpanId++).toString(16).padStart(16, '0'), traceFlags: 1 }
  }

  spanContext() { return this.context }
  setAttribute(key, value) { this.attributes[key] = value; return this }
  setAttributes(attributes) { Object.assign(this.attributes, attributes); return this }
  addEvent() { return this }
  addLink() { return this }
  addLinks() { return this }
  setStatus(status) { this.status = status; return this }
  updateName(name) { this.name = name; return this }
  isRecording() { return !this.ended }
  recordException(exception) { this.exceptions.push(exception) }

  end() {
    if (this.ended) return
    this.ended = true
    this.provider.spans.push(this)
    this.provider.onEnd(this)
  }
}

async function main() {
  const { startTarantool } = require('./throwaway')
  const { connect } = require('..')
  const provider = new RecordingTracerProvider((span) => {
    const failed = span.status.code === SpanStatusCode.ERROR ? ` ERROR ${span.status.message}` : ''
    console.log(`span ${JSON.stringify(span.name)}${failed}`, span.attributes)
  })
  trace.setGlobalTracerProvider(provider)
  const stop = instrument()
  const server = await startTarantool()
  try {
    const conn = await connect({ host: server.host, port: server.port, user: 'app', password: 'secret' })
    await conn.call('greet', ['Ann'])
    await conn.call('no_such_function').catch(() => {})
    for await (const push of conn.call('count_to', [3])) console.log('push', push)
    await conn.select('users', 'pk', [1])
    await conn.close()
  } finally {
    stop()
    await server.stop()
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}

module.exports = { instrument, RecordingTracerProvider }
