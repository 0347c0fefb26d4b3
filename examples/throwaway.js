'use strict'

// A throwaway Tarantool for the examples. It runs a server script (by default tour.lua, the
// README tour's server, next to this file) as `tarantool tour.lua` would, but in a new temp
// directory and on a free port of 127.0.0.1 whatever the script's box.cfg{} says, and removes
// both when stopped or when the process exits. The binary is $TARANTOOL, or `tarantool` on PATH.
//
//   const { startTarantool } = require('./throwaway')
//   const server = await startTarantool()          // { host, port, stop() }

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const TARANTOOL = process.env.TARANTOOL || 'tarantool'
const READY = 'kharon-example-server-ready'
const START_TIMEOUT_MS = 30000

// Runs SCRIPT with its box.cfg{} listening on LISTEN, then says it is ready.
const RUN_LUA = `
local listen, script = arg[1], arg[2]
local cfg = box.cfg
box.cfg = function(options)
    options = options or {}
    options.listen = listen
    return cfg(options)
end
dofile(script)
io.stdout:write('${READY}\\n') io.stdout:flush()
`

const running = new Set()
process.on('exit', () => {
  for (const server of running) server.kill()
})

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Starts `script` and resolves once it has run to its end; rejects with the server's output if it fails. */
async function startTarantool(script = path.join(__dirname, 'tour.lua')) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-example-'))
  fs.writeFileSync(path.join(dir, 'run.lua'), RUN_LUA)
  const host = '127.0.0.1'
  const port = await freePort()
  const proc = spawn(TARANTOOL, ['run.lua', `${host}:${port}`, path.resolve(script)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (d) => { output = (output + d).slice(-16 * 1024) }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  const server = {
    host,
    port,
    dir,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      fs.rmSync(dir, { recursive: true, force: true })
      running.delete(server)
    },
    async stop() {
      const gone = proc.exitCode === null && proc.signalCode === null ? new Promise((resolve) => proc.once('exit', resolve)) : null
      server.kill()
      await gone
    },
  }
  running.add(server)
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
      proc.on('error', (err) => { clearTimeout(timer); reject(err) })
      proc.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`exited (${signal || `code ${code}`})`)) })
      proc.stdout.on('data', () => {
        if (output.includes(READY)) { clearTimeout(timer); resolve() }
      })
    })
  } catch (err) {
    await server.stop()
    throw new Error(`${TARANTOOL} ${path.basename(script)} did not start: ${err.message}\n${output}`)
  }
  return server
}

module.exports = { startTarantool }
