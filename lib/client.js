'use strict'

// The high-level client: decoded values, names for spaces and indexes, typed errors.

const { Transport } = require('./transport')
const { Response } = require('./response')
const { decode } = require('./msgpack')
const { Schema } = require('./schema')
const K = require('./iproto').IPROTO
const build = require('./requests')
const { checkNumber, checkFunction, describe, MILLISECONDS, BYTES, U32 } = require('./args')

// The DATA (0x30) of a response body; most bodies are exactly {0x30: ...}.
function dataOf(body) {
  if (body.length === 0) return undefined
  if (body[0] === 0x81 && body[1] === 0x30) return decode(body, 2)
  return decode(body)[K.DATA]
}

/** The result of call/eval: a thenable of the return values and an async iterable of pushes. */
class Call extends Response {
  _pushValue(chunk) {
    return dataOf(chunk)[0]
  }

  _finalValue(body) {
    return dataOf(body)
  }
}

/** A request resolved into a native promise with a decoding step (no pushes expected). */
class Decoded {
  constructor(resolve, reject, decodeBody) {
    this._resolve = resolve
    this._reject = reject
    this._decode = decodeBody
    this._timer = null
    this._signal = null
    this._onAbort = null
  }

  _push() {}

  _settle(err, body) {
    if (err) return this._reject(err)
    let value
    try {
      value = this._decode(body)
    } catch (decodeErr) {
      return this._reject(decodeErr)
    }
    this._resolve(value)
  }
}

function checkOptions(opts) {
  if (opts !== undefined && opts !== null && typeof opts !== 'object') throw new TypeError('options must be an object')
  return opts || {}
}

function checkName(v, what) {
  if (typeof v !== 'string' || v === '') throw new TypeError(`${what} must be a non-empty string`)
}

function checkArray(v, what) {
  if (!Array.isArray(v)) throw new TypeError(`${what} must be an array`)
}

function checkSpace(space) {
  if (typeof space === 'number') checkNumber(space, 'space id', U32)
  else if (typeof space !== 'string') throw new TypeError(`space must be a name or an integer id, got ${describe(space)}`)
}

function checkIndex(index) {
  if (typeof index === 'number') checkNumber(index, 'index id', U32)
  else if (typeof index !== 'string') throw new TypeError(`index must be a name or an integer id, got ${describe(index)}`)
}

function checkTuplesMode(mode) {
  if (mode !== undefined && mode !== 'arrays' && mode !== 'objects') {
    throw new TypeError("tuples must be 'arrays' or 'objects'")
  }
  return mode
}

/**
 * Parses 'host:port', 'port', 'user:pass@host:port', 'unix/:/path/to.sock',
 * 'user:pass@unix/:/path' (an optional 'tarantool://' prefix is allowed).
 */
function parseUri(uri) {
  let rest = uri.replace(/^tarantool:\/\//, '')
  const out = {}
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = userinfo.indexOf(':')
    out.user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon))
    if (colon >= 0) out.password = decodeURIComponent(userinfo.slice(colon + 1))
  }
  if (rest.startsWith('unix/:')) {
    out.path = rest.slice('unix/:'.length)
    return out
  }
  if (/^\d+$/.test(rest)) {
    out.port = Number(rest)
    return out
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(rest)
  if (m === null) {
    // Whatever stood before '@' may hold a password: never show it.
    const shown = at >= 0 ? `***@${rest}` : rest
    throw new TypeError(`cannot parse the URI ${JSON.stringify(shown)}: expected host:port, port or unix/:path`)
  }
  out.host = m[1].replace(/^\[|\]$/g, '')
  out.port = Number(m[2])
  return out
}

/** A connection to one Tarantool. Create it with `connect()`. */
class Connection {
  #transport
  #schema
  #tuples
  #timeout

  constructor(transport, schema, options) {
    this.#transport = transport
    this.#schema = schema
    this.#tuples = options.tuples || 'arrays'
    this.#timeout = options.timeout
  }

  /** The raw Transport underneath. */
  get transport() {
    return this.#transport
  }

  /** Spaces and indexes known by name: { version, fetches, byName, byId }. */
  get schema() {
    return this.#schema
  }

  get closed() {
    return this.#transport.closed
  }

  ping(opts) {
    return this.#request(K.PING, '', () => undefined, checkOptions(opts))
  }

  /** Calls a stored function. Resolves to its return values; iterate for its pushes. */
  call(name, args = [], opts) {
    checkName(name, 'function name')
    checkArray(args, 'args')
    return this.#withPushes(K.CALL, build.call(name, args), opts)
  }

  /** Evaluates Lua. Resolves to its return values; iterate for its pushes. */
  eval(expr, args = [], opts) {
    if (typeof expr !== 'string') throw new TypeError('expr must be a string')
    checkArray(args, 'args')
    return this.#withPushes(K.EVAL, build.evaluate(expr, args), opts)
  }

  select(space, index = 0, key = [], opts) {
    checkSpace(space)
    checkIndex(index)
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    build.select(0, 0, key, opts) // validates limit, offset, iterator and key before any await
    return this.#withIds(space, index, mode === 'objects', (sid, iid) =>
      this.#request(K.SELECT, build.select(sid, iid, key, opts), (b) => this.#tuplesOf(b, sid, mode), opts))
  }

  insert(space, tuple, opts) {
    return this.#writeTuple(K.INSERT, space, tuple, opts)
  }

  replace(space, tuple, opts) {
    return this.#writeTuple(K.REPLACE, space, tuple, opts)
  }

  update(space, index, key, ops, opts) {
    checkSpace(space)
    checkIndex(index)
    checkArray(ops, 'ops')
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#withIds(space, index, mode === 'objects', (sid, iid) =>
      this.#request(K.UPDATE, build.update(sid, iid, key, ops), (b) => this.#firstTuple(b, sid, mode), opts))
  }

  upsert(space, tuple, ops, opts) {
    checkSpace(space)
    checkArray(ops, 'ops')
    opts = checkOptions(opts)
    return this.#withIds(space, 0, !Array.isArray(tuple), (sid) =>
      this.#request(K.UPSERT, build.upsert(sid, this.#tupleArray(sid, tuple), ops), () => undefined, opts))
  }

  delete(space, index, key, opts) {
    checkSpace(space)
    checkIndex(index)
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#withIds(space, index, mode === 'objects', (sid, iid) =>
      this.#request(K.DELETE, build.del(sid, iid, key), (b) => this.#firstTuple(b, sid, mode), opts))
  }

  /** Runs SQL: { metadata: [{ name, type }], rows, rowCount?, autoincrementIds? }. */
  execute(sql, params = [], opts) {
    if (typeof sql !== 'string') throw new TypeError('sql must be a string')
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#request(K.EXECUTE, build.execute(sql, params), (b) => sqlResult(b, mode), opts)
  }

  /** Prepares SQL on the server; the statement runs with stmt.execute(params). */
  prepare(sql, opts) {
    if (typeof sql !== 'string') throw new TypeError('sql must be a string')
    return this.#request(K.PREPARE, build.prepare(sql), (b) => new PreparedStatement(this, decode(b)), checkOptions(opts))
  }

  /** Closes the connection; pending requests fail with ConnectionError. */
  close() {
    return this.#transport.close()
  }

  [Symbol.asyncDispose]() {
    return this.close()
  }

  _executePrepared(stmtId, params, opts) {
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#request(K.EXECUTE, build.execute(stmtId, params), (b) => sqlResult(b, mode), opts)
  }

  _unprepare(stmtId, opts) {
    return this.#request(K.PREPARE, build.unprepare(stmtId), () => undefined, checkOptions(opts))
  }

  #writeTuple(type, space, tuple, opts) {
    checkSpace(space)
    opts = checkOptions(opts)
    const mode = checkTuplesMode(opts.tuples) || this.#tuples
    return this.#withIds(space, 0, mode === 'objects' || !Array.isArray(tuple), (sid) =>
      this.#request(type, build.tuple(sid, this.#tupleArray(sid, tuple)), (b) => this.#firstTuple(b, sid, mode), opts))
  }

  #withPushes(type, body, opts) {
    opts = checkOptions(opts)
    const onPush = opts.onPush
    if (onPush !== undefined) checkFunction(onPush, 'onPush')
    const hwm = opts.highWaterMark === undefined
      ? this.#transport.pushHighWaterMark
      : checkNumber(opts.highWaterMark, 'highWaterMark', BYTES)
    const result = new Call(this.#transport, hwm, onPush, opts.onPushCtx)
    this.#transport._send(type, body, result, this.#deadline(opts))
    return result
  }

  #request(type, body, decodeBody, opts) {
    const options = this.#deadline(opts)
    return new Promise((resolve, reject) => {
      this.#transport._send(type, body, new Decoded(resolve, reject, decodeBody), options)
    })
  }

  // Applies the connection-wide default timeout.
  #deadline(opts) {
    if (opts === undefined || opts === null) return this.#timeout === undefined ? undefined : { timeout: this.#timeout }
    if (opts.timeout !== undefined || this.#timeout === undefined) return opts
    return { timeout: this.#timeout, signal: opts.signal }
  }

  // Runs `send(spaceId, indexId)` once names are resolved: at once when the schema is fresh,
  // else after the (shared) refetch. `needsFormat`: field names are used, so even numeric ids
  // need a schema as new as the server's.
  #withIds(space, index, needsFormat, send) {
    const ids = this.#schema.tryResolve(space, index, this.#transport.schemaVersion, needsFormat)
    if (ids !== null) return send(ids[0], ids[1])
    return this.#schema.refresh().then(() => {
      const [sid, iid] = this.#schema.resolve(space, index)
      return send(sid, iid)
    })
  }

  #tupleArray(spaceId, tuple) {
    if (Array.isArray(tuple)) return tuple
    if (tuple === null || typeof tuple !== 'object') throw new TypeError('tuple must be an array or an object')
    const names = this.#schema.fieldNames(spaceId)
    if (names === undefined || names.length === 0) {
      throw new TypeError('an object tuple needs a space format with field names; pass an array')
    }
    const extra = Object.keys(tuple).filter((k) => !names.includes(k))
    if (extra.length > 0) throw new TypeError(`fields not in the space format: ${extra.join(', ')}`)
    const out = names.map((n) => tuple[n])
    while (out.length > 0 && out[out.length - 1] === undefined) out.pop()
    return out
  }

  #tuplesOf(body, spaceId, mode) {
    const rows = dataOf(body) || []
    if (mode !== 'objects') return rows
    const names = this.#schema.fieldNames(spaceId) || []
    return rows.map((row) => toObject(row, names))
  }

  #firstTuple(body, spaceId, mode) {
    const rows = this.#tuplesOf(body, spaceId, mode)
    return rows.length === 0 ? null : rows[0]
  }
}

// Fields beyond the space format keep their position as the key.
function toObject(row, names) {
  const o = {}
  for (let i = 0; i < row.length; i++) o[i < names.length ? names[i] : i] = row[i]
  return o
}

function sqlResult(body, mode) {
  const m = body.length === 0 ? {} : decode(body)
  const metadata = (m[K.METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
  let rows = m[K.DATA] || []
  if (mode === 'objects' && metadata.length > 0) {
    const names = metadata.map((f) => f.name)
    rows = rows.map((row) => toObject(row, names))
  }
  const result = { metadata, rows }
  const info = m[K.SQL_INFO]
  if (info !== undefined) {
    result.rowCount = info[0]
    if (info[1] !== undefined) result.autoincrementIds = info[1]
  }
  return result
}

/** A statement prepared on the server (PREPARE). */
class PreparedStatement {
  #conn

  constructor(conn, body) {
    this.#conn = conn
    this.id = body[K.STMT_ID]
    this.bindCount = body[K.BIND_COUNT]
    this.params = (body[K.BIND_METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
    this.metadata = (body[K.METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
  }

  execute(params = [], opts) {
    return this.#conn._executePrepared(this.id, params, opts)
  }

  unprepare(opts) {
    return this.#conn._unprepare(this.id, opts)
  }
}

/**
 * Connects, authenticates and fetches the schema. `target` is a URI string or an options
 * object ({ host, port, path, user, password, connectTimeout, ... }); `options` adds client
 * options: tuples ('arrays' | 'objects'), timeout (ms, default for every request),
 * pushHighWaterMark, maxFrameSize.
 */
async function connect(target, options = {}) {
  let base
  if (typeof target === 'string') base = parseUri(target)
  else if (target !== null && typeof target === 'object') base = target
  else throw new TypeError('connect() takes a URI string or an options object')
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const merged = { ...base, ...options }
  checkTuplesMode(merged.tuples)
  if (merged.timeout !== undefined) checkNumber(merged.timeout, 'timeout', MILLISECONDS)
  const transport = await Transport.connect(merged)
  const schema = new Schema((spaceId) => new Promise((resolve, reject) => {
    transport.request(K.SELECT, build.select(spaceId, 0, [], { iterator: 'ALL' }), (err, body) => {
      if (err) reject(err)
      else resolve({ tuples: dataOf(body), schemaVersion: transport.schemaVersion })
    })
  }))
  try {
    await schema.refresh()
  } catch (err) {
    await transport.close()
    throw err
  }
  return new Connection(transport, schema, merged)
}

module.exports = { connect, Connection, Call, PreparedStatement, parseUri }
