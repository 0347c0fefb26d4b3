'use strict'

// The request methods a Connection and a Stream share: one list, as net.box's stream object
// has its connection's methods. Each checks its arguments, builds the body and issues it
// through the class's `_issue` / `_issueCall`, which add what the class adds (a Stream: its
// STREAM_ID, and the refusal of a lost transaction). `_client` is the Connection that owns
// the schema, the default tuple mode and the socket. The last argument of both is what a
// trace names the request by (function, space or SQL text), never its arguments.

const K = require('./iproto').IPROTO
const build = require('./requests')
const { decode, findKey, rawString, tupleObject } = require('./msgpack')
const { unsupported } = require('./protocol')
const { checkNumber, describe, U32 } = require('./args')

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

const noValue = () => undefined

/** Adds the request methods to `Base` (EventEmitter for a Connection, Object for a Stream). */
function requestApi(Base) {
  return class extends Base {
    ping(opts) {
      return this._issue(K.PING, '', noValue, checkOptions(opts), null)
    }

    /** Calls a stored function. Resolves to its return values; iterate for its pushes. */
    call(name, args = [], opts) {
      checkName(name, 'function name')
      checkArray(args, 'args')
      return this._issueCall(K.CALL, build.call(name, args), checkOptions(opts), name)
    }

    /** Evaluates Lua. Resolves to its return values; iterate for its pushes. */
    eval(expr, args = [], opts) {
      if (typeof expr !== 'string') throw new TypeError('expr must be a string')
      checkArray(args, 'args')
      return this._issueCall(K.EVAL, build.evaluate(expr, args), checkOptions(opts), expr)
    }

    /**
     * Selects tuples. With `fetchPos: true` (2.11+) resolves to `{ tuples, position }`, where
     * `position` (opaque bytes, or null after the last tuple) passed as `after` gets the next
     * page; `after` also takes a tuple.
     */
    select(space, index = 0, key = [], opts) {
      checkSpace(space)
      checkIndex(index)
      opts = checkOptions(opts)
      const client = this._client
      const mode = client._tuplesMode(opts)
      const paging = build.checkPaging(opts)
      build.select(0, 0, key, opts) // validates limit, offset, iterator and key before any await
      if (paging && !client.transport._serverHas('pagination')) {
        // 2.6 would ignore the keys and return the first page every time.
        return Promise.reject(unsupported('pagination', 'select with after or fetchPos', client.transport.serverVersion))
      }
      const decodeSelect = opts.fetchPos === true
        ? (b, s, e, sid) => ({ tuples: client._tuplesOf(b, s, e, sid, mode), position: positionOf(b, s, e) })
        : (b, s, e, sid) => client._tuplesOf(b, s, e, sid, mode)
      return client._route(space, index, client._needsFormat(mode), (sid, iid) =>
        this._issue(K.SELECT, build.select(sid, iid, key, opts), (b, s, e) => decodeSelect(b, s, e, sid), opts, space))
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
      const client = this._client
      const mode = client._tuplesMode(opts)
      return client._route(space, index, client._needsFormat(mode), (sid, iid) =>
        this._issue(K.UPDATE, build.update(sid, iid, key, ops), (b, s, e) => client._firstTuple(b, s, e, sid, mode), opts, space))
    }

    upsert(space, tuple, ops, opts) {
      checkSpace(space)
      checkArray(ops, 'ops')
      opts = checkOptions(opts)
      const client = this._client
      return client._route(space, 0, !Array.isArray(tuple), (sid) =>
        this._issue(K.UPSERT, build.upsert(sid, client._tupleArray(sid, tuple), ops), noValue, opts, space))
    }

    delete(space, index, key, opts) {
      checkSpace(space)
      checkIndex(index)
      opts = checkOptions(opts)
      const client = this._client
      const mode = client._tuplesMode(opts)
      return client._route(space, index, client._needsFormat(mode), (sid, iid) =>
        this._issue(K.DELETE, build.del(sid, iid, key), (b, s, e) => client._firstTuple(b, s, e, sid, mode), opts, space))
    }

    /** Runs SQL: { metadata: [{ name, type }], rows, rowCount?, autoincrementIds? }. */
    execute(sql, params = [], opts) {
      if (typeof sql !== 'string') throw new TypeError('sql must be a string')
      return this._executeBody(build.execute(sql, params), checkOptions(opts), sql)
    }

    /** Prepares SQL on the server; the statement runs with stmt.execute(params), here. */
    prepare(sql, opts) {
      if (typeof sql !== 'string') throw new TypeError('sql must be a string')
      return this._issue(K.PREPARE, build.prepare(sql), (b, s, e) => new PreparedStatement(this, decode(b, s, e), sql), checkOptions(opts), sql)
    }

    _executeBody(body, opts, sql) {
      const mode = this._client._tuplesMode(opts)
      return this._issue(K.EXECUTE, body, (b, s, e) => sqlResult(b, s, e, mode), opts, sql)
    }

    #writeTuple(type, space, tuple, opts) {
      checkSpace(space)
      opts = checkOptions(opts)
      const client = this._client
      const mode = client._tuplesMode(opts)
      return client._route(space, 0, client._needsFormat(mode) || !Array.isArray(tuple), (sid) =>
        this._issue(type, build.tuple(sid, client._tupleArray(sid, tuple)), (b, s, e) => client._firstTuple(b, s, e, sid, mode), opts, space))
    }
  }
}

/** A select's POSITION (0x35) as its exact bytes; null when the page was empty. */
function positionOf(buf, start, end) {
  const at = end > start ? findKey(buf, start, end, K.POSITION) : null
  return at === null ? null : rawString(buf, at[0], at[1])
}

function sqlResult(buf, start, end, mode) {
  const m = end === start ? {} : decode(buf, start, end)
  const metadata = (m[K.METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
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
  #owner
  #sql

  constructor(owner, body, sql) {
    this.#owner = owner
    this.#sql = sql
    this.id = body[K.STMT_ID]
    this.bindCount = body[K.BIND_COUNT]
    this.params = (body[K.BIND_METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
    this.metadata = (body[K.METADATA] || []).map((f) => ({ name: f[0], type: f[1] }))
  }

  execute(params = [], opts) {
    return this.#owner._executeBody(build.execute(this.id, params), checkOptions(opts), this.#sql)
  }

  /** Unprepare is a PREPARE that names only the statement id. */
  unprepare(opts) {
    return this.#owner._issue(K.PREPARE, build.unprepare(this.id), noValue, checkOptions(opts), this.#sql)
  }
}

module.exports = { requestApi, PreparedStatement, checkOptions, checkTuplesMode, noValue }
