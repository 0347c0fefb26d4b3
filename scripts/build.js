'use strict'

// Builds the native addon. In this repository it runs napi-rs's CLI (which also regenerates
// binding.js and binding.d.ts). In an installed package, where the CLI (a devDependency) is
// absent, it runs cargo itself and puts the library where binding.js looks for it.
// `--if-missing` (the install step) builds only when no binary for this platform is present,
// so a prebuilt per-platform package, when installed, is used as it is.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

function hasBinary() {
  try {
    require(path.join(root, 'binding.js'))
    return true
  } catch {
    return false
  }
}

// The file name binding.js loads for this platform: kharon.<platform>-<arch>[-<abi>].node
function binaryName() {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const report = process.report && process.report.getReport ? process.report.getReport() : null
    const glibc = report && report.header && report.header.glibcVersionRuntime
    abi = glibc ? '-gnu' : '-musl'
  }
  return `kharon.${platform}-${arch}${abi}.node`
}

function cargoLibrary(targetDir) {
  const name = process.platform === 'darwin' ? 'libkharon.dylib' : 'libkharon.so'
  return path.join(targetDir, 'release', name)
}

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status)
}

const ifMissing = process.argv.includes('--if-missing')
if (ifMissing && hasBinary()) process.exit(0)

const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' })
if (cargo.error || cargo.status !== 0) {
  console.error('kharon: no prebuilt binary for this platform, and cargo (Rust) is not installed to build one.')
  console.error('Install Rust from https://rustup.rs (then reinstall kharon), or use a platform with a prebuilt package.')
  process.exit(1)
}

const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
// A fresh clone (the lockfile is there; npm never packs it) has no devDependencies yet: install
// them from the lockfile, so `npm test` or `npm run demo` can be the first command. Not during
// `npm install` itself (--if-missing), which installs them anyway.
if (!ifMissing && !fs.existsSync(napiCli) && fs.existsSync(path.join(root, 'package-lock.json'))) {
  console.error('kharon: installing the devDependencies from package-lock.json (npm ci)…')
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'])
}
if (fs.existsSync(napiCli)) {
  run(process.execPath, [napiCli, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'])
} else {
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  console.error(`kharon: building the native addon from source with cargo (${binaryName()})…`)
  run('cargo', ['build', '--release', '--lib'], { CARGO_TARGET_DIR: targetDir })
  fs.copyFileSync(cargoLibrary(targetDir), path.join(root, binaryName()))
}
