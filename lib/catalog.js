'use strict'

// The catalog: what turns the names a request uses into ids, and tuples into the shape asked
// for. It owns the Schema (space and index names and field names, fetched from
// _vspace/_vindex) and the connection's default tuple mode.
//
// Every response carries the server's schema version; when it moves on, the next name lookup
// refetches. Concurrent lookups share one fetch, so a burst of requests by name on a fresh
// connection costs a single round trip.

const { TarantoolError, abortError, requestTimeout } = require('./errors')
const { debug } = require('./debug')
const { unsupported } = require('./protocol')
const { tupleObject } = require('./msgpack')
const { dataOf } = require('./call')

const VSPACE = 281
const VINDEX = 289
const ER_NO_SUCH_SPACE = 36
const ER_NO_SUCH_INDEX_NAME = 148

class Space {
  constructor(id, name, fieldNames) {
    this.id = id
    this.name = name
    this.fieldNames = fieldNames
    this.indexes = new Map()
  }
}

class Schema {
  #fetchAll
  #fetching = null
  version = -1
  fetches = 0
  byName = new Map()
  byId = new Map()

  /** `fetchAll(spaceId)` resolves to { tuples, schemaVersion } of a full select. */
  constructor(fetchAll) {
    this.#fetchAll = fetchAll
  }

  /** Fetches now, or joins the fetch already under way. */
  refresh() {
    if (this.#fetching === null) {
      this.fetches++
      this.#fetching = Promise.all([this.#fetchAll(VSPACE), this.#fetchAll(VINDEX)])
        .then(([spaces, indexes]) => this.#load(spaces, indexes))
        .finally(() => {
          this.#fetching = null
        })
    }
    return this.#fetching
  }

  #load(spaces, indexes) {
    const byName = new Map()
    const byId = new Map()
    for (const t of spaces.tuples) {
      const format = Array.isArray(t[6]) ? t[6] : []
      const space = new Space(t[0], t[2], format.map((f, i) => (f && typeof f.name === 'string' ? f.name : String(i))))
      byName.set(space.name, space)
      byId.set(space.id, space)
    }
    for (const t of indexes.tuples) {
      const space = byId.get(t[0])
      if (space !== undefined) space.indexes.set(t[2], t[1])
    }
    this.byName = byName
    this.byId = byId
    this.version = Math.min(spaces.schemaVersion, indexes.schemaVersion)
    if (debug.enabled) debug('schema: fetched %d spaces and %d indexes (schema version %d)', spaces.tuples.length, indexes.tuples.length, this.version)
  }

  /**
   * [spaceId, indexId] when both are known under `currentVersion`; null when a fetch is due
   * (an unknown name, or DDL since the last fetch). Numeric ids need no schema unless
   * `needsFormat` (the space's field names will be used).
   */
  tryResolve(space, index, currentVersion, needsFormat = false) {
    if (typeof space === 'number' && typeof index === 'number' && !needsFormat) return [space, index]
    if (currentVersion !== this.version) return null
    const sid = typeof space === 'number' ? space : this.byName.get(space)?.id
    if (sid === undefined) return null
    if (typeof index === 'number') return [sid, index]
    const iid = this.byId.get(sid)?.indexes.get(index)
    return iid === undefined ? null : [sid, iid]
  }

  /** Like tryResolve after a fresh fetch: unknown names are errors now. */
  resolve(space, index) {
    const sid = typeof space === 'number' ? space : this.byName.get(space)?.id
    if (sid === undefined) {
      throw new TarantoolError(`Space '${space}' does not exist`, 'ER_NO_SUCH_SPACE', ER_NO_SUCH_SPACE)
    }
    if (typeof index === 'number') return [sid, index]
    const iid = this.byId.get(sid)?.indexes.get(index)
    if (iid === undefined) {
      const spaceName = this.byId.get(sid)?.name ?? sid
      throw new TarantoolError(
        `No index '${index}' is defined in space '${spaceName}'`, 'ER_NO_SUCH_INDEX_NAME', ER_NO_SUCH_INDEX_NAME,
      )
    }
    return [sid, iid]
  }

  fieldNames(spaceId) {
    return this.byId.get(spaceId)?.fieldNames
  }
}

function checkTuplesMode(mode) {
  if (mode !== undefined && mode !== 'arrays' && mode !== 'objects') {
    throw new TypeError("tuples must be 'arrays' or 'objects'")
  }
  return mode
}

const NO_OPTIONS = Object.freeze({})

class Catalog {
  #schema
  #transportOf
  #tuples
  #fetchSchema
  #defaultTimeout

  /**
   * `transportOf()`: the connection's current Transport; `fetchSpace(spaceId)`: a full select
   * of a system space ({ tuples, schemaVersion }). Options: `tuples` (the default mode),
   * `fetchSchema` (whether names may be looked up at all), `timeout` (the connection's default
   * request timeout).
   */
  constructor(transportOf, fetchSpace, { tuples, fetchSchema, timeout }) {
    this.#transportOf = transportOf
    this.#schema = new Schema(fetchSpace)
    this.#tuples = tuples || 'arrays'
    this.#fetchSchema = fetchSchema
    this.#defaultTimeout = timeout
  }

  get schema() {
    return this.#schema
  }

  /** Fetches the schema (at connect and after a reconnect), unless `fetchSchema: false`. */
  refresh() {
    return this.#fetchSchema ? this.#schema.refresh() : Promise.resolve()
  }

  /** The tuple mode of a request: its `tuples` option, else the connection's. */
  tuplesMode(opts) {
    return checkTuplesMode(opts.tuples) || this.#tuples
  }

  // Whether results in `mode` need field names from the schema: objects, from a server that
  // does not send tuples with their formats (before 3.0).
  needsFormat(mode) {
    return mode === 'objects' && !this.#transportOf()._uses('dml_tuple_extension')
  }

  /**
   * Runs `send(space, index, opts)` with what the request names them by. Names go on the wire
   * as they are when the server takes them (3.x), unless the schema is needed anyway
   * (`needsFormat`: the space's field names will be used). Otherwise names become ids through
   * the schema: at once when it is fresh, else after the (shared) refetch, which counts against
   * the request's timeout and signal (`opts`; a `type` request, for the error): `send` then gets
   * what is left of them.
   */
  route(space, index, needsFormat, send, opts = NO_OPTIONS, type) {
    const transport = this.#transportOf()
    const byName = typeof space === 'string' || typeof index === 'string'
    const namesOnWire = byName && transport._serverHas('space_and_index_names')
    if (!this.#fetchSchema) {
      if (byName && !namesOnWire) {
        return Promise.reject(unsupported('space_and_index_names', 'a space or index by name with fetchSchema: false', transport.serverVersion))
      }
      return send(space, index, opts)
    }
    if (!needsFormat && (namesOnWire || !byName)) return send(space, index, opts)
    const ids = this.#schema.tryResolve(space, index, transport.schemaVersion, needsFormat)
    if (ids !== null) return send(ids[0], ids[1], opts)
    const timeout = opts.timeout ?? this.#defaultTimeout
    const started = performance.now()
    return this.#refreshWithin(timeout, opts.signal, type, space).then(() => {
      const [sid, iid] = this.#schema.resolve(space, index)
      if (timeout === undefined) return send(sid, iid, opts)
      return send(sid, iid, { ...opts, timeout: Math.max(0, Math.round(timeout - (performance.now() - started))) })
    })
  }

  // The schema refetch, as long as the request that waits for it may wait.
  #refreshWithin(timeout, signal, type, name) {
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const refresh = this.#schema.refresh()
    if (timeout === undefined && signal == null) return refresh
    return new Promise((resolve, reject) => {
      let timer = null
      const settle = (err) => {
        if (timer !== null) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (err === null) resolve()
        else reject(err)
      }
      const onAbort = () => settle(abortError(signal))
      if (timeout !== undefined) timer = setTimeout(() => settle(requestTimeout(timeout, type, name)), timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      refresh.then(() => settle(null), settle)
    })
  }

  /** A tuple as the array the wire carries: an object is laid out by the space's field names. */
  tupleArray(spaceId, tuple) {
    if (Array.isArray(tuple)) return tuple
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

  /** The tuples of a response body, in `mode`. */
  tuplesOf(buf, start, end, space, mode) {
    const objects = mode === 'objects'
    const rows = dataOf(buf, start, end, objects) || []
    // 3.x tuples come with their formats and are objects already.
    if (!objects || !this.needsFormat(mode)) return rows
    const names = (typeof space === 'number' && this.#schema.fieldNames(space)) || []
    return rows.map((row) => tupleObject(row, names))
  }

  /** The first tuple of a response body in `mode`, or null. */
  firstTuple(buf, start, end, spaceId, mode) {
    const rows = this.tuplesOf(buf, start, end, spaceId, mode)
    return rows.length === 0 ? null : rows[0]
  }
}

module.exports = { Catalog, Schema, checkTuplesMode }
