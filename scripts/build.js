'use strict'

// Builds the native addon with napi-rs. `--if-missing` (the install step) builds only when no
// binary for this platform is present, so an installed prebuilt package is used as is.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

function hasBinary() {
  if (fs.readdirSync(root).some((f) => f.startsWith('kharon.') && f.endsWith('.node'))) return true
  try {
    require(path.join(root, 'binding.js'))
    return true
  } catch {
    return false
  }
}

if (process.argv.includes('--if-missing') && hasBinary()) process.exit(0)

const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' })
if (cargo.error || cargo.status !== 0) {
  console.error('kharon: no prebuilt binary for this platform, and cargo (Rust) is not installed to build one.')
  console.error('Install Rust from https://rustup.rs and run `npm run build`.')
  process.exit(1)
}

const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
const args = ['build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts']
const result = spawnSync(process.execPath, [napi, ...args], { cwd: root, stdio: 'inherit' })
process.exit(result.status === null ? 1 : result.status)
