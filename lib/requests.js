'use strict'

// Body builders, one per request type (as go-tarantool's request.go): each writes the IPROTO
// body map into the shared encoder and returns the encoder itself, whose bytes the transport
// copies into its write buffer before the encoder is used again (no Buffer made per request).
// What keeps a body longer (the offline queue, a watch) takes `toBuffer()`.

const { Encoder } = require('./msgpack')
const K = require('./iproto').IPROTO
const { checkNumber, U32 } = require('./args')

const ENCODER_SIZE = 64 * 1024
let encoder = new Encoder(ENCODER_SIZE)

// Builders under way: user code that runs while a body is encoded (a getter on an argument)
// may build a request of its own, which must not reset the outer body's encoder.
let building = 0

// The shared encoder, emptied; one grown far past its size by a huge body is let go rather than
// kept for the process's life. A body built inside another gets an encoder of its own.
function fresh() {
  if (building > 1) return new Encoder(256)
  if (encoder.buf.length > 16 * ENCODER_SIZE) encoder = new Encoder(ENCODER_SIZE)
  return encoder.reset()
}

/** `build` (four parameters at most) with the shared encoder kept for it until it returns. */
function exclusive(build) {
  // Fixed parameters rather than rest and spread: no array made per request.
  return function (a, b, c, d) {
    building++
    try {
      return build(a, b, c, d)
    } finally {
      building--
    }
  }
}

const ITERATORS = Object.freeze({
  EQ: 0, REQ: 1, ALL: 2, LT: 3, LE: 4, GE: 5, GT: 6,
  BITS_ALL_SET: 7, BITS_ANY_SET: 8, BITS_ALL_NOT_SET: 9, OVERLAPS: 10, NEIGHBOR: 11,
})

function iteratorCode(it) {
  if (it === undefined) return ITERATORS.EQ
  if (typeof it === 'number') return checkNumber(it, 'iterator', { min: 0, max: 11, integer: true })
  if (typeof it === 'string' && Object.hasOwn(ITERATORS, it.toUpperCase())) return ITERATORS[it.toUpperCase()]
  throw new TypeError(`unknown iterator ${JSON.stringify(it)}: use one of ${Object.keys(ITERATORS).join(', ')} or 0..11`)
}

function asKey(key) {
  if (key === undefined || key === null) return []
  return Array.isArray(key) ? key : [key]
}

function u32Option(v, name, fallback) {
  return v === undefined ? fallback : checkNumber(v, name, U32)
}

// A space or index goes on the wire as its id (SPACE_ID, INDEX_ID) or, to servers that take
// names (3.x), as its name (SPACE_NAME, INDEX_NAME).
function space(e, ref) {
  if (typeof ref === 'number') { e.uint(K.SPACE_ID); e.uint(ref) } else { e.uint(K.SPACE_NAME); e.str(ref) }
}

function index(e, ref) {
  if (typeof ref === 'number') { e.uint(K.INDEX_ID); e.uint(ref) } else { e.uint(K.INDEX_NAME); e.str(ref) }
}

/**
 * Checks select's pagination options (2.11+): `after` is a position (the exact bytes a previous
 * page returned, or its text) or a tuple; `fetchPos` asks for the position of the page's last
 * tuple. Returns whether any is used.
 */
function checkPaging(options) {
  const { after, fetchPos } = options
  if (fetchPos !== undefined && typeof fetchPos !== 'boolean') throw new TypeError('fetchPos must be a boolean')
  if (after !== undefined && after !== null && typeof after !== 'string' && !(after instanceof Uint8Array) && !Array.isArray(after)) {
    throw new TypeError('after must be a position (Buffer or string) or a tuple (array)')
  }
  return (after !== undefined && after !== null) || fetchPos === true
}

/** Checks select's limit, offset and iterator; its key is checked as it is encoded. */
function checkSelect(options) {
  u32Option(options.limit, 'limit', 0)
  u32Option(options.offset, 'offset', 0)
  iteratorCode(options.iterator)
}

function select(spaceRef, indexRef, key, options = {}) {
  const { after, fetchPos } = options
  const hasAfter = after !== undefined && after !== null
  const e = fresh()
  e.mapHeader(6 + (hasAfter ? 1 : 0) + (fetchPos === true ? 1 : 0))
  space(e, spaceRef)
  index(e, indexRef)
  e.uint(K.LIMIT); e.uint(u32Option(options.limit, 'limit', 0xffffffff))
  e.uint(K.OFFSET); e.uint(u32Option(options.offset, 'offset', 0))
  e.uint(K.ITERATOR); e.uint(iteratorCode(options.iterator))
  e.uint(K.KEY); e.value(asKey(key))
  if (Array.isArray(after)) { e.uint(K.AFTER_TUPLE); e.value(after) }
  else if (typeof after === 'string') { e.uint(K.AFTER_POSITION); e.str(after) }
  // A position must go back exactly as it came: MP_STR (the server refuses MP_BIN), same bytes.
  else if (hasAfter) { e.uint(K.AFTER_POSITION); e.strBytes(after) }
  if (fetchPos === true) { e.uint(K.FETCH_POSITION); e.byte(0xc3) }
  return e
}

/** INSERT and REPLACE share this shape. */
function tuple(spaceRef, fields) {
  const e = fresh()
  e.mapHeader(2)
  space(e, spaceRef)
  e.uint(K.TUPLE); e.value(fields)
  return e
}

function update(spaceRef, indexRef, key, ops) {
  const e = fresh()
  e.mapHeader(4)
  space(e, spaceRef)
  index(e, indexRef)
  e.uint(K.KEY); e.value(asKey(key))
  e.uint(K.TUPLE); e.value(ops)
  return e
}

function upsert(spaceRef, fields, ops) {
  const e = fresh()
  e.mapHeader(3)
  space(e, spaceRef)
  e.uint(K.TUPLE); e.value(fields)
  e.uint(K.OPS); e.value(ops)
  return e
}

function del(spaceRef, indexRef, key) {
  const e = fresh()
  e.mapHeader(3)
  space(e, spaceRef)
  index(e, indexRef)
  e.uint(K.KEY); e.value(asKey(key))
  return e
}

/**
 * CALL; with `tupleArgs` (the session uses call_arg_tuple_extension) BoxTuple arguments go as
 * MP_TUPLE, their formats in TUPLE_FORMATS, so the function receives box.tuples with names.
 */
function call(name, args, tupleArgs) {
  return withArgs(K.FUNCTION_NAME, name, args, tupleArgs)
}

function evaluate(expr, args, tupleArgs) {
  return withArgs(K.EXPR, expr, args, tupleArgs)
}

function withArgs(key, text, args, tupleArgs) {
  const e = fresh()
  const head = e.pos
  e.mapHeader(2)
  e.uint(key); e.str(text)
  if (tupleArgs) e.collectTupleFormats()
  e.uint(K.TUPLE); e.value(args)
  if (e.formats !== null) {
    // A map's order is free: TUPLE_FORMATS goes last, once the arguments have shown which.
    if (e.formats.size > 0) {
      e.buf[head] = 0x83
      e.uint(K.TUPLE_FORMATS); e.tupleFormats()
    }
    e.formats = null
  }
  return e
}

/** SQL binds: an array of values, or an object of named parameters (':name' is implied). */
function binds(params) {
  if (Array.isArray(params)) return params
  if (params !== null && typeof params === 'object' && !(params instanceof Map)) {
    return Object.entries(params).map(([name, value]) => ({ [/^[:@$]/.test(name) ? name : `:${name}`]: value }))
  }
  throw new TypeError('SQL parameters must be an array or an object of named parameters')
}

/** EXECUTE by SQL text (string) or by prepared statement id (number). */
function execute(sqlOrId, params) {
  const e = fresh()
  e.mapHeader(2)
  if (typeof sqlOrId === 'number') { e.uint(K.STMT_ID); e.uint(sqlOrId) } else { e.uint(K.SQL_TEXT); e.str(sqlOrId) }
  e.uint(K.SQL_BIND); e.value(binds(params))
  return e
}

function prepare(sql) {
  const e = fresh()
  e.mapHeader(1)
  e.uint(K.SQL_TEXT); e.str(sql)
  return e
}

/** Unprepare is a PREPARE that names only the statement id. */
function unprepare(stmtId) {
  const e = fresh()
  e.mapHeader(1)
  e.uint(K.STMT_ID); e.uint(stmtId)
  return e
}

/**
 * BEGIN: TIMEOUT in seconds (the server takes only MP_DOUBLE), TXN_ISOLATION and IS_SYNC, each
 * when given (IS_SYNC only as true: the server refuses false); no body at all otherwise.
 */
function begin(isolation, timeoutSeconds, isSync) {
  if (isolation === undefined && timeoutSeconds === undefined && isSync !== true) return ''
  const e = fresh()
  e.mapHeader((isolation === undefined ? 0 : 1) + (timeoutSeconds === undefined ? 0 : 1) + (isSync === true ? 1 : 0))
  if (timeoutSeconds !== undefined) { e.uint(K.TIMEOUT); e.float(timeoutSeconds) }
  if (isolation !== undefined) { e.uint(K.TXN_ISOLATION); e.uint(isolation) }
  if (isSync === true) { e.uint(K.IS_SYNC); e.byte(0xc3) }
  return e
}

/** COMMIT: IS_SYNC when true (a synchronous commit, 3.2+); no body otherwise. */
function commit(isSync) {
  if (isSync !== true) return ''
  const e = fresh()
  e.mapHeader(1)
  e.uint(K.IS_SYNC); e.byte(0xc3)
  return e
}

/** WATCH, UNWATCH and WATCH_ONCE name one key. */
function watchKey(key) {
  const e = fresh()
  e.mapHeader(1)
  e.uint(K.EVENT_KEY); e.str(key)
  return e
}

module.exports = {
  ITERATORS,
  checkPaging,
  checkSelect,
  begin: exclusive(begin),
  commit: exclusive(commit),
  watchKey: exclusive(watchKey),
  select: exclusive(select),
  tuple: exclusive(tuple),
  update: exclusive(update),
  upsert: exclusive(upsert),
  del: exclusive(del),
  call: exclusive(call),
  evaluate: exclusive(evaluate),
  execute: exclusive(execute),
  prepare: exclusive(prepare),
  unprepare: exclusive(unprepare),
}
