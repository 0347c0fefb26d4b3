'use strict'

// Runs a fixture script (__test__/fixtures/) in a child Node process: what a process does on its
// own (exit, stay alive, grow) is only seen from outside it.

const { spawn } = require('node:child_process')
const path = require('node:path')

const FIXTURES = path.join(__dirname, '..', 'fixtures')

/**
 * `node ...nodeArgs fixtures/<name> ...args`; resolves { code, signal, stdout, stderr, ms, hung }.
 * A child still running after `killAfter` ms is killed (SIGKILL) and reported as hung.
 */
function runFixture(name, args, killAfter, nodeArgs = []) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const argv = [...nodeArgs, path.join(FIXTURES, name), ...args.map(String)]
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let hung = false
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, killAfter)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, hung })
    })
  })
}

module.exports = { runFixture }
