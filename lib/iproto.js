'use strict'

// IPROTO request types and keys (Tarantool's iproto_constants.h), for building raw bodies.
const IPROTO = Object.freeze({
  SELECT: 1,
  INSERT: 2,
  REPLACE: 3,
  UPDATE: 4,
  DELETE: 5,
  CALL_16: 6,
  AUTH: 7,
  EVAL: 8,
  UPSERT: 9,
  CALL: 10,
  EXECUTE: 11,
  NOP: 12,
  PREPARE: 13,
  BEGIN: 14,
  COMMIT: 15,
  ROLLBACK: 16,
  PING: 64,
  ID: 73,
  WATCH: 74,
  UNWATCH: 75,
  EVENT: 76,
  WATCH_ONCE: 77,

  // Response types.
  OK: 0x00,
  CHUNK: 0x80,
  TYPE_ERROR: 0x8000,

  // Header keys.
  REQUEST_TYPE: 0x00,
  SYNC: 0x01,
  SCHEMA_VERSION: 0x05,
  STREAM_ID: 0x0a,

  // Body keys.
  SPACE_ID: 0x10,
  INDEX_ID: 0x11,
  LIMIT: 0x12,
  OFFSET: 0x13,
  ITERATOR: 0x14,
  FETCH_POSITION: 0x1f,
  KEY: 0x20,
  TUPLE: 0x21,
  FUNCTION_NAME: 0x22,
  USER_NAME: 0x23,
  EXPR: 0x27,
  OPS: 0x28,
  AFTER_POSITION: 0x2e,
  AFTER_TUPLE: 0x2f,
  DATA: 0x30,
  ERROR_24: 0x31,
  METADATA: 0x32,
  BIND_METADATA: 0x33,
  BIND_COUNT: 0x34,
  SQL_TEXT: 0x40,
  SQL_BIND: 0x41,
  SQL_INFO: 0x42,
  POSITION: 0x35,
  STMT_ID: 0x43,
  ERROR: 0x52,
  VERSION: 0x54,
  FEATURES: 0x55,
  TIMEOUT: 0x56,
  EVENT_KEY: 0x57,
  EVENT_DATA: 0x58,
  TXN_ISOLATION: 0x59,
  AUTH_TYPE: 0x5b,
  SPACE_NAME: 0x5e,
  INDEX_NAME: 0x5f,
  TUPLE_FORMATS: 0x60,
  IS_SYNC: 0x61,
})

const K = IPROTO

// How a request type is named in traces and error messages (the method's name).
const TYPE_NAMES = new Map([
  [K.PING, 'ping'], [K.CALL, 'call'], [K.EVAL, 'eval'], [K.SELECT, 'select'], [K.INSERT, 'insert'],
  [K.REPLACE, 'replace'], [K.UPDATE, 'update'], [K.UPSERT, 'upsert'], [K.DELETE, 'delete'],
  [K.EXECUTE, 'execute'], [K.PREPARE, 'prepare'], [K.BEGIN, 'begin'], [K.COMMIT, 'commit'],
  [K.ROLLBACK, 'rollback'], [K.WATCH_ONCE, 'watchOnce'],
])

function requestTypeName(type) {
  return TYPE_NAMES.get(type) ?? `type ${type}`
}

module.exports = { IPROTO, requestTypeName }
