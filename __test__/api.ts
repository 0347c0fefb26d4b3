// Type-checked by __test__/types-check.test.js (`tsc --noEmit -p __test__/tsconfig.json`),
// never run: it uses the whole public API of index.d.ts with explicit types, and its
// `@ts-expect-error` lines check that misuse is rejected.

import {
  connect,
  connectPool,
  Pool,
  Connection,
  Call,
  PreparedStatement,
  Stream,
  Watcher,
  PoolWatcher,
  Transport,
  Response,
  IPROTO,
  Decimal,
  Uuid,
  Datetime,
  Interval,
  Extension,
  KharonError,
  ConnectionError,
  TimeoutError,
  ProtocolError,
  TarantoolError,
  UnsupportedError,
  PushOverflowError,
  AbortError,
  InternalError,
  REQUEST_NAME_LIMIT,
  encode,
  decode,
  BoxTuple,
  crud,
  Crud,
  CrudError,
  connectSharded,
  ShardedCluster,
  ShardingError,
} from '../index'
import type {
  ConnectOptions,
  ClientOptions,
  DeadlineOptions,
  RequestOptions,
  PushesOptions,
  CallOptions,
  SelectOptions,
  SelectPage,
  Protocol,
  TupleOptions,
  TuplesMode,
  Iterator,
  Tuple,
  UpdateOperation,
  UpdateField,
  SqlColumn,
  SqlResult,
  SqlParams,
  Schema,
  SchemaSpace,
  ServerStackEntry,
  Callback,
  ConnectionStats,
  PoolStats,
  RequestTraceContext,
  RequestBody,
  CrudResult,
} from '../index'

// ---------------------------------------------------------------- connecting

export async function connecting(): Promise<void> {
  const byUri: Connection = await connect('tester:secret@127.0.0.1:3301')
  const hostPort: Connection = await connect('127.0.0.1:3301', { tuples: 'objects', timeout: 5000 })
  const unix: Connection = await connect('unix/:/tmp/tarantool.sock')
  const target: ConnectOptions = {
    host: '127.0.0.1',
    port: 3301,
    user: 'tester',
    password: 'secret',
    connectTimeout: 1000,
    maxFrameSize: 1 << 20,
    pushHighWaterMark: 1 << 16,
  }
  const client: ClientOptions = { tuples: 'arrays', timeout: 100, connectTimeout: 1000, maxFrameSize: 1024, pushHighWaterMark: 2048 }
  const byOptions: Connection = await connect(target, client)
  const merged: Connection = await connect({ path: '/tmp/tarantool.sock', port: '3301', tuples: 'objects', timeout: 10 })
  const closedFlags: boolean[] = [byUri.closed, hostPort.closed, unix.closed, byOptions.closed, merged.closed]
  void closedFlags
  for (const c of [byUri, hostPort, unix, byOptions, merged]) await c.close()

  // a port on localhost, or on a host, with client options (and whom to sign in as)
  const byPort: Connection = await connect(3301)
  const byPortHost: Connection = await connect(3301, 'localhost', { timeout: 100 })
  const byPortOptions: Connection = await connect(3301, { tuples: 'objects', user: 'tester', password: 'secret' })
  for (const c of [byPort, byPortHost, byPortOptions]) await c.close()
  // @ts-expect-error a host goes with a port, not with a URI
  await connect('127.0.0.1:3301', 'localhost')
  // @ts-expect-error a port is a number here ('3301' is a URI, with no host)
  await connect('3301', 'localhost')
  // @ts-expect-error a boolean is neither a port, a URI nor an options object
  await connect(true)
  // @ts-expect-error tuples is 'arrays' or 'objects'
  await connect('127.0.0.1:3301', { tuples: 'rows' })
}

export async function disposing(): Promise<number> {
  await using conn = await connect('127.0.0.1:3301')
  const disposable: AsyncDisposable = conn
  void disposable
  const dispose: Promise<void> = conn[Symbol.asyncDispose]()
  await dispose
  return conn.transport.pending
}

// ---------------------------------------------------------------- the client

export async function requests(conn: Connection): Promise<void> {
  const deadline: DeadlineOptions = { timeout: 1000, signal: AbortSignal.timeout(5000) }
  const ac = new AbortController()

  const pong: void = await conn.ping()
  await conn.ping(deadline)
  void pong

  // call / eval: thenables of the values, iterables of the pushes
  const call: Call = conn.call('echo', [1, 'two'], { timeout: 1000, signal: ac.signal, highWaterMark: 1 << 16 })
  const values: any[] = await call
  void values
  for await (const push of conn.call('pushes', [3])) {
    const p: unknown = push
    void p
  }
  const perItem: AsyncIterableIterator<any> = conn.call('pushes', [3]).pushes({ timeout: 100 })
  const pushesOptions: PushesOptions = { timeout: 50 }
  for await (const push of conn.eval('box.session.push(1)').pushes(pushesOptions)) void push
  await perItem.next()
  const mapped: number = await conn.call('echo', [1]).then((v) => v.length)
  const caught: any[] | string = await conn.call('echo').catch((err: unknown) => String(err))
  const finished: any[] = await conn.eval('return 1').finally(() => undefined)
  void mapped, caught, finished

  interface Ctx { seen: number }
  const ctx: Ctx = { seen: 0 }
  const callOptions: CallOptions<Ctx> = {
    onPush: (message: any, c: Ctx) => { c.seen += Number(message) },
    onPushCtx: ctx,
    timeout: 100,
  }
  await conn.call<Ctx>('pushes', [5], callOptions)
  await conn.eval('box.session.push(...)', [1], { onPush: (m, c: Ctx) => { c.seen += m }, onPushCtx: ctx })
  // @ts-expect-error the context must match onPush's second parameter
  await conn.call<Ctx>('pushes', [1], { onPush: (m: any, c: Ctx) => void c, onPushCtx: 'not a Ctx' })

  // select with every option
  const iterators: Iterator[] = ['EQ', 'REQ', 'ALL', 'LT', 'LE', 'GE', 'GT', 'BITS_ALL_SET', 'BITS_ANY_SET', 'BITS_ALL_NOT_SET', 'OVERLAPS', 'NEIGHBOR', 5]
  const selectOptions: SelectOptions = { limit: 10, offset: 2, iterator: iterators[0], tuples: 'objects', timeout: 100, signal: ac.signal }
  const rows: any[] = await conn.select('test', 'pk', [1], selectOptions)
  const byIds: any[] = await conn.select(512, 0, 1)
  const all: any[] = await conn.select('test')
  void rows, byIds, all
  // pagination: a page with its position, then the next page after it, or after a tuple
  const page: SelectPage = await conn.select('test', 0, [], { limit: 100, fetchPos: true })
  const position: Buffer | null = page.position
  const next: any[] = await conn.select('test', 0, [], { limit: 100, after: position ?? [1] })
  void next
  // @ts-expect-error fetchPos is a boolean
  await conn.select('test', 0, [], { fetchPos: 'yes' })
  const protocol: Protocol = conn.protocol
  const features: readonly string[] = protocol.features
  const iprotoVersion: number = conn.transport.protocol.version
  void features, iprotoVersion
  await connect('127.0.0.1:3301', { fetchSchema: false, features: ['error_extension'], required: { version: 3, features: ['watchers'] } })
  await connect('127.0.0.1:3301', { heartbeat: { interval: 1000, timeout: 2000 }, maxPending: 1000, maxWriteQueue: 1 << 20 })
  const waiting: number = conn.writableLength + conn.transport.writableLength
  conn.once('drain', () => {})
  void waiting
  await Transport.connect({ port: 3301, heartbeat: false })
  await connect('127.0.0.1:3301', { features: ['streams', 'is_sync'], authType: 'chap-sha1' })
  // @ts-expect-error kharon does not send Arrow inserts, so it does not offer them
  await connect('127.0.0.1:3301', { features: ['insert_arrow'] })
  // @ts-expect-error not a feature name
  await connect('127.0.0.1:3301', { required: { features: ['warp_drive'] } })
  const objectsCall: any[] = await conn.call('f', [], { tuples: 'objects' })
  void objectsCall
  // streams and transactions
  const stream: Stream = conn.stream()
  const streamId: number = stream.id
  const owner: Connection = stream.connection
  await stream.begin({ isolation: 'read-committed', txnTimeout: 5000, timeout: 100 })
  const inTx: boolean = stream.inTransaction
  const viaStream: any[] = await stream.select('accounts', 0, [1])
  await stream.call('f', [1])
  await stream.commit()
  await stream.begin({ isSync: true }); await stream.commit({ isSync: true, timeout: 100 })
  await stream.rollback({ timeout: 100 })
  await stream[Symbol.asyncDispose]()
  const began: Stream = await conn.begin({ isolation: 'linearizable' })
  const total: number = await conn.transaction(async (tx) => {
    const [row] = await tx.select('accounts', 0, [1])
    return row[1] as number
  }, { isolation: 'best-effort', txnTimeout: 2000, retries: 3 })
  void streamId, owner, inTx, viaStream, began, total
  // @ts-expect-error not an isolation level
  await conn.begin({ isolation: 'serializable' })
  // @ts-expect-error isSync is a boolean
  await conn.transaction(async () => {}, { isSync: 'yes' })
  // watchers
  const w: Watcher = conn.watch('config')
  for await (const value of w) { void value; break }
  const key: string = w.key
  w.unref().ref().close()
  conn.watch('config', async (value: unknown, k: string) => { void value, k })
  const once: unknown = await conn.watchOnce('config', { timeout: 100 })
  void key, once
  conn.on('shutdown', () => {})
  // @ts-expect-error the callback takes (value, key)
  conn.watch('config', (value: unknown, k: number) => { void value, k })
  // @ts-expect-error not an iterator name
  await conn.select('test', 'pk', [], { iterator: 'SIDEWAYS' })

  // writes
  const mode: TuplesMode = 'arrays'
  const tupleOptions: TupleOptions = { tuples: mode, timeout: 100, signal: ac.signal }
  const asArray: Tuple = [1, 'Ann']
  const asObject: Tuple = { id: 1, name: 'Ann' }
  const inserted: any = await conn.insert('people', asArray, tupleOptions)
  const replaced: any = await conn.replace(512, asObject)
  const ops: UpdateOperation[] = [['=', 1, 'Bob'], ['+', 'age', 1], ['#', 2, 1], ['!', 3, 'x']]
  const updated: any = await conn.update('people', 'pk', [1], ops, tupleOptions)
  const upserted: void = await conn.upsert('people', asObject, ops, deadline)
  const deleted: any = await conn.delete(512, 0, [1], { tuples: 'objects' })
  void inserted, replaced, updated, upserted, deleted
  // @ts-expect-error an update operation starts with its operator string
  await conn.update('people', 'pk', [1], [[1, '=', 'x']])

  // SQL
  const positional: SqlParams = [1, 'a']
  const named: SqlParams = { id: 1, ':v': 'a' }
  const result: SqlResult = await conn.execute('SELECT * FROM t WHERE id = ?', positional, tupleOptions)
  const columns: SqlColumn[] = result.metadata
  const firstName: string = columns[0].name
  const firstType: string = columns[0].type
  const rowCount: number | undefined = result.rowCount
  const ids: number[] | undefined = result.autoincrementIds
  const sqlRows: any[] = result.rows
  void firstName, firstType, rowCount, ids, sqlRows
  await conn.execute('SELECT 1')
  const stmt: PreparedStatement = await conn.prepare('SELECT * FROM t WHERE id = :id', deadline)
  const stmtId: number = stmt.id
  const bindCount: number = stmt.bindCount
  const params: SqlColumn[] = stmt.params
  const meta: SqlColumn[] = stmt.metadata
  void stmtId, bindCount, params, meta
  const executed: SqlResult = await stmt.execute(named, { tuples: 'objects', timeout: 100 })
  await stmt.execute()
  const unprepared: void = await stmt.unprepare({ timeout: 100 })
  void executed, unprepared

  // the schema
  const schema: Schema = conn.schema
  const version: number = schema.version
  const fetches: number = schema.fetches
  const space: SchemaSpace | undefined = schema.byName.get('test')
  if (space !== undefined) {
    const id: number = space.id
    const name: string = space.name
    const fieldNames: string[] = space.fieldNames
    const pk: number | undefined = space.indexes.get('pk')
    void id, name, fieldNames, pk
  }
  const byId: SchemaSpace | undefined = schema.byId.get(512)
  void version, fetches, byId

  // the transport underneath, and closing
  const transport: Transport = conn.transport
  const closed: boolean = conn.closed
  void transport, closed
  const done: Promise<void> = conn.close()
  await done

  // @ts-expect-error a function name is a string
  conn.call(123)
  // @ts-expect-error the schema is read-only
  conn.schema.fetches = 0
}

// ---------------------------------------------------------------- typed results

interface User { id: number; name: string }

// The type parameters are the caller's assertion (never checked): rows and results as asked for.
export async function typedRequests(conn: Connection, pool: Pool, stream: Stream): Promise<void> {
  const users: User[] = await conn.select<User>('users', 'primary', [], { tuples: 'objects' })
  const firstName: string | undefined = users[0]?.name
  const asTuples: [number, string][] = await conn.select<[number, string]>('users', 'primary', [1])
  const id: number = asTuples[0][0]
  const page: SelectPage<User> = await conn.select<User>('users', 0, [], { limit: 10, fetchPos: true, tuples: 'objects' })
  const pageUsers: User[] = page.tuples
  void firstName, id, pageUsers
  // @ts-expect-error a User has no such field
  void users[0].email
  // @ts-expect-error a page of Users is not a page of tuples as arrays
  const wrongPage: SelectPage<[number, string]> = await conn.select<User>('users', 0, [], { fetchPos: true })
  void wrongPage

  // one tuple back, or null: none inserted (a trigger skipped it), none found to update or delete
  const u = await conn.insert<User>('users', { id: 1, name: 'Ann' }, { tuples: 'objects' })
  const insertedName: string | undefined = u?.name
  const replaced: User | null = await conn.replace<User>('users', [1, 'Ann'], { tuples: 'objects' })
  const updated: [number, string] | null = await conn.update<[number, string]>('users', 'primary', [1], [['=', 1, 'Bob']])
  const deleted: User | null = await stream.delete<User>('users', 'primary', [1], { tuples: 'objects' })
  void insertedName, replaced, updated, deleted
  // @ts-expect-error the tuple may be null
  void u.name
  // @ts-expect-error null when no tuple came back
  const notNull: User = await conn.update<User>('users', 0, [404], [['=', 1, 'x']])
  void notNull

  // call and eval: the return values, and the pushes
  const [sum] = await conn.call<[number]>('sum', [1, 2])
  const total: number = sum
  const [ok, err] = await conn.eval<[boolean, string | null]>('return pcall(...)', [1])
  const pair: [boolean, string | null] = [ok, err]
  for await (const msg of conn.call<[string], number>('f', [])) {
    const progress: number = msg
    void progress
  }
  for await (const msg of pool.eval<[], string>('box.session.push("x")', [], { mode: 'rw' }).pushes({ timeout: 100 })) void (msg satisfies string)
  const typedCall: Call<[number], string> = conn.call<[number], string>('f', [], { onPush: (m) => void (m satisfies string) })
  const readonlyResult: readonly [number, string] = await conn.call<readonly [number, string]>('pair')
  const mapped: string = await conn.call<[number]>('sum', [1, 2]).then(([n]) => n.toFixed(2))
  void total, pair, typedCall, readonlyResult, mapped
  // the context stays inferred from onPushCtx, or comes third
  interface Ctx { seen: number }
  const ctx: Ctx = { seen: 0 }
  await conn.call('pushes', [], { onPush: (m: number, c) => { c.seen += m }, onPushCtx: ctx })
  await conn.call<[], number, Ctx>('pushes', [], { onPush: (m, c) => { c.seen += m }, onPushCtx: ctx })
  // @ts-expect-error the return values are an array
  await conn.call<number>('sum', [1, 2])
  // @ts-expect-error a [number] has no second value
  const [, second] = await conn.call<[number]>('sum', [1, 2]); void second
  // @ts-expect-error the pushes are numbers here
  for await (const msg of conn.call<[string], number>('f', [])) void (msg satisfies string)
  // @ts-expect-error onPush's message is the push type
  conn.call<[], number>('f', [], { onPush: (m: string) => void m })

  // SQL rows
  const result: SqlResult<User> = await conn.execute<User>('SELECT id, name FROM users', [], { tuples: 'objects' })
  const sqlUsers: User[] = result.rows
  const stmt: PreparedStatement = await conn.prepare('SELECT id, name FROM users WHERE id = ?')
  const byStmt: [number, string][] = (await stmt.execute<[number, string]>([1])).rows
  void sqlUsers, byStmt
  // @ts-expect-error rows of Users are not rows of arrays
  const wrongRows: [number, string][] = (await conn.execute<User>('SELECT id, name FROM users')).rows
  void wrongRows

  // update operations: each operator with its arguments
  const ops: UpdateOperation[] = [
    ['=', 'name', 'Bob'],
    ['=', 'address.city', 'Paris'],
    ['!', -1, { any: 'value' }],
    ['#', 2, 1],
    ['+', 3, 1],
    ['-', 'balance', new Decimal('0.10')],
    ['+', '[4].count', 10n],
    ['&', 5, 0xff],
    ['|', 5, 1n],
    ['^', 5, 3],
    [':', 'name', 0, 1, 'B'],
  ]
  const field: UpdateField = 'tags[1]'
  await conn.update('users', 'primary', [1], [['=', field, 'x'], ...ops])
  await conn.upsert('users', [1, 'Ann'], [['+', 2, 1], [':', 1, -1, 0, '!']])
  const frozen = [['=', 1, 'x']] as const satisfies readonly UpdateOperation[]
  void frozen
  await pool.upsert('users', { id: 1, name: 'Ann' }, ops, { mode: 'rw' })
  // @ts-expect-error '~' is not an update operator
  await conn.update('users', 'primary', [1], [['~', 1, 2]])
  // @ts-expect-error '+' adds a number, not a string
  await conn.update('users', 'primary', [1], [['+', 1, 'one']])
  // @ts-expect-error bitwise operators take an unsigned integer, not a Decimal
  await conn.update('users', 'primary', [1], [['|', 1, new Decimal(1)]])
  // @ts-expect-error '#' deletes a count of fields
  await conn.upsert('users', [1], [['#', 1, 'all']])
  // @ts-expect-error a splice is [':', field, position, length, text]
  await conn.update('users', 'primary', [1], [[':', 1, 0, 'B']])
  // @ts-expect-error an update operation starts with its operator, not its field
  await conn.update('users', 'primary', [1], [[1, '=', 'x']])
  // @ts-expect-error the field is a number or a name
  await conn.update('users', 'primary', [1], [['=', true, 'x']])
}

// ---------------------------------------------------------------- the raw transport

export async function rawTransport(body: Buffer): Promise<void> {
  const t1: Transport = await Transport.connect(3301)
  const t2: Transport = await Transport.connect('3301', '127.0.0.1')
  const t3: Transport = await Transport.connect({ path: '/tmp/t.sock', user: 'u', password: 'p', connectTimeout: 100 })
  const cb: Callback<Transport> = (err: Error | null, t?: Transport) => { void err, t }
  Transport.connect(3301, cb)
  Transport.connect(3301, '127.0.0.1', cb)
  Transport.connect(3301, undefined, (err, t) => { void err, t })
  Transport.connect({ port: 3301 }, cb)

  const pending: number = t1.pending
  const sync: number = t1.nextSync
  t1.nextSync = 7
  const closed: boolean = t1.closed
  const schemaVersion: number = t1.schemaVersion
  const serverVersion: string = t1.serverVersion
  const hwm: number = t1.pushHighWaterMark
  void pending, sync, closed, schemaVersion, serverVersion, hwm

  const bodies: RequestBody[] = [body, new Uint8Array(4), '\x80']
  void bodies

  // promise mode: a Response is a promise of the body and an iterable of push bodies
  const response: Response = t1.request(IPROTO.CALL, body, { timeout: 100, signal: AbortSignal.abort(), highWaterMark: 1024 })
  for await (const chunk of response) {
    const c: Buffer = chunk
    void c
  }
  for await (const chunk of t1.request(IPROTO.CALL, body).pushes({ timeout: 100 })) void (chunk satisfies Buffer)
  const final: Buffer = await response
  const length: number = await t1.request(IPROTO.PING).then((b) => b.length)
  const pingBody: Buffer = await t1.request(IPROTO.PING, undefined).catch(() => Buffer.alloc(0)).then((b) => b)
  await t1.request(IPROTO.PING, '').finally(() => undefined)
  void final, length, pingBody

  // callback mode, with pushes to onPush(chunk, ctx)
  t2.request(IPROTO.PING, '', (err: Error | null, b: Buffer) => { void err, b })
  const requestOptions: RequestOptions<{ n: number }> = {
    onPush: (chunk: Buffer, ctx: { n: number }) => { ctx.n += chunk.length },
    onPushCtx: { n: 0 },
    timeout: 100,
  }
  t2.request(IPROTO.CALL, body, requestOptions, (err, b) => { void err, b })
  const raw: Response = t2.request(IPROTO.EVAL, body, requestOptions as RequestOptions)
  void raw

  t3.on('close', (err: Error) => { void err.message })
  t3.once('close', (err) => { void err })
  await Promise.all([t1.close(), t2.close(), t3.close()])

  // @ts-expect-error the request type is a number
  t1.request('PING')
  // @ts-expect-error pending is read-only
  t1.pending = 0
}

// every IPROTO constant is a literal
export const iprotoTypes: number[] = [
  IPROTO.SELECT, IPROTO.INSERT, IPROTO.REPLACE, IPROTO.UPDATE, IPROTO.DELETE, IPROTO.CALL_16, IPROTO.AUTH,
  IPROTO.EVAL, IPROTO.UPSERT, IPROTO.CALL, IPROTO.EXECUTE, IPROTO.NOP, IPROTO.PREPARE, IPROTO.BEGIN,
  IPROTO.COMMIT, IPROTO.ROLLBACK, IPROTO.PING, IPROTO.ID, IPROTO.WATCH, IPROTO.UNWATCH, IPROTO.EVENT,
  IPROTO.WATCH_ONCE, IPROTO.OK, IPROTO.CHUNK, IPROTO.TYPE_ERROR,
]
export const iprotoKeys: number[] = [
  IPROTO.REQUEST_TYPE, IPROTO.SYNC, IPROTO.SCHEMA_VERSION, IPROTO.STREAM_ID, IPROTO.SPACE_ID, IPROTO.INDEX_ID,
  IPROTO.LIMIT, IPROTO.OFFSET, IPROTO.ITERATOR, IPROTO.KEY, IPROTO.TUPLE, IPROTO.FUNCTION_NAME,
  IPROTO.USER_NAME, IPROTO.EXPR, IPROTO.OPS, IPROTO.DATA, IPROTO.ERROR_24, IPROTO.METADATA,
  IPROTO.BIND_METADATA, IPROTO.BIND_COUNT, IPROTO.SQL_TEXT, IPROTO.SQL_BIND, IPROTO.SQL_INFO, IPROTO.STMT_ID,
  IPROTO.ERROR, IPROTO.VERSION, IPROTO.FEATURES, IPROTO.TIMEOUT, IPROTO.EVENT_KEY, IPROTO.EVENT_DATA,
  IPROTO.TXN_ISOLATION, IPROTO.AUTH_TYPE,
]
export const ping: 64 = IPROTO.PING
export const chunk: 0x80 = IPROTO.CHUNK

// ---------------------------------------------------------------- MessagePack types

export async function pooling(): Promise<void> {
  const pool: Pool = await connectPool(['127.0.0.1:3301', '127.0.0.1:3302'], { checkInterval: 500 })
  const pinned: Stream = await pool.stream({ mode: 'rw' })
  await pinned.begin()
  await pinned.commit()
  const n: number = await pool.transaction(async (tx) => (await tx.select('t', 0, [1])).length, { mode: 'rw', retries: 1 })
  // @ts-expect-error not a pool mode
  await pool.stream({ mode: 'master' })
  const pw: PoolWatcher = pool.watch('config', { mode: 'ro' })
  for await (const { uri, value } of pw) { void uri, value; break }
  const uris: string[] = pw.uris
  pool.watch('config', (value, k, uri) => { void value, k, uri }).close()
  void uris
  void n
  await pool.close()
}

export function values(): void {
  const d = new Decimal('-12.340')
  const d2: Decimal = new Decimal(1.5)
  const d3: Decimal = new Decimal(10n)
  const text: string = d.toString()
  const json: string = d.toJSON()
  const num: number = d2.toNumber()
  const prim: number = d3.valueOf()
  const parts: { negative: boolean; digits: string; scale: number } = d.parts()
  const fromDigits: Decimal = Decimal.fromDigits(true, '12340', 3)
  void text, json, num, prim, parts, fromDigits

  const u = new Uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8')
  const u2: Uuid = new Uuid(new Uint8Array(16))
  const uText: string = u.toString()
  const uJson: string = u.toJSON()
  const bytes: Buffer = u.toBuffer()
  const same: boolean = u.equals(u2)
  void uText, uJson, bytes, same

  const dt = new Datetime({ seconds: 1700000000n, nsec: 1, tzoffset: 180, tzindex: 0 })
  const dt2: Datetime = new Datetime({ seconds: 5 })
  const dt3: Datetime = new Datetime()
  const seconds: bigint = dt.seconds
  const fields: number[] = [dt.nsec, dt.tzoffset, dt.tzindex]
  const asDate: Date = dt2.toDate()
  const iso: string = dt.toISOString()
  void iso
  const fromDate: Datetime = Datetime.fromDate(new Date())
  void seconds, fields, asDate, fromDate, dt3

  const iv = new Interval({ year: 1, month: -2, week: 3, day: 4, hour: 5, min: 6, sec: 7, nsec: 8, adjust: 'last' })
  const iv2: Interval = new Interval()
  const adjust: 'none' | 'excess' | 'last' = iv.adjust
  const ivFields: number[] = [iv.year, iv.month, iv.week, iv.day, iv.hour, iv.min, iv.sec, iv2.nsec]
  void adjust, ivFields
  // @ts-expect-error adjust is one of three names
  void new Interval({ adjust: 'sideways' })

  const ext = new Extension(42, Buffer.from([1]))
  const extType: number = ext.type
  const extData: Buffer = ext.data
  void extType, extData
}

// ---------------------------------------------------------------- errors

export function errors(err: unknown): string {
  if (err instanceof TarantoolError) {
    const code: string = err.code
    const errcode: number = err.errcode
    const stack: ServerStackEntry[] = err.serverStack
    const top: ServerStackEntry | undefined = stack[0]
    if (top !== undefined) {
      const entry: [string, string, number, string, number, number] = [top.type, top.file, top.line, top.message, top.errno, top.code]
      const extra: Record<string, unknown> | undefined = top.fields
      void entry, extra
    }
    const type: string | undefined = err.type
    const fields: Record<string, unknown> | undefined = err.fields
    const cause: unknown = err.cause
    void type, fields, cause
    return `${code} ${errcode}`
  }
  if (err instanceof UnsupportedError) {
    const code: 'ERR_UNSUPPORTED' = err.code
    const feature: string = err.feature
    const serverVersion: string = err.serverVersion
    return `${code} ${feature} ${serverVersion}`
  }
  if (err instanceof TimeoutError) {
    const code: 'ETIMEDOUT' = err.code
    return code
  }
  if (err instanceof AbortError) {
    const code: 'ABORT_ERR' = err.code
    const cause: unknown = err.cause
    void cause
    return code
  }
  if (err instanceof ConnectionError || err instanceof ProtocolError || err instanceof PushOverflowError || err instanceof InternalError) {
    const base: KharonError = err
    const message: string = base.message
    const name: string = base.name
    return `${base.code} ${message} ${name}`
  }
  if (err instanceof KharonError) {
    const e: Error = err
    return e.message
  }
  return 'unknown'
}

export function observing(conn: Connection, pool: Pool, transport: Transport): number {
  const stats: ConnectionStats = conn.stats()
  const { requests, errors, timeouts, reconnects, pushes, bytesSent, bytesReceived, connectedSince, pending, writableLength } = stats
  const poolStats: PoolStats = pool.stats()
  const total: number = poolStats.total.requests + (poolStats.instances['h:1']?.errors ?? 0)
  const onStart = (ctx: RequestTraceContext): string => `${ctx.type} ${ctx.name} ${ctx.sync ?? '-'} ${ctx.pushes} ${ctx.streamId ?? 0} ${ctx.error?.message ?? ''}`
  void onStart
  const limit: number = REQUEST_NAME_LIMIT
  return requests + errors + timeouts + reconnects + pushes + bytesSent + bytesReceived + connectedSince + pending + writableLength +
    total + limit + transport.pushCount + transport.bytesSent + transport.bytesReceived
}

export async function firstHour(): Promise<void> {
  // Waiting for a server that is still starting, with a delay per attempt of one's own.
  const conn = await connect('127.0.0.1:3301', {
    waitForServer: 30000,
    callerStack: true,
    reconnect: { strategy: (attempt: number, error: Error) => (error instanceof ConnectionError && attempt <= 10 ? attempt * 100 : null) },
  })
  conn.on('reconnect', () => {})
  try {
    await conn.call('f')
  } catch (err) {
    if (err instanceof ConnectionError) {
      const where: string = err.path ?? `${err.host}:${err.port}`
      void where
    }
  }
  // Raw bodies with the client's own codec: a Map keeps IPROTO's integer keys.
  const body: Buffer = encode(new Map<number, unknown>([[IPROTO.FUNCTION_NAME, 'f'], [IPROTO.TUPLE, []]]))
  const back: unknown = decode(await conn.transport.request(IPROTO.CALL, body))
  void back
  const onStart = (ctx: RequestTraceContext): boolean => !ctx.internal
  void onStart
  await conn.close()
}

export async function tupleArguments(conn: Connection): Promise<void> {
  const user = BoxTuple.fromObject({ id: 1, name: 'Ann' })
  const typed = new BoxTuple([2, 'Bob'], ['id', { name: 'name', type: 'string' }])
  const [isTuple] = await conn.call<[boolean]>('takes_tuple', [user, typed])
  void isTuple
  const names: string[] = typed.format.map((f) => f.name)
  void names
}

export async function sharded(router: Connection, routers: Pool): Promise<void> {
  interface Customer { id: number; bucket_id: number; name: string; age: number }
  const c: Crud = crud(router, { tuples: 'objects' })
  const inserted: CrudResult<Customer> = await c.insertObject<Customer>('customers', { id: 1, name: 'Ann', age: 30 })
  const first: Customer | undefined = inserted.rows[0]
  void first
  const { rows } = await c.select<Customer>('customers', [['>=', 'age', 30]], { first: 10, fields: ['id', 'name'], mode: 'read', preferReplica: true, timeout: 500 })
  const names: string[] = rows.map((r) => r.name)
  void names
  for await (const customer of c.pairs<Customer>('customers', null, { batchSize: 500 })) void customer.age
  const n: number = await c.count('customers', [['==', 'age', 30]])
  void n
  await c.upsertMany('customers', [[[2, null, 'Bob', 41], [['+', 'age', 1]]]], { stopOnError: true })
  try {
    await crud(routers).insertMany('customers', [[3, null, 'Eve', 25]])
  } catch (err) {
    if (err instanceof CrudError) {
      const failures: CrudError[] = err.errors ?? []
      const className: string | undefined = err.className
      void failures
      void className
    }
  }
  // @ts-expect-error crud's conditions are [operator, field, value]
  await c.select('customers', [['~', 'age', 30]])
}

export async function routedByKharon(): Promise<void> {
  const cluster: ShardedCluster = await connectSharded({ router: 'tester:secret@127.0.0.1:3301' }, { user: 'tester', password: 'secret', discoveryInterval: 5000 })
  const given: ShardedCluster = await connectSharded({ replicasets: { 'aaaaaaaa-0000-4000-8000-000000000001': ['127.0.0.1:3302'] }, bucketCount: 300 })
  const bucket: number = cluster.bucketId([42, 'eu'])
  const [row] = await cluster.callRW<[any[] | null]>(bucket, 'get_customer', [42], { timeout: 2000 })
  void row
  const counts: Record<string, number> = await cluster.mapCallRW<number>('count_customers')
  void counts
  const where: string | undefined = cluster.routeOf(bucket)
  void where
  try {
    await cluster.callRO(bucket, 'f', [], { onPush: (v: unknown) => void v })
  } catch (err) {
    if (err instanceof ShardingError) void err.vshardName
  }
  await given.close()
  await cluster.close()
}
