'use strict'

// The crud module's API (tarantool/crud, on vshard routers) as methods: `crud(connOrPool)`.
// Each method calls `crud.<name>` on a router with crud's options in snake_case, and turns what
// crud returns (`result, err`, or `result, errs` for the *_many calls) into a value or a typed
// CrudError. crud's own `pairs` cannot be called remotely: `pairs()` here pages with `first`
// and `after` instead.

const { CrudError } = require('./errors')
const { requestOptions, kRequester } = require('./request-methods')
const { checkTuplesMode } = require('./catalog')
const { tupleObject } = require('./msgpack')
const { checkNumber, describe } = require('./args')

/** Options of kharon's own, not crud's: the request's deadline and signal, and the row shape. */
const OWN_OPTIONS = new Set(['timeout', 'signal', 'tuples'])
const DEFAULT_BATCH = 100

/**
 * crud over a connection to a vshard router running crud (`crud.init_router()`), or over a
 * pool of such routers (each request goes to any live one). `options.tuples`: the row shape
 * ('arrays' or 'objects'; default: the connection's, else 'arrays').
 */
function crud(target, options) {
  return new Crud(target, options)
}

class Crud {
  #target
  #tuples

  constructor(target, options = {}) {
    if (target === null || typeof target !== 'object' || typeof target.call !== 'function') {
      throw new TypeError(`crud() takes a Connection or a Pool, got ${describe(target)}`)
    }
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    this.#target = target
    this.#tuples = checkTuplesMode(options.tuples) ?? target[kRequester]?.catalog.tuplesMode({}) ?? 'arrays'
  }

  insert(space, tuple, opts) { return this.#rows('insert', [space, tuple], opts) }
  insertObject(space, object, opts) { return this.#rows('insert_object', [space, object], opts) }
  insertMany(space, tuples, opts) { return this.#many('insert_many', space, tuples, opts) }
  insertObjectMany(space, objects, opts) { return this.#many('insert_object_many', space, objects, opts) }
  replace(space, tuple, opts) { return this.#rows('replace', [space, tuple], opts) }
  replaceObject(space, object, opts) { return this.#rows('replace_object', [space, object], opts) }
  replaceMany(space, tuples, opts) { return this.#many('replace_many', space, tuples, opts) }
  replaceObjectMany(space, objects, opts) { return this.#many('replace_object_many', space, objects, opts) }
  upsert(space, tuple, operations, opts) { return this.#rows('upsert', [space, tuple, operations], opts) }
  upsertObject(space, object, operations, opts) { return this.#rows('upsert_object', [space, object, operations], opts) }
  /** `pairs`: [[tuple, operations], ...]. */
  upsertMany(space, pairs, opts) { return this.#many('upsert_many', space, pairs, opts) }
  /** `pairs`: [[object, operations], ...]. */
  upsertObjectMany(space, pairs, opts) { return this.#many('upsert_object_many', space, pairs, opts) }
  get(space, key, opts) { return this.#rows('get', [space, key], opts) }
  update(space, key, operations, opts) { return this.#rows('update', [space, key, operations], opts) }
  delete(space, key, opts) { return this.#rows('delete', [space, key], opts) }
  /** `conditions`: crud's, e.g. [['>=', 'age', 30]]; none for all rows. */
  select(space, conditions, opts) { return this.#rows('select', [space, conditions ?? null], opts) }
  min(space, index, opts) { return this.#rows('min', [space, index ?? null], opts) }
  max(space, index, opts) { return this.#rows('max', [space, index ?? null], opts) }
  count(space, conditions, opts) { return this.#value('count', [space, conditions ?? null], opts) }
  len(space, opts) { return this.#value('len', [space], opts) }
  async truncate(space, opts) { await this.#value('truncate', [space], opts) }
  /** Each storage's status, by instance uuid: { status: 'running', is_master, message? }. */
  storageInfo(opts) { return this.#value('storage_info', [], opts) }
  /** The schema of one space, or of every space (by name) when `space` is omitted. */
  schema(space, opts) { return this.#value('schema', [space ?? null], opts) }

  /** The router's own call statistics (crud.stats), of one space or all; needs crud.cfg{ stats = true }. */
  async stats(space, opts) {
    const checked = requestOptions(opts)
    const [stats] = await this.#target.call('crud.stats', space === undefined ? [] : [space], { ...deadline(checked), tuples: 'arrays' })
    return stats
  }

  /**
   * Every row matching `conditions`, as an async iterator: selects of `batchSize` rows (default
   * 100), each after the last row of the one before. `break` ends it between pages.
   */
  async * pairs(space, conditions, opts) {
    const checked = requestOptions(opts)
    const batchSize = checked.batchSize === undefined ? DEFAULT_BATCH : checkNumber(checked.batchSize, 'batchSize', { min: 1, max: 0x7fffffff, integer: true })
    const mode = this.#mode(checked)
    // Each page is a select of `first` rows after `after`: the caller's own first and after
    // options are the iteration's, not crud's.
    const pageOptions = { ...checked, batchSize: undefined, tuples: 'arrays' }
    let after = checked.after
    for (;;) {
      const page = await this.#call('select', [space, conditions ?? null], { ...pageOptions, first: batchSize, after })
      const rows = page?.rows ?? []
      const names = (page?.metadata ?? []).map((f) => f.name)
      for (const row of rows) yield mode === 'objects' ? tupleObject(row, names) : row
      if (rows.length < batchSize) return
      after = rows[rows.length - 1]
    }
  }

  // A call whose result is { metadata, rows }: rows shaped as asked.
  async #rows(fn, args, opts) {
    const checked = requestOptions(opts)
    const result = await this.#call(fn, args, checked)
    return shaped(result, this.#mode(checked))
  }

  async #value(fn, args, opts) {
    return this.#call(fn, args, requestOptions(opts))
  }

  // A *_many call: every error and the rows that did go in. Some failed: it rejects with a
  // CrudError carrying them all (`errors`) and the partial `result`; none did: the result.
  async #many(fn, space, items, opts) {
    const checked = requestOptions(opts)
    if (!Array.isArray(items)) throw new TypeError(`crud.${fn} takes an array, got ${describe(items)}`)
    const [result, errs] = await this.#target.call(`crud.${fn}`, [space, items, crudOptions(checked)], { ...deadline(checked), tuples: 'arrays' })
    const out = shaped(result, this.#mode(checked))
    if (errs === null || errs === undefined) return out
    const errors = (Array.isArray(errs) ? errs : [errs]).map((e) => CrudError.from(e, fn))
    const first = errors[0]
    const err = new CrudError(`crud.${fn}: ${errors.length} of ${items.length} failed; the first: ${first.message}`, {
      className: first.className, operationData: first.operationData, errors, result: out,
    })
    throw err
  }

  // Calls crud.<fn>(...args, opts) and unwraps `result, err`.
  async #call(fn, args, checked) {
    const [result, err] = await this.#target.call(`crud.${fn}`, [...args, crudOptions(checked)], { ...deadline(checked), tuples: 'arrays' })
    if (err !== null && err !== undefined) throw CrudError.from(err, fn)
    return result
  }

  #mode(checked) {
    return checkTuplesMode(checked.tuples) ?? this.#tuples
  }
}

// kharon's deadline for the request itself.
function deadline(checked) {
  const out = {}
  if (checked.timeout !== undefined) out.timeout = checked.timeout
  if (checked.signal !== undefined) out.signal = checked.signal
  return out
}

/**
 * crud's options from kharon's: camelCase names in snake_case (bucketId: bucket_id), and the
 * request's `timeout` (ms) as crud's own (seconds), so the router's calls to the storages keep
 * the same deadline. An option crud does not know is crud's to refuse (a server error).
 */
function crudOptions(checked) {
  const out = {}
  for (const [key, value] of Object.entries(checked)) {
    if (OWN_OPTIONS.has(key) || value === undefined) continue
    out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value
  }
  if (checked.timeout !== undefined) out.timeout = checked.timeout / 1000
  return out
}

function shaped(result, mode) {
  if (result === null || result === undefined) return result
  const metadata = Array.isArray(result.metadata) ? result.metadata : []
  let rows = Array.isArray(result.rows) ? result.rows : []
  if (mode === 'objects') {
    const names = metadata.map((f) => f.name)
    rows = rows.map((row) => tupleObject(row, names))
  }
  return { rows, metadata }
}

module.exports = { crud, Crud }
