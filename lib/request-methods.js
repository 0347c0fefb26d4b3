'use strict'

// The request methods, written once: a Connection and a Stream have them (as net.box's stream
// object has its connection's methods), and the Pool routes to them. Each checks all its
// arguments first (checkArguments, which the Pool runs too, before it waits for an instance),
// then builds the body and hands it to its object's Requester, found under `kRequester`:
//
//   catalog                                       the Catalog: names to ids, tuples to shapes
//   transport                                     the current Transport (the server's features)
//   request(type, body, decodeBody, opts, name)   a promise of decodeBody(data, start, end)
//   call(type, body, opts, name)                  a Call's promise (it iterates the pushes)
//
// A Connection's Requester is its Lifecycle; a Stream's adds its STREAM_ID and refuses
// requests once its transaction is lost. `name` is what a trace names the request by
// (function, space or SQL text), never its arguments.
//
// A method that returns a promise never throws, as in node-postgres and undici: a bad argument
// rejects it (call/eval: a Call whose pushes reject too), with the same error whether the
// schema was fresh or had to be fetched first, since every check comes before routing. What
// returns no promise (watch(), stream(), destroy(), a Call's pushes()) throws.

const K = require('./iproto').IPROTO
const build = require('./requests')
const { Call } = require('./call')
const { decode, findKey, rawString, tupleObject } = require('./msgpack')
const { unsupported } = require('./protocol')
const { checkTuplesMode } = require('./catalog')
const { checkNumber, checkFunction, checkDeadline, describe, U32, BYTES } = require('./args')

/** Where a Connection or Stream keeps its Requester. */
const kRequester = Symbol('kharon.requester')

function checkOptions(opts) {
  if (opts !== undefined && opts !== null && typeof opts !== 'object') throw new TypeError('options must be an object')
  return opts || {}
}

/** A request's options: an object (or nothing) with a valid timeout and signal; {} for nothing. */
function requestOptions(opts) {
  const o = checkOptions(opts)
  checkDeadline(o)
  return o
}

/** Request options of a method with tuples in its result. */
function tupleOptions(opts) {
  const o = requestOptions(opts)
  checkTuplesMode(o.tuples)
  return o
}

function callOptions(opts) {
  const o = tupleOptions(opts)
  if (o.onPush !== undefined) checkFunction(o.onPush, 'onPush')
  if (o.highWaterMark !== undefined) checkNumber(o.highWaterMark, 'highWaterMark', BYTES)
  return o
}

function checkName(v, what) {
  if (typeof v !== 'string' || v === '') throw new TypeError(`${what} must be a non-empty string`)
}

function checkString(v, what) {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`)
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

function checkTuple(tuple) {
  if (tuple === null || typeof tuple !== 'object') throw new TypeError('tuple must be an array or an object')
}

function checkParams(params) {
  if (Array.isArray(params) || (params !== null && typeof params === 'object' && !(params instanceof Map))) return
  throw new TypeError('SQL parameters must be an array or an object of named parameters')
}

function checkSpaceTuple(space, tuple, opts) {
  checkSpace(space)
  checkTuple(tuple)
  return tupleOptions(opts)
}

/**
 * Each request method's checks, in its arguments' order, with its defaults; each returns the
 * options ({} for none). What is found only while encoding (a value MessagePack cannot carry)
 * comes later, but still before anything is sent.
 */
const checkArguments = {
  ping: (opts) => requestOptions(opts),
  call(name, args = [], opts) {
    checkName(name, 'function name')
    checkArray(args, 'args')
    return callOptions(opts)
  },
  eval(expr, args = [], opts) {
    checkString(expr, 'expr')
    checkArray(args, 'args')
    return callOptions(opts)
  },
  select(space, index = 0, key = [], opts) {
    checkSpace(space)
    checkIndex(index)
    const o = tupleOptions(opts)
    build.checkPaging(o)
    build.checkSelect(o)
    return o
  },
  insert: checkSpaceTuple,
  replace: checkSpaceTuple,
  update(space, index, key, ops, opts) {
    checkSpace(space)
    checkIndex(index)
    checkArray(ops, 'ops')
    return tupleOptions(opts)
  },
  upsert(space, tuple, ops, opts) {
    checkSpace(space)
    checkTuple(tuple)
    checkArray(ops, 'ops')
    return requestOptions(opts)
  },
  delete(space, index, key, opts) {
    checkSpace(space)
    checkIndex(index)
    return tupleOptions(opts)
  },
  execute(sql, params = [], opts) {
    checkString(sql, 'sql')
    checkParams(params)
    return tupleOptions(opts)
  },
  prepare(sql, opts) {
    checkString(sql, 'sql')
    return requestOptions(opts)
  },
}

/** A Call that failed before anything was sent: it rejects with `err`, and so do its pushes. */
function failedCall(err) {
  const call = new Call(null, 0, undefined, undefined, false, null)
  const promise = call._promised()
  call._settle(err)
  return promise
}

const noValue = () => undefined

/** Adds the request methods to `Base` (EventEmitter for a Connection, Object for a Stream). */
function requestApi(Base) {
  return class extends Base {
    ping(opts) {
      try {
        return this[kRequester].request(K.PING, '', noValue, checkArguments.ping(opts), null)
      } catch (err) {
        return Promise.reject(err)
      }
    }

    /** Calls a stored function. Resolves to its return values; iterate for its pushes. */
    call(name, args = [], opts) {
      try {
        opts = checkArguments.call(name, args, opts)
        const requester = this[kRequester]
        return requester.call(K.CALL, build.call(name, args, requester.transport._uses('call_arg_tuple_extension')), opts, name)
      } catch (err) {
        return failedCall(err)
      }
    }

    /** Evaluates Lua. Resolves to its return values; iterate for its pushes. */
    eval(expr, args = [], opts) {
      try {
        opts = checkArguments.eval(expr, args, opts)
        const requester = this[kRequester]
        return requester.call(K.EVAL, build.evaluate(expr, args, requester.transport._uses('call_arg_tuple_extension')), opts, expr)
      } catch (err) {
        return failedCall(err)
      }
    }

    /**
     * Selects tuples. With `fetchPos: true` (2.11+) resolves to `{ tuples, position }`, where
     * `position` (opaque bytes, or null after the last tuple) passed as `after` gets the next
     * page; `after` also takes a tuple.
     */
    select(space, index = 0, key = [], opts) {
      try {
        opts = checkArguments.select(space, index, key, opts)
        const requester = this[kRequester]
        const catalog = requester.catalog
        const mode = catalog.tuplesMode(opts)
        const transport = requester.transport
        if (build.checkPaging(opts) && !transport._serverHas('pagination')) {
          // 2.6 would ignore the keys and return the first page every time.
          return Promise.reject(unsupported('pagination', 'select with after or fetchPos', transport.serverVersion))
        }
        const decodeSelect = opts.fetchPos === true
          ? (b, s, e, sid) => ({ tuples: catalog.tuplesOf(b, s, e, sid, mode), position: positionOf(b, s, e) })
          : (b, s, e, sid) => catalog.tuplesOf(b, s, e, sid, mode)
        return catalog.route(space, index, catalog.needsFormat(mode), (sid, iid, o) =>
          requester.request(K.SELECT, build.select(sid, iid, key, o), (b, s, e) => decodeSelect(b, s, e, sid), o, space), opts, K.SELECT)
      } catch (err) {
        return Promise.reject(err)
      }
    }

    insert(space, tuple, opts) {
      return writeTuple(this[kRequester], K.INSERT, space, tuple, opts)
    }

    replace(space, tuple, opts) {
      return writeTuple(this[kRequester], K.REPLACE, space, tuple, opts)
    }

    update(space, index, key, ops, opts) {
      try {
        opts = checkArguments.update(space, index, key, ops, opts)
        return oneTupleBack(this[kRequester], K.UPDATE, space, index, opts, false, (sid, iid) => build.update(sid, iid, key, ops))
      } catch (err) {
        return Promise.reject(err)
      }
    }

    upsert(space, tuple, ops, opts) {
      try {
        opts = checkArguments.upsert(space, tuple, ops, opts)
        const requester = this[kRequester]
        const catalog = requester.catalog
        return catalog.route(space, 0, !Array.isArray(tuple), (sid, iid, o) =>
          requester.request(K.UPSERT, build.upsert(sid, catalog.tupleArray(sid, tuple), ops), noValue, o, space), opts, K.UPSERT)
      } catch (err) {
        return Promise.reject(err)
      }
    }

    delete(space, index, key, opts) {
      try {
        opts = checkArguments.delete(space, index, key, opts)
        return oneTupleBack(this[kRequester], K.DELETE, space, index, opts, false, (sid, iid) => build.del(sid, iid, key))
      } catch (err) {
        return Promise.reject(err)
      }
    }

    /** Runs SQL: { metadata: [{ name, type }], rows, rowCount?, autoincrementIds? }. */
    execute(sql, params = [], opts) {
      try {
        opts = checkArguments.execute(sql, params, opts)
        return executeBody(this[kRequester], build.execute(sql, params), opts, sql)
      } catch (err) {
        return Promise.reject(err)
      }
    }

    /** Prepares SQL on the server; the statement runs with stmt.execute(params), here. */
    prepare(sql, opts) {
      try {
        opts = checkArguments.prepare(sql, opts)
        const requester = this[kRequester]
        return requester.request(K.PREPARE, build.prepare(sql), (b, s, e) => new PreparedStatement(requester, decode(b, s, e), sql), opts, sql)
      } catch (err) {
        return Promise.reject(err)
      }
    }
  }
}

function writeTuple(requester, type, space, tuple, opts) {
  try {
    opts = checkSpaceTuple(space, tuple, opts)
    // An object tuple is laid out by the space's field names: the schema is needed.
    return oneTupleBack(requester, type, space, 0, opts, !Array.isArray(tuple), (sid) => build.tuple(sid, requester.catalog.tupleArray(sid, tuple)))
  } catch (err) {
    return Promise.reject(err)
  }
}

// A request answered with one tuple or none (insert, replace, update, delete), its body made
// by `bodyOf(spaceId, indexId)` once the catalog has routed it.
function oneTupleBack(requester, type, space, index, opts, needsSchema, bodyOf) {
  const catalog = requester.catalog
  const mode = catalog.tuplesMode(opts)
  return catalog.route(space, index, needsSchema || catalog.needsFormat(mode), (sid, iid, o) =>
    requester.request(type, bodyOf(sid, iid), (b, s, e) => catalog.firstTuple(b, s, e, sid, mode), o, space), opts, type)
}

function executeBody(requester, body, opts, sql) {
  const mode = requester.catalog.tuplesMode(opts)
  return requester.request(K.EXECUTE, body, (b, s, e) => sqlResult(b, s, e, mode), opts, sql)
}

/** A select's POSITION (0x35) as its exact bytes; null when the page was empty. */
function positionOf(buf, start, end) {
  const at = end > start ? findKey(buf, start, end, K.POSITION) : null
  return at === null ? null : rawString(buf, at[0], at[1])
}

// SQL column metadata: FIELD_NAME (0) and FIELD_TYPE (1), and with the session setting
// sql_full_metadata on, FIELD_COLL (2), FIELD_IS_NULLABLE (3), FIELD_IS_AUTOINCREMENT (4) and
// FIELD_SPAN (5: the expression's text, or null for a plain column).
const COLUMN_KEYS = [[2, 'collation'], [3, 'isNullable'], [4, 'isAutoincrement'], [5, 'span']]

function columnsOf(fields) {
  if (!Array.isArray(fields)) return []
  return fields.map((f) => {
    const column = { name: f?.[0], type: f?.[1] }
    for (const [key, name] of COLUMN_KEYS) if (f !== null && typeof f === 'object' && key in f) column[name] = f[key]
    return column
  })
}

function sqlResult(buf, start, end, mode) {
  const m = end === start ? {} : decode(buf, start, end)
  const metadata = columnsOf(m[K.METADATA])
  let rows = m[K.DATA] || []
  if (mode === 'objects' && metadata.length > 0) {
    const names = metadata.map((f) => f.name)
    rows = rows.map((row) => tupleObject(row, names))
  }
  const result = { metadata, rows }
  const info = m[K.SQL_INFO]
  if (info !== undefined) {
    result.rowCount = info[0]
    if (info[1] !== undefined) result.autoincrementIds = info[1]
  }
  return result
}

/** A statement prepared on the server (PREPARE); it runs where it was prepared (a stream too). */
class PreparedStatement {
  #requester
  #sql

  constructor(requester, body, sql) {
    this.#requester = requester
    this.#sql = sql
    this.id = body[K.STMT_ID]
    this.bindCount = body[K.BIND_COUNT]
    this.params = columnsOf(body[K.BIND_METADATA])
    this.metadata = columnsOf(body[K.METADATA])
  }

  execute(params = [], opts) {
    try {
      checkParams(params)
      return executeBody(this.#requester, build.execute(this.id, params), tupleOptions(opts), this.#sql)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Unprepare is a PREPARE that names only the statement id. */
  unprepare(opts) {
    try {
      return this.#requester.request(K.PREPARE, build.unprepare(this.id), noValue, requestOptions(opts), this.#sql)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

module.exports = { requestApi, kRequester, PreparedStatement, checkArguments, checkOptions, requestOptions, failedCall, noValue }
