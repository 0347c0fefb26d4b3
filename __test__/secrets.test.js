'use strict'

// No password in anything kharon hands out or prints: one walk (fixtures/secrets-walk.js)
// through a direct connection (with a reconnect and a give-up), failed connects of every kind
// and a pool, signed in with a distinctive password. Everything the walk is given, every
// diagnostics_channel message, and util.inspect of each (every depth, hidden properties and
// getters too) must be without it; so must the NODE_DEBUG=kharon log of the same walk in a child.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const path = require('node:path')
const util = require('node:util')
const { spawn } = require('node:child_process')

const { connect } = require('..')
const { startTarantool, stopAll, atLeast } = require('./helpers/tarantool')
const { PASSWORD, walk } = require('./fixtures/secrets-walk')

const TIMEOUT = { timeout: 120000 }
const WALK = path.join(__dirname, 'fixtures', 'secrets-walk.js')
const CHANNELS = ['kharon:connect', 'kharon:disconnect', 'kharon:reconnect']
const TRACE_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error']
const INSPECT = { depth: Infinity, showHidden: true, getters: true, maxArrayLength: Infinity, maxStringLength: Infinity }

let server

before(async () => {
  server = await startTarantool()
  const admin = await connect(`tester:secret@127.0.0.1:${server.port}`)
  // As an argument: a request's arguments are never traced or logged.
  await admin.eval('box.schema.user.passwd(...)', [PASSWORD])
  await admin.close()
}, TIMEOUT)

after(() => stopAll())

/** Where `text` shows the password, with some context; null when it does not. */
function leak(text) {
  const at = text.indexOf(PASSWORD)
  return at < 0 ? null : text.slice(Math.max(0, at - 200), at + 200)
}

test('the password shows in no object, event, error, channel message or inspect output', TIMEOUT, async () => {
  const kept = []
  const leaks = []
  const look = (label, value) => {
    const text = util.inspect(value, INSPECT)
    const found = leak(text)
    if (found !== null) leaks.push(`${label}: ...${found}...`)
    return text
  }
  const keep = (label, value) => {
    kept.push({ label, value, text: look(label, value) })
    return value
  }
  const messages = []
  const onMessage = (msg, name) => messages.push({ name, text: look(name, msg) })
  const trace = Object.fromEntries(TRACE_EVENTS.map((event) => [event, (ctx) => onMessage(ctx, `kharon:request ${event}`)]))
  for (const name of CHANNELS) dc.subscribe(name, onMessage)
  dc.tracingChannel('kharon:request').subscribe(trace)
  try {
    await walk(server.port, keep)
  } finally {
    for (const name of CHANNELS) dc.unsubscribe(name, onMessage)
    dc.tracingChannel('kharon:request').unsubscribe(trace)
  }
  // Once more, as everything is at the end (closed, reconnected, settled).
  for (const { label, value } of kept) look(`${label} (at the end)`, value)
  assert.deepEqual(leaks, [])

  // The walk saw what it should have: URIs shown without the password, and every failure.
  const labels = new Set(kept.map((k) => k.label))
  const all = kept.map((k) => k.text).join('\n')
  const port = server.port
  assert.ok(all.includes(`tester@127.0.0.1:${port}`) && all.includes(`tarantool://tester@127.0.0.1:${port}`), 'URIs without the password')
  for (const label of ["connection 'disconnect'", "connection 'reconnecting'", "connection 'connect'", "connection 'error'",
    "pool 'change'", "pool 'error'", 'connect: wrong password', 'connect: no greeting', 'pool: no instance']) {
    assert.ok(labels.has(label), `the walk kept no ${label}`)
  }
  const codes = new Set(kept.map((k) => k.value?.code))
  for (const code of ['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT', 'ERR_NO_INSTANCE', 'ERR_CONNECTION_CLOSED']) {
    assert.ok(codes.has(code), `no error with code ${code}`)
  }
  const noInstance = kept.find((k) => k.label === 'pool: no instance').value
  assert.match(noInstance.message, new RegExp(`tester@127\\.0\\.0\\.1:${port}: authentication failed`))
  // Watchers, streams and transactions: 2.10+.
  assert.equal(labels.has('transaction'), atLeast(2, 10))
  if (atLeast(2, 10)) {
    assert.deepEqual(kept.find((k) => k.label === 'pool watcher uris').value, [`tester@127.0.0.1:${port}`])
    assert.equal(kept.find((k) => k.label === 'pool watch item').value.value.uri, `tester@127.0.0.1:${port}`)
    assert.equal(kept.find((k) => k.label === 'pool watch callback').value[2], `tester@127.0.0.1:${port}`)
  }
  const names = new Set(messages.map((m) => m.name))
  for (const name of [...CHANNELS, 'kharon:request start', 'kharon:request asyncEnd', 'kharon:request error']) {
    assert.ok(names.has(name), `no ${name} message`)
  }
})

test('the NODE_DEBUG=kharon log of the same walk is without the password', TIMEOUT, async () => {
  const child = spawn(process.execPath, [WALK, String(server.port)], {
    env: { ...process.env, NODE_DEBUG: 'kharon' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000)
  const code = await new Promise((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  assert.equal(code, 0, stdout + stderr)
  assert.match(stdout, /^done$/m)
  assert.equal(leak(stderr), null)
  assert.match(stderr, new RegExp(`KHARON \\d+: connect 127\\.0\\.0\\.1:${server.port} `))
  assert.match(stderr, /KHARON \d+: auth: signed in as "tester"/)
  assert.match(stderr, /KHARON \d+: reconnect attempt/)
})
