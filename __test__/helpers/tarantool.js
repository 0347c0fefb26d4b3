'use strict'

// Starts a real Tarantool for the tests: a free port (or a unix socket), a temp work dir,
// killed when the test process ends.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const SERVER_LUA = path.join(__dirname, '..', 'server.lua')
const READY = 'kharon-test-server-ready'
const running = new Set()

process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL')
})

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

// Resolves once the server accepts connections and sends its greeting.
function waitForGreeting(connectOpts, deadline) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
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
        if (Date.now() > deadline) reject(new Error('tarantool did not start in time'))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

class TarantoolServer {
  constructor({ port, socketPath, dir, script = SERVER_LUA }) {
    this.script = script
    this.host = '127.0.0.1'
    this.port = port
    this.socketPath = socketPath
    this.dir = dir
    this.proc = null
    this.output = ''
  }

  /** Extra arguments for the Lua script, after LISTEN and WORKDIR. */
  get args() {
    return []
  }

  get listen() {
    return this.socketPath ? `unix/:${this.socketPath}` : `${this.host}:${this.port}`
  }

  /** Starts (or restarts, on the same port and dir) and waits for the greeting. */
  async start() {
    this.output = ''
    const proc = spawn('tarantool', [this.script, this.listen, this.dir, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout.on('data', (d) => { this.output += d })
    proc.stderr.on('data', (d) => { this.output += d })
    running.add(proc)
    proc.on('exit', () => running.delete(proc))
    this.proc = proc
    const exited = new Promise((_, reject) => {
      proc.on('exit', (code) => reject(new Error(`tarantool exited with ${code}: ${this.output}`)))
    })
    const target = this.socketPath ? { path: this.socketPath } : { port: this.port, host: this.host }
    // The greeting comes before bootstrap ends; server.lua prints a line once users and
    // functions exist.
    const ready = new Promise((resolve) => {
      const check = () => {
        if (this.output.includes(READY)) {
          proc.stdout.off('data', check)
          resolve()
        }
      }
      proc.stdout.on('data', check)
    })
    await Promise.race([Promise.all([ready, waitForGreeting(target, Date.now() + 20000)]), exited])
    exited.catch(() => {})
    return this
  }

  /** Kills the server with `signal` and waits until it is gone. */
  async kill(signal = 'SIGKILL') {
    const proc = this.proc
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const gone = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill(signal)
    await gone
  }

  async stop() {
    await this.kill('SIGKILL')
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * startTarantool() on a free TCP port; { unix: true } on a unix socket; { script } runs another
 * Lua file taking the same arguments and printing the same ready line.
 */
async function startTarantool({ unix = false, script } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-test-'))
  const server = unix
    ? new TarantoolServer({ socketPath: path.join(dir, 'tarantool.sock'), dir, script })
    : new TarantoolServer({ port: await freePort(), dir, script })
  return server.start()
}

module.exports = { startTarantool, freePort, TarantoolServer }
