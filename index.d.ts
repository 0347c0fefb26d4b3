// Public types of kharon. The native surface napi-rs generates is in binding.d.ts; this file
// describes the JS API built on it (index.js) and is checked by __test__/types.test.js.

import { EventEmitter } from 'node:events'

export interface ConnectOptions {
  /** Defaults to 'localhost'. */
  host?: string
  port?: number | string
  /** Unix socket path; takes precedence over host/port. */
  path?: string
  user?: string
  password?: string
  /** Milliseconds for TCP connect, greeting and auth together. */
  connectTimeout?: number
  /** Largest frame accepted from the server, in bytes (default 256 MiB). */
  maxFrameSize?: number
  /** Default per-request push buffer in bytes (default 1 MiB). */
  pushHighWaterMark?: number
}

export interface RequestOptions<Ctx = unknown> {
  /** Called with each push body (raw MessagePack) instead of buffering it. */
  onPush?: (chunk: Buffer, ctx: Ctx) => void
  onPushCtx?: Ctx
  /** Push buffer for this request, in bytes. */
  highWaterMark?: number
}

export interface PushesOptions {
  /** Milliseconds to wait for each push or the final response; then TimeoutError. */
  timeout?: number
}

/** A request in promise mode: the final body, and the pushes that precede it. */
export declare class Response implements PromiseLike<Buffer>, AsyncIterable<Buffer> {
  private constructor()
  then<A = Buffer, B = never>(
    onFulfilled?: ((body: Buffer) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B>
  catch<B = never>(onRejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<Buffer | B>
  finally(onFinally?: (() => void) | null): Promise<Buffer>
  pushes(options?: PushesOptions): AsyncIterableIterator<Buffer>
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer>
}

export type Callback<T> = (err: Error | null, value?: T) => void
export type RequestBody = Buffer | Uint8Array | string

export declare class Transport extends EventEmitter {
  private constructor()
  static connect(port: number | string, host?: string): Promise<Transport>
  static connect(port: number | string, callback: Callback<Transport>): void
  static connect(port: number | string, host: string | undefined, callback: Callback<Transport>): void
  static connect(options: ConnectOptions): Promise<Transport>
  static connect(options: ConnectOptions, callback: Callback<Transport>): void

  /** Requests awaiting their final response. */
  readonly pending: number
  /** The SYNC the next request gets (u32, wraps to 0, skips ids in use). */
  nextSync: number
  readonly closed: boolean
  /** SCHEMA_VERSION of the latest response. */
  readonly schemaVersion: number
  /** The server's version from its greeting, e.g. '2.6.0'. */
  readonly serverVersion: string

  request(type: number, body?: RequestBody, options?: RequestOptions): Response
  request(type: number, body: RequestBody | undefined, callback: (err: Error | null, body: Buffer) => void): void
  request<Ctx>(
    type: number,
    body: RequestBody | undefined,
    options: RequestOptions<Ctx>,
    callback: (err: Error | null, body: Buffer) => void,
  ): void
  close(): Promise<void>

  on(event: 'close', listener: (err: Error) => void): this
  once(event: 'close', listener: (err: Error) => void): this
}

export declare const IPROTO: {
  readonly SELECT: 1; readonly INSERT: 2; readonly REPLACE: 3; readonly UPDATE: 4; readonly DELETE: 5
  readonly CALL_16: 6; readonly AUTH: 7; readonly EVAL: 8; readonly UPSERT: 9; readonly CALL: 10
  readonly EXECUTE: 11; readonly NOP: 12; readonly PREPARE: 13; readonly BEGIN: 14; readonly COMMIT: 15
  readonly ROLLBACK: 16; readonly PING: 64; readonly ID: 73; readonly WATCH: 74; readonly UNWATCH: 75
  readonly EVENT: 76; readonly WATCH_ONCE: 77
  readonly OK: 0; readonly CHUNK: 0x80; readonly TYPE_ERROR: 0x8000
  readonly REQUEST_TYPE: 0x00; readonly SYNC: 0x01; readonly SCHEMA_VERSION: 0x05; readonly STREAM_ID: 0x0a
  readonly SPACE_ID: 0x10; readonly INDEX_ID: 0x11; readonly LIMIT: 0x12; readonly OFFSET: 0x13
  readonly ITERATOR: 0x14; readonly KEY: 0x20; readonly TUPLE: 0x21; readonly FUNCTION_NAME: 0x22
  readonly USER_NAME: 0x23; readonly EXPR: 0x27; readonly OPS: 0x28; readonly DATA: 0x30
  readonly ERROR_24: 0x31; readonly METADATA: 0x32; readonly BIND_METADATA: 0x33; readonly BIND_COUNT: 0x34
  readonly SQL_TEXT: 0x40; readonly SQL_BIND: 0x41; readonly SQL_INFO: 0x42; readonly STMT_ID: 0x43
  readonly ERROR: 0x52; readonly VERSION: 0x54; readonly FEATURES: 0x55; readonly TIMEOUT: 0x56
  readonly EVENT_KEY: 0x57; readonly EVENT_DATA: 0x58; readonly TXN_ISOLATION: 0x59; readonly AUTH_TYPE: 0x5b
}

export declare class KharonError extends Error {
  code: string
}
/** Socket failure or close: code is the OS code (ECONNREFUSED, ECONNRESET, ...) or ERR_CONNECTION_CLOSED. */
export declare class ConnectionError extends KharonError {}
/** code is always 'ETIMEDOUT'. */
export declare class TimeoutError extends KharonError {
  code: 'ETIMEDOUT'
}
/** The peer broke the protocol (code 'ERR_PROTOCOL'); the connection was closed. */
export declare class ProtocolError extends KharonError {}
export interface ServerStackEntry {
  type: string
  file: string
  line: number
  message: string
  errno: number
  code: number
  fields?: Record<string, unknown>
}
/** An error reported by Tarantool: code is its name (ER_NO_SUCH_PROC), errcode its number. */
export declare class TarantoolError extends KharonError {
  errcode: number
  serverStack: ServerStackEntry[]
}
/** Pushes were dropped before iteration started (code 'ERR_PUSH_OVERFLOW'). */
export declare class PushOverflowError extends KharonError {}
/** A bug in kharon, reported instead of crashing (code 'ERR_INTERNAL'). */
export declare class InternalError extends KharonError {}
