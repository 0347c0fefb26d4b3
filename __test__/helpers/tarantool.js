'use strict'

// Starts real Tarantool servers for the tests: a free port (or a unix socket), a temp work dir,
// killed when the test process ends. The binary is $TARANTOOL, or `tarantool` on PATH. The suite
// holds on 2.6 and on 3.x: serverVersion() and atLeast() tell the tests which one they run
// against, sqlName() and seqScan() spell SQL the way that version wants it.

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const TARANTOOL = process.env.TARANTOOL || 'tarantool'
const SERVER_LUA = path.join(__dirname, '..', 'server.lua')
const READY = 'kharon-test-server-ready'
const START_TIMEOUT_MS = 30000
const LOG_LIMIT = 32 * 1024 // characters of a server's output kept for error messages

const live = new Set() // servers started and not stopped yet

process.on('exit', () => {
  for (const server of live) if (server.proc) server.proc.kill('SIGKILL')
})

// ---------------------------------------------------------------------------------------------
// the server version

/** { major, minor, patch, release: 'X.Y.Z', text } of a version such as 'Tarantool 2.6.0-0-g47aa4e01e'. */
function parseVersion(text) {
  const m = /(\d+)\.(\d+)\.(\d+)\S*/.exec(text)
  if (m === null) throw new Error(`not a Tarantool version: ${JSON.stringify(text)}`)
  const [major, minor, patch] = m.slice(1, 4).map(Number)
  return Object.freeze({ major, minor, patch, release: `${major}.${minor}.${patch}`, text: m[0] })
}

let version = null

/** The version of the binary the tests start (`$TARANTOOL --version`, run once). */
function serverVersion() {
  if (version === null) {
    let out
    try {
      out = execFileSync(TARANTOOL, ['--version'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      throw new Error(`cannot run '${TARANTOOL} --version' (TARANTOOL names the server binary): ${err.message}`)
    }
    version = parseVersion(out.split('\n')[0])
  }
  return version
}

/** True when the server binary is major.minor or later. */
function atLeast(major, minor = 0) {
  const v = serverVersion()
  return v.major > major || (v.major === major && v.minor >= minor)
}

/** An unquoted SQL name as the server stores it: upper-cased before 3.0, as written from 3.0 on. */
function sqlName(name) {
  return atLeast(3, 0) ? name : name.toUpperCase()
}

/**
 * `table` for a FROM clause that scans it whole: 3.0 refuses a full scan (ER_SQL_SEQ_SCAN) unless
 * the query says SEQSCAN, a keyword that 2.11 introduced and older servers do not parse.
 */
function seqScan(table) {
  return atLeast(2, 11) ? `SEQSCAN ${table}` : table
}

// ---------------------------------------------------------------------------------------------
// servers

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves once the server accepts a connection and sends its greeting; stops trying on `signal`. */
function waitForGreeting(connectOpts, signal) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (signal.aborted) return reject(signal.reason)
      const sock = net.connect(connectOpts)
      let got = 0
      sock.on('data', (d) => {
        got += d.length
        if (got >= 128) {
          sock.destroy()
          resolve()
        }
      })
      sock.on('error', () => {
        sock.destroy()
        setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

class TarantoolServer {
  constructor({ port, socketPath, dir, script = SERVER_LUA, name }) {
    this.script = script
    this.host = '127.0.0.1'
    this.port = port
    this.socketPath = socketPath
    this.dir = dir
    this.name = name || 'tarantool'
    this.startTimeout = START_TIMEOUT_MS
    this.proc = null
    this.output = '' // stdout and stderr of the current run, its last LOG_LIMIT characters
  }

  /** Extra arguments for the Lua script, after LISTEN and WORKDIR. */
  get args() {
    return []
  }

  get listen() {
    return this.socketPath ? `unix/:${this.socketPath}` : `${this.host}:${this.port}`
  }

  /**
   * Starts (or restarts, on the same port and dir) and waits until the script has printed its
   * ready line and the server greets. Fails as soon as the server exits, or after
   * `startTimeout` ms (the server is then killed), with the server's output in the message.
   */
  async start() {
    this.output = ''
    const proc = spawn(TARANTOOL, [this.script, this.listen, this.dir, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    live.add(this)
    const stopWaiting = new AbortController()
    const failed = new Promise((_, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready within ${this.startTimeout} ms`)), this.startTimeout)
      stopWaiting.signal.addEventListener('abort', () => clearTimeout(timer))
      proc.on('error', (err) => reject(new Error(`cannot run ${TARANTOOL}: ${err.message}`)))
      // 'close' comes after 'exit' and after the last of the output
      proc.on('close', (code, signal) => reject(new Error(`exited (${signal || `code ${code}`}) before it was ready`)))
    })
    // The greeting comes before bootstrap ends; the script prints a line once users and
    // functions exist.
    const ready = new Promise((resolve) => {
      let seen = ''
      const check = (d) => {
        seen += d
        if (seen.includes(READY)) {
          proc.stdout.off('data', check)
          resolve()
        }
      }
      proc.stdout.on('data', check)
    })
    const keep = (d) => {
      this.output = (this.output + d).slice(-LOG_LIMIT)
    }
    proc.stdout.on('data', keep)
    proc.stderr.on('data', keep)
    const target = this.socketPath ? { path: this.socketPath } : { port: this.port, host: this.host }
    try {
      await Promise.race([ready.then(() => waitForGreeting(target, stopWaiting.signal)), failed])
    } catch (err) {
      stopWaiting.abort(err)
      await this.kill()
      throw new Error(
        `${this.name} (${TARANTOOL} ${path.basename(this.script)} ${this.listen}) did not start: ${err.message}\n` +
        `--- its output (stdout and stderr) ---\n${this.output}--- end of output ---`,
      )
    }
    stopWaiting.abort()
    return this
  }

  /** Kills the server with `signal` and waits until it is gone. */
  async kill(signal = 'SIGKILL') {
    const proc = this.proc
    if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const gone = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill(signal)
    await gone
  }

  async stop() {
    await this.kill('SIGKILL')
    live.delete(this)
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * startTarantool() on a free TCP port; { unix: true } on a unix socket; { script } runs another
 * Lua file taking the same arguments and printing the same ready line. A server that does not
 * start is stopped, and the error carries its output.
 */
async function startTarantool({ unix = false, script } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-test-'))
  const server = unix
    ? new TarantoolServer({ socketPath: path.join(dir, 'tarantool.sock'), dir, script })
    : new TarantoolServer({ port: await freePort(), dir, script })
  try {
    return await server.start()
  } catch (err) {
    await server.stop()
    throw err
  }
}

/**
 * Stops every server this process started and has not stopped: for a file's last `after`, so
 * that a server left by a failed or timed-out test cannot keep the test process alive.
 */
async function stopAll() {
  await Promise.all([...live].map((server) => server.stop()))
}

/** `n` distinct free ports. */
async function freePorts(n) {
  const ports = []
  while (ports.length < n) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  return ports
}

module.exports = {
  TARANTOOL,
  freePorts,
  parseVersion,
  serverVersion,
  atLeast,
  sqlName,
  seqScan,
  startTarantool,
  stopAll,
  freePort,
  TarantoolServer,
}
