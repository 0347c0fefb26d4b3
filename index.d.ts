// Public types of kharon. The native surface napi-rs generates is in binding.d.ts; this file
// describes the JS API built on it (index.js) and is checked by __test__/types-check.test.js.

import { EventEmitter } from 'node:events'

export interface ConnectOptions {
  /** Defaults to 'localhost'. */
  host?: string
  port?: number | string
  /** Unix socket path; takes precedence over host/port. */
  path?: string
  user?: string
  password?: string
  /** Instead of user/password: hashes made once, e.g. to avoid keeping the password. */
  credentials?: Credentials
  /** Milliseconds for TCP connect, greeting and auth together (default 10000; reconnects too). */
  connectTimeout?: number
  /** Largest frame accepted from the server, in bytes (default 256 MiB, at most 2 GiB). */
  maxFrameSize?: number
  /** Default per-request push buffer in bytes (default 1 MiB). */
  pushHighWaterMark?: number
  /**
   * Most bytes of pushes kept between all pending requests nobody iterates yet (default
   * 64 MiB); beyond it they are dropped, and iterating such a request throws PushOverflowError.
   */
  maxBufferedPushes?: number
  /**
   * IPROTO_ID features to offer a 2.10+ server (default: all kharon implements). Offering
   * fewer keeps the older wire formats, e.g. `[]` gets errors as values as plain strings.
   */
  features?: OfferedFeature[]
  /** Refuse (ERR_UNSUPPORTED) a server that lacks this IPROTO version or these features. */
  required?: { version?: number; features?: ProtocolFeature[] }
  /**
   * The authentication method: 'chap-sha1' (the default, the one kharon speaks). Enterprise's
   * 'pap-sha256' needs SSL, which kharon does not speak: it fails with ERR_UNSUPPORTED, as does a
   * server that expects it.
   */
  authType?: 'chap-sha1' | 'pap-sha256'
  /**
   * While anything is pending (or always, with `idle`) and nothing has come for `interval` ms, a
   * PING goes out; no byte within `timeout` ms of it and the connection is dead (ETIMEDOUT).
   * Default { interval: 3000, timeout: 5000, idle: false } (a pool's connections: idle: true);
   * each at least 50 ms; false turns it off.
   */
  heartbeat?: HeartbeatOptions | boolean
  /** Most requests awaiting their response; beyond it new ones reject with ERR_TOO_MANY_PENDING. */
  maxPending?: number
  /**
   * Most bytes of requests not yet taken by the kernel (default 32 MiB); a request that would
   * go past it rejects at once with ERR_WRITE_QUEUE_FULL, and 'drain' says when there is room.
   */
  maxWriteQueueBytes?: number
  /** @deprecated The old name of `maxWriteQueueBytes` (it counts bytes, not requests). */
  maxWriteQueue?: number
  /**
   * Who reads the socket: 'uv', the JS thread when Node's event loop reports it readable (no
   * thread hop per response; the default on Node), or 'tokio', a reader task that hands each
   * read to JS through a ThreadsafeFunction (the default on Bun and Deno, which have no libuv
   * loop; 'uv' is refused there).
   */
  readPath?: 'uv' | 'tokio'
}

export interface HeartbeatOptions {
  interval?: number
  timeout?: number
  /** Ping an idle connection too (timers unref'd: it never keeps Node alive). */
  idle?: boolean
}

/** IPROTO feature names, as net.box spells them. */
export type ProtocolFeature =
  | 'streams' | 'transactions' | 'error_extension' | 'watchers' | 'pagination'
  | 'space_and_index_names' | 'watch_once' | 'dml_tuple_extension' | 'call_ret_tuple_extension'
  | 'call_arg_tuple_extension' | 'fetch_snapshot_cursor' | 'is_sync' | 'insert_arrow'

/** The features kharon implements and can offer. */
export type OfferedFeature =
  | 'streams' | 'transactions' | 'error_extension' | 'watchers' | 'pagination' | 'space_and_index_names'
  | 'watch_once' | 'dml_tuple_extension' | 'call_ret_tuple_extension' | 'call_arg_tuple_extension' | 'is_sync'

/** The server's side of IPROTO_ID; `{ version: 0, features: [] }` before Tarantool 2.10. */
export interface Protocol {
  readonly version: number
  /** Feature names; ids kharon has no name for appear as 'feature_<id>'. */
  readonly features: readonly string[]
  /** The authentication method the server expects (IPROTO_AUTH_TYPE, 2.11+), or null when not told. */
  readonly authType: string | null
}

export interface DeadlineOptions {
  /** Milliseconds; then the request fails with TimeoutError and its response is dropped. */
  timeout?: number
  /** Aborting fails the request at once with AbortError (reason as `cause`). */
  signal?: AbortSignal
}

export interface RequestOptions<Ctx = unknown> extends DeadlineOptions {
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

/**
 * A request in promise mode: a native promise of the final body that is also an async
 * iterable of the pushes before it. A failure nobody awaits is not an unhandled rejection.
 */
export interface Response extends Promise<Buffer>, AsyncIterable<Buffer> {
  pushes(options?: PushesOptions): AsyncIterableIterator<Buffer>
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer>
}
/** `value instanceof Response` holds for what `Transport#request` returns without a callback. */
export declare const Response: { [Symbol.hasInstance](value: unknown): value is Response }

export type Callback<T> = (err: Error | null, value?: T) => void
export type RequestBody = Buffer | Uint8Array | string

/**
 * A packet the server sent that answers no request: its SYNC is no pending request's, or its
 * type is none kharon knows (OK, error, CHUNK, EVENT). Emitted as 'iproto' on the Transport
 * and the Connection; never taken for an answer. The late answer to a request kharon gave up
 * on (timeout, abort) is dropped, not emitted.
 */
export interface IprotoPacket {
  /** Its REQUEST_TYPE: 0 OK, 0x8000 | code an error, 0x80 CHUNK, or any other. */
  type: number
  sync: number
  /** 0 when the header has none. */
  schemaVersion: number
  /** The body decoded (integer keys as property names, e.g. body[IPROTO.DATA]); undefined when there is none, or when it does not decode. */
  body: any
  /** Only when the body does not decode: its bytes, and why. */
  raw?: Buffer
  error?: Error
}

/**
 * The raw IPROTO transport. Without a callback, connect() and request() reject for bad
 * arguments (never throw); with one, only a callback that is not a function throws.
 */
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
  /** What the server answered to IPROTO_ID. */
  readonly protocol: Protocol
  /** Bytes of requests not yet taken by the kernel (see maxWriteQueueBytes). */
  readonly writableLength: number

  /** Default push buffer of this connection's requests, in bytes. */
  readonly pushHighWaterMark: number
  /** Push bytes kept for pending requests nobody iterates yet (at most maxBufferedPushes). */
  readonly bufferedPushes: number
  /** Pushes (IPROTO_CHUNK) received on this connection. */
  readonly pushCount: number
  /** Packets received on this connection that answered no request (see 'iproto'). */
  readonly unsolicitedCount: number
  /** Bytes of requests handed to the socket. */
  readonly bytesSent: number
  /** Bytes read from the socket after the handshake. */
  readonly bytesReceived: number
  /** Who reads the socket (see ConnectOptions.readPath). */
  readonly readPath: 'uv' | 'tokio'

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
  /** The write backlog was taken by the kernel after a request was refused (ERR_WRITE_QUEUE_FULL). */
  on(event: 'drain', listener: () => void): this
  once(event: 'drain', listener: () => void): this
  /** A packet that answers no request (decoded only while someone listens; counted always). */
  on(event: 'iproto', listener: (packet: IprotoPacket) => void): this
  once(event: 'iproto', listener: (packet: IprotoPacket) => void): this
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
  readonly ITERATOR: 0x14; readonly FETCH_POSITION: 0x1f; readonly KEY: 0x20; readonly TUPLE: 0x21
  readonly FUNCTION_NAME: 0x22; readonly USER_NAME: 0x23; readonly EXPR: 0x27; readonly OPS: 0x28
  readonly AFTER_POSITION: 0x2e; readonly AFTER_TUPLE: 0x2f; readonly DATA: 0x30
  readonly ERROR_24: 0x31; readonly METADATA: 0x32; readonly BIND_METADATA: 0x33; readonly BIND_COUNT: 0x34
  readonly POSITION: 0x35
  readonly SQL_TEXT: 0x40; readonly SQL_BIND: 0x41; readonly SQL_INFO: 0x42; readonly STMT_ID: 0x43
  readonly ERROR: 0x52; readonly VERSION: 0x54; readonly FEATURES: 0x55; readonly TIMEOUT: 0x56
  readonly EVENT_KEY: 0x57; readonly EVENT_DATA: 0x58; readonly TXN_ISOLATION: 0x59; readonly AUTH_TYPE: 0x5b
  readonly SPACE_NAME: 0x5e; readonly INDEX_NAME: 0x5f; readonly TUPLE_FORMATS: 0x60; readonly IS_SYNC: 0x61
}

// ---------------------------------------------------------------- client

export type TuplesMode = 'arrays' | 'objects'

export interface ReconnectOptions {
  /** First delay in ms (default 100); doubles each attempt, with jitter. */
  initialDelay?: number
  /** Longest delay in ms (default 5000). */
  maxDelay?: number
  /** Attempts before giving up (default Infinity). */
  maxRetries?: number
  /**
   * Replaces the backoff numbers: the delay in ms before attempt `attempt` (from 1), or null to
   * give up. `error` is why the last attempt (or the connection) failed. A strategy that throws
   * gives up too (the throw is an uncaught exception, as from any callback).
   */
  strategy?: (attempt: number, error: Error) => number | null
}

export interface ClientOptions {
  /**
   * Decode tuples and SQL rows as objects keyed by field name (also box.tuple values in call
   * results, on 3.x). Default 'arrays'.
   */
  tuples?: TuplesMode
  /** Read _vspace/_vindex at connect for names (default true); 3.x takes names without it. */
  fetchSchema?: boolean
  /** Default timeout (ms) of every request. */
  timeout?: number
  /** Reconnect after a lost connection (default on), or false. */
  reconnect?: ReconnectOptions | boolean
  /** Queue requests issued while reconnecting (default true); false fails them at once. */
  offlineQueue?: boolean
  /** Most requests queued while reconnecting (default 10000). */
  offlineQueueLimit?: number
  /**
   * Wait for the server at the first connect: while no Tarantool answers (refused, reset, no
   * greeting, ER_LOADING), attempts are retried with the `reconnect` policy for up to this many
   * ms, instead of rejecting at once. Wrong credentials still reject at once.
   */
  waitForServer?: number
  /**
   * Errors of requests carry the stack of the caller that issued them (kharon's own frames
   * left out), instead of kharon's. Costs a stack capture per request (default false).
   */
  callerStack?: boolean
  connectTimeout?: number
  maxFrameSize?: number
  pushHighWaterMark?: number
  maxBufferedPushes?: number
  features?: OfferedFeature[]
  required?: { version?: number; features?: ProtocolFeature[] }
  authType?: 'chap-sha1' | 'pap-sha256'
  heartbeat?: HeartbeatOptions | boolean
  maxPending?: number
  maxWriteQueueBytes?: number
  /** @deprecated The old name of `maxWriteQueueBytes`. */
  maxWriteQueue?: number
  readPath?: 'uv' | 'tokio'
}

export type Iterator =
  | 'EQ' | 'REQ' | 'ALL' | 'LT' | 'LE' | 'GE' | 'GT'
  | 'BITS_ALL_SET' | 'BITS_ANY_SET' | 'BITS_ALL_NOT_SET' | 'OVERLAPS' | 'NEIGHBOR'
  | number

export interface SelectOptions extends DeadlineOptions {
  limit?: number
  offset?: number
  iterator?: Iterator
  tuples?: TuplesMode
  /** Start after this position (from a previous page) or this tuple (2.11+). */
  after?: Buffer | Uint8Array | string | any[]
  /** Resolve to { tuples, position } (2.11+). */
  fetchPos?: boolean
}

/** One page of a select with `fetchPos: true`; `T` as for `select<T>`. */
export interface SelectPage<T = any> {
  tuples: T[]
  /** Opaque bytes to pass as `after` for the next page; null when the page was empty. */
  position: Buffer | null
}

export interface TupleOptions extends DeadlineOptions {
  tuples?: TuplesMode
}

export interface CallOptions<Ctx = unknown, P = any> extends DeadlineOptions {
  /**
   * Receives each decoded push instead of buffering it (net.box on_push); `P` as for
   * `Call<T, P>` (asserted, not checked).
   */
  onPush?: (message: P, ctx: Ctx) => void
  onPushCtx?: Ctx
  highWaterMark?: number
  /** 'objects': tuples in the results (3.x) become objects keyed by field name. */
  tuples?: TuplesMode
}

/**
 * call()/eval(): a native promise of the return values that is also an async iterable of the
 * decoded pushes. A failure nobody awaits is not an unhandled rejection.
 *
 * `T` is the array of the function's return values (a Lua function returns several: `return
 * a, b` is `[a, b]`, no value is `[]`), `P` the type of each push (box.session.push). Both are
 * the caller's assertion about the function, never checked at runtime.
 */
export interface Call<T extends readonly unknown[] = any[], P = any> extends Promise<T>, AsyncIterable<P> {
  /** Pushes with a per-item timeout (net.box future:pairs(timeout)). */
  pushes(options?: PushesOptions): AsyncIterableIterator<P>
  [Symbol.asyncIterator](): AsyncIterableIterator<P>
}
/** `value instanceof Call` holds for what call() and eval() return. */
export declare const Call: { [Symbol.hasInstance](value: unknown): value is Call }

export type Tuple = any[] | Record<string, any>

/**
 * The field an update operation applies to: a number, 0-based as everywhere in IPROTO
 * (negative counts from the end: -1 is the last field), a field name, or (2.3+) a JSON path
 * into a field, e.g. 'address.city', 'tags[1]', '[2].x'.
 */
export type UpdateField = number | string

/**
 * One operation of an update or upsert, as Tarantool takes it:
 * - `['=', field, value]` assigns (or appends, for the field just past the end);
 * - `['!', field, value]` inserts a field before `field`;
 * - `['#', field, count]` deletes `count` (at least 1) fields from `field` on;
 * - `['+' | '-', field, n]` adds or subtracts a number (integer, double or Decimal field);
 * - `['&' | '|' | '^', field, n]` bitwise AND, OR, XOR of an unsigned integer field;
 * - `[':', field, position, length, text]` splices a string field: cuts `length` bytes at
 *   `position` (0-based here too; negative counts from the end) and puts `text` there.
 */
export type UpdateOperation =
  | ['=' | '!', UpdateField, any]
  | ['#', UpdateField, number]
  | ['+' | '-', UpdateField, number | bigint | Decimal]
  | ['&' | '|' | '^', UpdateField, number | bigint]
  | [':', UpdateField, number, number, string]

export interface SqlColumn {
  name: string
  type: string
  /** These four come with the session setting sql_full_metadata on (`SET SESSION "sql_full_metadata" = true`). */
  collation?: string
  isNullable?: boolean
  isAutoincrement?: boolean
  /** The column's expression as written, or null for a plain column. */
  span?: string | null
}

/** `T` is a row's type, as for `execute<T>` (asserted, not checked). */
export interface SqlResult<T = any> {
  metadata: SqlColumn[]
  /** Arrays, or with `tuples: 'objects'` objects keyed by column name. */
  rows: T[]
  /** For INSERT/UPDATE/DELETE and DDL. */
  rowCount?: number
  autoincrementIds?: number[]
}

export type SqlParams = any[] | Record<string, any>

export declare class PreparedStatement {
  private constructor()
  readonly id: number
  readonly bindCount: number
  readonly params: SqlColumn[]
  readonly metadata: SqlColumn[]
  /** `T` as for `execute<T>` on a connection (asserted, not checked). */
  execute<T = any>(params?: SqlParams, options?: TupleOptions): Promise<SqlResult<T>>
  unprepare(options?: DeadlineOptions): Promise<void>
}

export interface SchemaSpace {
  readonly id: number
  readonly name: string
  readonly fieldNames: string[]
  readonly indexes: ReadonlyMap<string, number>
}

export interface Schema {
  /** Schema version the names were fetched at. */
  readonly version: number
  /** How many times the schema was fetched. */
  readonly fetches: number
  readonly byName: ReadonlyMap<string, SchemaSpace>
  readonly byId: ReadonlyMap<number, SchemaSpace>
}

/** 'draining': the server announced its shutdown; requests wait for the reconnect. */
export type ConnectionState = 'connected' | 'draining' | 'reconnecting' | 'closing' | 'closed'

/**
 * The values of one box.broadcast() key (2.10+): an async iterable (the first value is the
 * current one, undefined when the key has none), or a callback. A slow consumer gets the latest
 * value; values in between are skipped. Watchers of one key go at their own pace: one nobody
 * iterates holds back no other. Keeps Node alive while open, unless unref()'d.
 */
export declare class Watcher implements AsyncIterableIterator<any>, Disposable {
  private constructor()
  readonly key: string
  readonly closed: boolean
  next(): Promise<IteratorResult<any, undefined>>
  return(): Promise<IteratorResult<any, undefined>>
  [Symbol.asyncIterator](): this
  close(): void
  [Symbol.dispose](): void
  unref(): this
  ref(): this
}

export interface ReconnectingEvent {
  attempt: number
  delay: number
  error: Error
}

/**
 * The request methods of a Connection and of a Stream, and (with `PoolRequestOptions` as
 * `Extra`) of a Pool. A bad argument never throws: the promise (for call/eval, the Call and its
 * pushes) rejects with a TypeError, or a RangeError for a number out of range.
 *
 * The type parameters (`T`, a tuple or row; `P`, a push) are the caller's assertion about what
 * the server holds, never checked: kharon decodes whatever comes. A tuple is an array, or with
 * `tuples: 'objects'` (this request's option, else the connection's) an object keyed by field
 * name, so e.g. `select<[number, string]>` fits the one and `select<User>` the other. Left out,
 * they are `any` (`any[]` for call/eval's return values), as before they existed.
 */
export interface RequestMethods<Extra = {}> {
  ping(options?: DeadlineOptions & Extra): Promise<void>
  /**
   * Calls a stored function: its return values, e.g. `const [sum] = await conn.call<[number]>('sum', [1, 2])`,
   * and its pushes, e.g. `for await (const msg of conn.call<[], string>('f'))`.
   */
  call<T extends readonly unknown[] = any[], P = any, Ctx = unknown>(name: string, args?: any[], options?: CallOptions<Ctx, P> & Extra): Call<T, P>
  /**
   * @deprecated `call<Ctx>(...)`: the first type parameter is now the return values' (`T`); let
   * Ctx be inferred from `onPushCtx`, or give it third: `call<T, P, Ctx>`.
   */
  call<Ctx>(name: string, args: any[] | undefined, options: CallOptions<Ctx> & Extra): Call
  /** Evaluates Lua: its return values and pushes, as call(). */
  eval<T extends readonly unknown[] = any[], P = any, Ctx = unknown>(expr: string, args?: any[], options?: CallOptions<Ctx, P> & Extra): Call<T, P>
  /**
   * @deprecated `eval<Ctx>(...)`: the first type parameter is now the return values' (`T`); let
   * Ctx be inferred from `onPushCtx`, or give it third: `eval<T, P, Ctx>`.
   */
  eval<Ctx>(expr: string, args: any[] | undefined, options: CallOptions<Ctx> & Extra): Call
  /** A page of tuples (2.11+) and the position to pass as `after` for the next. */
  select<T = any>(space: string | number, index: string | number, key: any, options: SelectOptions & Extra & { fetchPos: true }): Promise<SelectPage<T>>
  /** The tuples `key` finds in `index` (default: the primary index, every tuple). */
  select<T = any>(space: string | number, index?: string | number, key?: any, options?: SelectOptions & Extra): Promise<T[]>
  /**
   * The tuple inserted; null when none came back (a before_replace trigger returned nil and
   * the insert was skipped).
   */
  insert<T = any>(space: string | number, tuple: Tuple, options?: TupleOptions & Extra): Promise<T | null>
  /** The tuple stored; null when none came back (a before_replace trigger skipped it). */
  replace<T = any>(space: string | number, tuple: Tuple, options?: TupleOptions & Extra): Promise<T | null>
  /** The tuple after the operations; null when `key` found none. */
  update<T = any>(space: string | number, index: string | number, key: any, ops: readonly UpdateOperation[], options?: TupleOptions & Extra): Promise<T | null>
  /** Inserts `tuple`, or applies `ops` to the tuple with its primary key; nothing comes back. */
  upsert(space: string | number, tuple: Tuple, ops: readonly UpdateOperation[], options?: DeadlineOptions & Extra): Promise<void>
  /** The tuple deleted; null when `key` found none. */
  delete<T = any>(space: string | number, index: string | number, key: any, options?: TupleOptions & Extra): Promise<T | null>
  /** Runs SQL; `T` is a row's type. */
  execute<T = any>(sql: string, params?: SqlParams, options?: TupleOptions & Extra): Promise<SqlResult<T>>
  /** On a Pool: prepares on one instance; the statement runs on that instance's connection. */
  prepare(sql: string, options?: DeadlineOptions & Extra): Promise<PreparedStatement>
}

export type Isolation = 'default' | 'read-committed' | 'read-confirmed' | 'best-effort' | 'linearizable'

export interface TransactionOptions extends DeadlineOptions {
  isolation?: Isolation
  /** Milliseconds; the server rolls back a transaction older than that. */
  txnTimeout?: number
  /** true: a synchronous transaction, committed once a quorum of replicas has it, whatever its spaces (3.2+; before, ERR_UNSUPPORTED). */
  isSync?: boolean
}

/**
 * A stream of a connection (Tarantool 2.10+): its requests run on the server in issue order,
 * and may form an interactive transaction. An open transaction is lost with its connection:
 * then every later request on the stream rejects with ERR_TRANSACTION_LOST.
 */
export declare class Stream implements AsyncDisposable {
  private constructor()
  readonly id: number
  readonly connection: Connection
  readonly inTransaction: boolean
  begin(options?: TransactionOptions): Promise<void>
  commit(options?: DeadlineOptions & Pick<TransactionOptions, 'isSync'>): Promise<void>
  rollback(options?: DeadlineOptions): Promise<void>
  /** Rolls back a transaction that is still open. */
  [Symbol.asyncDispose](): Promise<void>
}
export interface Stream extends RequestMethods {}

export interface Connection extends RequestMethods {}
export declare class Connection extends EventEmitter implements AsyncDisposable {
  private constructor()
  /** The raw Transport underneath (a new one after each reconnect). */
  readonly transport: Transport
  /** What the server answered to IPROTO_ID (renegotiated after each reconnect). */
  readonly protocol: Protocol
  /** The server's version from its greeting, e.g. '3.8.0' (the current server's, after a reconnect). */
  readonly serverVersion: string
  readonly schema: Schema
  readonly state: ConnectionState
  readonly closed: boolean
  /** Requests waiting for a reconnect. */
  readonly queued: number
  /** Bytes of requests not yet taken by the kernel (see maxWriteQueueBytes and 'drain'). */
  readonly writableLength: number
  /** Counts since connect(), across reconnects. */
  stats(): ConnectionStats
  /** A new stream: these request methods with its own STREAM_ID (ids are never reused). */
  stream(): Stream
  /** A new stream in a transaction. */
  begin(options?: TransactionOptions): Promise<Stream>
  /**
   * Runs `fn` in a transaction on a new stream: commits when it returns, rolls back when it
   * throws; `retries` reruns it on ER_TRANSACTION_CONFLICT.
   */
  transaction<T>(fn: (tx: Stream) => T | PromiseLike<T>, options?: TransactionOptions & { retries?: number }): Promise<T>
  /**
   * Watches a key (2.10+; ERR_UNSUPPORTED before): values as an async iterable, or to `callback`.
   * On a closing or closed connection the Watcher comes closed; its iteration rejects with
   * ERR_CONNECTION_CLOSED.
   */
  watch(key: string, callback?: (value: any, key: string) => void | PromiseLike<void>): Watcher
  /**
   * A key's current value (WATCH_ONCE on 3.0+; on 2.10/2.11 the first value of a watch, within
   * the same timeout and signal).
   */
  watchOnce(key: string, options?: DeadlineOptions): Promise<any>
  /**
   * Graceful: new requests fail, in-flight ones may finish (up to `timeout` ms), then close. Bad
   * options reject, and the connection stays open.
   */
  close(options?: { timeout?: number }): Promise<void>
  /** Closes at once; everything pending or queued fails. */
  destroy(): void
  [Symbol.asyncDispose](): Promise<void>

  on(event: 'disconnect', listener: (err: Error) => void): this
  on(event: 'reconnecting', listener: (info: ReconnectingEvent) => void): this
  /** 'reconnect': connected again and the schema fresh. */
  on(event: 'reconnect' | 'close' | 'shutdown' | 'drain', listener: () => void): this
  /** @deprecated The old name of 'reconnect' (it never fired for the first connect). */
  on(event: 'connect', listener: () => void): this
  on(event: 'error', listener: (err: Error) => void): this
  /** A packet that answers no request, on any of the connection's transports (see IprotoPacket). */
  on(event: 'iproto', listener: (packet: IprotoPacket) => void): this
  once(event: 'disconnect', listener: (err: Error) => void): this
  once(event: 'reconnecting', listener: (info: ReconnectingEvent) => void): this
  /** 'reconnect': connected again and the schema fresh. */
  once(event: 'reconnect' | 'close' | 'shutdown' | 'drain', listener: () => void): this
  /** @deprecated The old name of 'reconnect' (it never fired for the first connect). */
  once(event: 'connect', listener: () => void): this
  once(event: 'error', listener: (err: Error) => void): this
  once(event: 'iproto', listener: (packet: IprotoPacket) => void): this
}

/** Connection#stats(): plain numbers, counted since connect() and across reconnects. */
export interface ConnectionStats {
  /** Requests awaiting their response: in flight, or queued for a reconnect. */
  pending: number
  /** Bytes of requests not yet taken by the kernel. */
  writableLength: number
  /** Requests issued (each once, whether sent, queued or refused). */
  requests: number
  /** Requests that failed, for any reason (server error, connection, deadline, abort). */
  errors: number
  /** Of the errors, deadlines passed (TimeoutError). */
  timeouts: number
  /** Successful reconnects. */
  reconnects: number
  /** Pushes (IPROTO_CHUNK) received. */
  pushes: number
  /** Packets received that answered no request (see the 'iproto' event). */
  unsolicited: number
  bytesSent: number
  /** Bytes read from the socket after each handshake. */
  bytesReceived: number
  /** When the current connection was made, in ms since the epoch; 0 while not connected. */
  connectedSince: number
}

export interface PoolStats {
  /** Each instance's stats by URI (zeros for one never connected). */
  instances: Record<string, ConnectionStats>
  /** Sums over the instances. */
  total: Omit<ConnectionStats, 'connectedSince'>
}

/**
 * The context of a `kharon:request` TracingChannel event. Never the arguments, tuples or
 * credentials; `name` is a function or space name, a space id, or SQL/Lua text cut to
 * REQUEST_NAME_LIMIT characters.
 */
export interface RequestTraceContext {
  type: 'ping' | 'call' | 'eval' | 'select' | 'insert' | 'replace' | 'update' | 'upsert' | 'delete' | 'execute' | 'prepare' | 'begin' | 'commit' | 'rollback' | 'watchOnce'
  name: string | number | null
  host?: string
  port?: number
  path?: string
  /** The SYNC on the wire: null until the request is sent (published `start` comes first). */
  sync: number | null
  /** For requests on a Stream. */
  streamId?: number
  /** Pushes received for the request so far (all of them by `asyncStart`). */
  pushes: number
  serverVersion: string
  /** Set before `error` is published. */
  error?: Error
  /** A request kharon made for itself (a schema fetch, a pool's role check), not the caller. */
  internal: boolean
}

/** The longest `name` a request trace shows. */
export declare const REQUEST_NAME_LIMIT: number

/**
 * kharon's MessagePack codec with Tarantool's extension types, for raw Transport bodies. A Map
 * keeps integer keys (IPROTO keys: `new Map([[IPROTO.FUNCTION_NAME, 'f'], [IPROTO.TUPLE, []]])`);
 * a plain object's keys are strings.
 */
export declare function encode(value: unknown): Buffer
/** Decodes one MessagePack value; no prototype comes from the data. */
export declare function decode(buffer: Uint8Array): any

/** A user and the chap-sha1 hashes of a password; the text itself is not kept. */
export declare class Credentials {
  constructor(user: string, password: string)
  readonly user: string
}

/**
 * Connects to 'host:port', 'user:pass@host:port', 'unix/:/path' or an options object, and
 * fetches the schema.
 */
export declare function connect(target: string | ConnectOptions, options?: ClientOptions): Promise<Connection>
export declare function connect(target: ConnectOptions & ClientOptions): Promise<Connection>
/**
 * Connects to `port` on localhost, or on `host`, and fetches the schema; `options` may also say
 * whom to sign in as.
 */
export declare function connect(port: number, options?: ClientOptions & Pick<ConnectOptions, 'user' | 'password' | 'credentials'>): Promise<Connection>
export declare function connect(port: number, host: string, options?: ClientOptions & Pick<ConnectOptions, 'user' | 'password' | 'credentials'>): Promise<Connection>

// ---------------------------------------------------------------- pool

export type PoolMode = 'rw' | 'ro' | 'prefer-ro' | 'prefer-rw' | 'any'

export interface PoolOptions extends ClientOptions {
  /**
   * How often roles are re-checked and down instances retried, in ms (default 1000): those
   * never connected and those whose connection closed for good (`reconnect: false`, or its
   * retries used up) alike.
   */
  checkInterval?: number
  /**
   * As for connect(), except that `idle` defaults to true: every connection is pinged while idle
   * too, so a frozen or unreachable instance leaves rotation within interval + timeout.
   */
  heartbeat?: HeartbeatOptions | boolean
}

export interface PoolRequestOptions {
  /** Where the request may go; defaults: 'any' for ping and select, 'rw' for the rest. */
  mode?: PoolMode
}

export interface PoolInstance {
  /** The URI without its password ('user@host:port'), as the pool shows it everywhere. */
  uri: string
  connected: boolean
  /** box.info.ro, or null before the first check. */
  ro: boolean | null
  /** The server's version, or null before the first connect. */
  serverVersion: string | null
  lastError: Error | null
}

export interface PoolChange extends PoolInstance {
  added?: boolean
  removed?: boolean
}

/**
 * Routes requests over a replica set by role (see connectPool). A request's `timeout` (else the
 * pool's) covers both its wait for an eligible instance and the request itself. Bad arguments
 * reject as a Connection's do, before any wait (a value MessagePack cannot carry: once the
 * request is built, on the instance); watch() returns no promise, and throws.
 */
export interface Pool extends RequestMethods<PoolRequestOptions> {}
export declare class Pool extends EventEmitter implements AsyncDisposable {
  private constructor()
  instances(): PoolInstance[]
  stats(): PoolStats
  /** A URI known already (with or without its password) adds nothing. */
  add(uri: string): Promise<void>
  /** Takes the URI as given or as shown (without its password). */
  remove(uri: string): Promise<void>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  /**
   * Watches `key` on every instance `mode` selects (default 'any'), following role and
   * membership changes. It ends when the pool closes; on a closed pool it comes closed and its
   * iteration rejects with ERR_CONNECTION_CLOSED.
   */
  watch(key: string, options?: PoolRequestOptions, callback?: (value: any, key: string, uri: string) => void | PromiseLike<void>): PoolWatcher
  watch(key: string, callback: (value: any, key: string, uri: string) => void | PromiseLike<void>): PoolWatcher
  /** A stream pinned to one instance, chosen by `mode` (default 'rw') once. */
  stream(options?: DeadlineOptions & PoolRequestOptions): Promise<Stream>
  /** Connection#transaction on one instance chosen by `mode` (default 'rw'). */
  transaction<T>(fn: (tx: Stream) => T | PromiseLike<T>, options?: TransactionOptions & { retries?: number } & PoolRequestOptions): Promise<T>
  on(event: 'change', listener: (change: PoolChange) => void): this
  on(event: 'error', listener: (err: Error, uri: string) => void): this
  /** close() has closed every connection. */
  on(event: 'close', listener: () => void): this
}

/** A key watched on several instances: `{ uri, value }` items, the latest per instance. */
export declare class PoolWatcher implements AsyncIterableIterator<{ uri: string; value: any }>, Disposable {
  private constructor()
  readonly key: string
  /** The instances watched now. */
  readonly uris: string[]
  next(): Promise<IteratorResult<{ uri: string; value: any }, undefined>>
  return(): Promise<IteratorResult<{ uri: string; value: any }, undefined>>
  [Symbol.asyncIterator](): this
  close(): void
  [Symbol.dispose](): void
  unref(): this
  ref(): this
}

/** Connects to every instance (URIs as for connect()); resolves once at least one is up. */
export declare function connectPool(uris: string[], options?: PoolOptions): Promise<Pool>

/** crud's column metadata. */
export interface CrudField {
  name: string
  type: string
  is_nullable: boolean
}

/** What crud returns for rows: `T` is a row's type (an array, or an object with `tuples: 'objects'`). */
export interface CrudResult<T = any> {
  rows: T[]
  metadata: CrudField[]
}

/** A crud condition: `[operator, field or index name, value]`, e.g. `['>=', 'age', 30]`. */
export type CrudCondition = ['=' | '==' | '<' | '<=' | '>' | '>=', string, any]

/**
 * Options of every crud method: `{ timeout, signal }` as every kharon request (`timeout` in ms,
 * also given to crud as its own, in seconds), `tuples` for the row shape, and crud's options in
 * camelCase (`bucketId` is sent as `bucket_id`). An option crud does not know is refused by the
 * router as a TarantoolError.
 */
export interface CrudOptions extends DeadlineOptions {
  tuples?: TuplesMode
  bucketId?: number
  fields?: string[]
  mode?: 'read' | 'write'
  preferReplica?: boolean
  balance?: boolean
  fetchLatestMetadata?: boolean
  noreturn?: boolean
  vshardRouter?: string
  [crudOption: string]: unknown
}

export interface CrudSelectOptions extends CrudOptions {
  first?: number
  after?: any[]
  batchSize?: number
  fullscan?: boolean
  forceMapCall?: boolean
  yieldEvery?: number
}

export interface CrudManyOptions extends CrudOptions {
  stopOnError?: boolean
  rollbackOnError?: boolean
}

/**
 * The crud module (on vshard routers, `crud.init_router()`) over a Connection to a router or a
 * Pool of routers. Rows are arrays, or objects keyed by crud's metadata with `tuples: 'objects'`.
 * crud's own errors reject as CrudError; a *Many call that failed in part rejects with a
 * CrudError whose `errors` are each failure and `result` the rows that did go in.
 */
export declare class Crud {
  constructor(target: Connection | Pool, options?: { tuples?: TuplesMode })
  insert<T = any>(space: string, tuple: any[], options?: CrudOptions): Promise<CrudResult<T>>
  insertObject<T = any>(space: string, object: Record<string, any>, options?: CrudOptions): Promise<CrudResult<T>>
  insertMany<T = any>(space: string, tuples: any[][], options?: CrudManyOptions): Promise<CrudResult<T>>
  insertObjectMany<T = any>(space: string, objects: Record<string, any>[], options?: CrudManyOptions): Promise<CrudResult<T>>
  replace<T = any>(space: string, tuple: any[], options?: CrudOptions): Promise<CrudResult<T>>
  replaceObject<T = any>(space: string, object: Record<string, any>, options?: CrudOptions): Promise<CrudResult<T>>
  replaceMany<T = any>(space: string, tuples: any[][], options?: CrudManyOptions): Promise<CrudResult<T>>
  replaceObjectMany<T = any>(space: string, objects: Record<string, any>[], options?: CrudManyOptions): Promise<CrudResult<T>>
  upsert<T = any>(space: string, tuple: any[], operations: UpdateOperation[], options?: CrudOptions): Promise<CrudResult<T>>
  upsertObject<T = any>(space: string, object: Record<string, any>, operations: UpdateOperation[], options?: CrudOptions): Promise<CrudResult<T>>
  upsertMany<T = any>(space: string, pairs: [any[], UpdateOperation[]][], options?: CrudManyOptions): Promise<CrudResult<T>>
  upsertObjectMany<T = any>(space: string, pairs: [Record<string, any>, UpdateOperation[]][], options?: CrudManyOptions): Promise<CrudResult<T>>
  get<T = any>(space: string, key: any, options?: CrudOptions): Promise<CrudResult<T>>
  update<T = any>(space: string, key: any, operations: UpdateOperation[], options?: CrudOptions): Promise<CrudResult<T>>
  delete<T = any>(space: string, key: any, options?: CrudOptions): Promise<CrudResult<T>>
  select<T = any>(space: string, conditions?: CrudCondition[] | null, options?: CrudSelectOptions): Promise<CrudResult<T>>
  /** Every matching row, paging with `first`/`after` (`batchSize` rows a page, default 100). */
  pairs<T = any>(space: string, conditions?: CrudCondition[] | null, options?: CrudSelectOptions): AsyncGenerator<T, void, undefined>
  min<T = any>(space: string, index?: string | null, options?: CrudOptions): Promise<CrudResult<T>>
  max<T = any>(space: string, index?: string | null, options?: CrudOptions): Promise<CrudResult<T>>
  count(space: string, conditions?: CrudCondition[] | null, options?: CrudSelectOptions): Promise<number>
  len(space: string, options?: CrudOptions): Promise<number>
  truncate(space: string, options?: CrudOptions): Promise<void>
  storageInfo(options?: CrudOptions): Promise<Record<string, { status: string; is_master: boolean; message?: string }>>
  schema(space?: string, options?: CrudOptions): Promise<any>
  stats(space?: string, options?: DeadlineOptions): Promise<any>
}
export declare function crud(target: Connection | Pool, options?: { tuples?: TuplesMode }): Crud

/** Options of a routed call: a request's, plus `onPush` for the function's pushes. `timeout` (ms, default 10000) covers every retry. */
export interface ShardedCallOptions<Ctx = unknown> extends DeadlineOptions {
  onPush?: (value: any, ctx: Ctx) => void
  onPushCtx?: Ctx
  tuples?: TuplesMode
}

/**
 * A vshard cluster routed by kharon itself: each call goes to the replica set holding its
 * bucket, as vshard's router would send it (`vshard.storage.call`), retried within its timeout
 * when vshard says the bucket moved (WRONG_BUCKET), is in transfer, is locked, or the master
 * moved. The results are what the function returned, as an array.
 */
export declare class ShardedCluster implements AsyncDisposable {
  private constructor()
  readonly bucketCount: number
  /** Each replica set's pool, by replica set uuid. */
  readonly replicasets: Map<string, Pool>
  /** vshard.router.bucket_id_mpcrc32(key). */
  bucketId(key: string | number | bigint | boolean | null | Array<string | number | bigint | boolean | null>): number
  /** vshard.router.bucket_id_strcrc32(key). */
  bucketIdStrcrc32(key: string | number | bigint | boolean | null | Array<string | number | bigint | boolean | null>): number
  /** The replica set uuid the bucket map routes `bucketId` to, or undefined while unknown. */
  routeOf(bucketId: number): string | undefined
  /** Buckets per replica set uuid, as the map knows them. */
  routes(): Record<string, number>
  /** Learns the bucket map again from every replica set. */
  discover(): Promise<void>
  callRW<T extends any[] = any[]>(bucketId: number, fn: string, args?: any[], options?: ShardedCallOptions): Promise<T>
  callRO<T extends any[] = any[]>(bucketId: number, fn: string, args?: any[], options?: ShardedCallOptions): Promise<T>
  callBRO<T extends any[] = any[]>(bucketId: number, fn: string, args?: any[], options?: ShardedCallOptions): Promise<T>
  callRE<T extends any[] = any[]>(bucketId: number, fn: string, args?: any[], options?: ShardedCallOptions): Promise<T>
  /** `fn(...args)` on every master with vshard's storage refs held: its first value by replica set uuid. */
  mapCallRW<T = any>(fn: string, args?: any[], options?: DeadlineOptions): Promise<Record<string, T>>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Connects to every replica set of a vshard cluster (a Pool each) and learns its bucket map.
 * The topology is given (`replicasets` by uuid, as vshard's sharding config names them, and
 * `bucketCount`), or read once from a router.
 */
export declare function connectSharded(
  topology: { replicasets: Record<string, string[]>; bucketCount: number } | { router: string },
  options?: PoolOptions & Pick<ConnectOptions, 'user' | 'password' | 'credentials'> & { discoveryInterval?: number },
): Promise<ShardedCluster>

// ---------------------------------------------------------------- MessagePack types

/** MP_EXT 1: an exact decimal that keeps every digit. */
export declare class Decimal {
  constructor(value: string | number | bigint)
  toString(): string
  toJSON(): string
  toNumber(): number
  valueOf(): number
  parts(): { negative: boolean; digits: string; scale: number }
  static fromDigits(negative: boolean, digits: string, scale: number): Decimal
}

/** MP_EXT 2. `new Uuid(str)` sends a string as a uuid. */
export declare class Uuid {
  constructor(value: string | Uint8Array)
  toString(): string
  toJSON(): string
  toBuffer(): Buffer
  equals(other: unknown): boolean
}

/** MP_EXT 4 (Tarantool >= 2.10). */
export declare class Datetime {
  constructor(fields?: { seconds?: number | bigint; nsec?: number; tzoffset?: number; tzindex?: number })
  seconds: bigint
  nsec: number
  tzoffset: number
  tzindex: number
  /** From a Date: milliseconds, UTC. */
  static fromDate(date: Date): Datetime
  /** The same instant; below a millisecond is cut off and the offset is not kept. */
  toDate(): Date
  /** ISO 8601 in the datetime's own offset, to the nanosecond. */
  toISOString(): string
  toJSON(): string
}

/** MP_EXT 6 (Tarantool >= 2.10). */
export declare class Interval {
  constructor(fields?: Partial<Pick<Interval, 'year' | 'month' | 'week' | 'day' | 'hour' | 'min' | 'sec' | 'nsec' | 'adjust'>>)
  year: number
  month: number
  week: number
  day: number
  hour: number
  min: number
  sec: number
  nsec: number
  adjust: 'none' | 'excess' | 'last'
}

/** An extension type kharon does not decode. */
/**
 * A tuple with its format, as a call or eval argument: where the server has
 * call_arg_tuple_extension (3.0+) the function receives a box.tuple whose fields have these
 * names; elsewhere the values as a plain array.
 */
export declare class BoxTuple {
  constructor(values: any[], format: Array<string | { name: string; type?: string }>)
  static fromObject(object: Record<string, any>): BoxTuple
  readonly values: any[]
  readonly format: ReadonlyArray<{ readonly name: string; readonly type?: string }>
}

export declare class Extension {
  constructor(type: number, data: Buffer)
  type: number
  data: Buffer
}

// ---------------------------------------------------------------- errors

export declare class KharonError extends Error {
  constructor(message: string, code: string, options?: ErrorOptions)
  code: string
  /** Where the connection goes, on errors about one (connect, loss, close, timeouts): never credentials. */
  host?: string
  port?: number
  path?: string
}
/**
 * Socket failure or close: code is the OS code (ECONNREFUSED, ECONNRESET, ENOTFOUND, ...),
 * ERR_CONNECTION_CLOSED (closed; `cause` says why when it was lost), ERR_SERVER_SHUTDOWN (the
 * server shut down gracefully), ERR_NOT_CONNECTED, ERR_OFFLINE_QUEUE_FULL or ERR_TRANSACTION_LOST.
 */
export declare class ConnectionError extends KharonError {}
/** code is always 'ETIMEDOUT'. */
export declare class TimeoutError extends KharonError {
  constructor(message: string, options?: ErrorOptions)
  code: 'ETIMEDOUT'
}
/**
 * The peer broke the protocol: code 'ERR_PROTOCOL' for a bad frame or greeting (the connection
 * was closed); 'ERR_MSGPACK_TRUNCATED', 'ERR_MSGPACK_INVALID' or 'ERR_MSGPACK_TOO_DEEP' for a
 * body or value that does not decode (only that request fails; the connection goes on).
 */
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
/**
 * An error reported by Tarantool, as a response or as a value (MP_ERROR): code is its name
 * (ER_NO_SUCH_PROC), errcode its number; `type` and `fields` are the newest stack entry's, and
 * older entries (box.error causes) follow as the `cause` chain of TarantoolErrors.
 */
export declare class TarantoolError extends KharonError {
  constructor(message: string, code: string, errcode: number, serverStack?: ServerStackEntry[], options?: ErrorOptions)
  errcode: number
  serverStack: ServerStackEntry[]
  /** e.g. 'ClientError', 'CustomError'. */
  type: string | undefined
  /** e.g. { name: 'ILLEGAL_PARAMS' }, or a custom error's custom_type and payload. */
  fields: Record<string, unknown> | undefined
}
/** The server lacks a feature (code 'ERR_UNSUPPORTED'); `feature` names it. */
export declare class UnsupportedError extends KharonError {
  constructor(message: string, details: { feature: string; serverVersion: string })
  code: 'ERR_UNSUPPORTED'
  feature: string
  serverVersion: string
}
/** Pushes were dropped before iteration started (code 'ERR_PUSH_OVERFLOW'). */
export declare class PushOverflowError extends KharonError {
  constructor(message: string)
}
/** The request was aborted (code 'ABORT_ERR'); the signal's reason is `cause`. */
export declare class AbortError extends KharonError {
  constructor(message: string, options?: ErrorOptions)
  code: 'ABORT_ERR'
}
/** A bug in kharon, reported instead of crashing (code 'ERR_INTERNAL'). */
export declare class InternalError extends KharonError {}
/** vshard refused a routed call beyond what retrying could get past: code 'ERR_SHARDING'. */
export declare class ShardingError extends KharonError {
  code: 'ERR_SHARDING'
  /** vshard's error code and name (NO_ROUTE_TO_BUCKET, UNREACHABLE_MASTER, ...). */
  vshardCode?: number
  vshardName?: string
  bucketId?: number
  /** A replica set uuid, when vshard names one. */
  destination?: string
}
/** An error the crud module returned: code 'ERR_CRUD'. See Crud. */
export declare class CrudError extends KharonError {
  code: 'ERR_CRUD'
  /** The errors library's class: InsertError, GetSpaceError, ... */
  className?: string
  /** What it failed on (a batch's tuple or object). */
  operationData?: any
  /** A batch call failed in part: each failure. */
  errors?: CrudError[]
  /** A batch call failed in part: the rows that did go in. */
  result?: CrudResult
}
