'use strict'

// Builds the native addon. In this repository it runs napi-rs's CLI (which also regenerates
// binding.js and binding.d.ts). In an installed package, where the CLI (a devDependency) is
// absent, it runs cargo itself and puts the library where binding.js looks for it.
// `--if-missing` (the install step) builds only when no binary for this platform is present,
// so a prebuilt per-platform package (the optionalDependencies kharon-<platform>), when npm
// installed it, is used as it is.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))

// Why binding.js could not load a binary, for the message before a source build.
let loadError = null
function hasBinary() {
  try {
    require(path.join(root, 'binding.js'))
    return true
  } catch (e) {
    loadError = e
    return false
  }
}

// binding.js's name for this platform: <platform>-<arch>[-<abi>], as in kharon.linux-x64-gnu.node
// and the package kharon-linux-x64-gnu.
function platformName() {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const report = process.report && process.report.getReport ? process.report.getReport() : null
    const glibc = report && report.header && report.header.glibcVersionRuntime
    abi = glibc ? '-gnu' : '-musl'
  }
  return `${platform}-${arch}${abi}`
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

const say = (line) => console.error(`kharon: ${line}`)

// Why there is no binary to use, in words: the prebuilt package is one of the optionalDependencies
// (npm installs the one matching this machine) or this platform has none.
function whyNoBinary(prebuilt) {
  const published = Object.prototype.hasOwnProperty.call(pkg.optionalDependencies || {}, prebuilt)
  if (!published) return `kharon has no prebuilt binary for ${platformName()}`
  try {
    require.resolve(`${prebuilt}/package.json`, { paths: [root] })
  } catch {
    return `no prebuilt binary for ${platformName()} is installed (the optional package ${prebuilt}@${pkg.version})`
  }
  const reason = loadError ? String(loadError.message).split('\n')[0] : 'unknown error'
  return `the prebuilt package ${prebuilt} is installed but did not load (${reason})`
}

// The source build of an installed package: cargo builds in a fresh directory under os.tmpdir()
// (or in CARGO_TARGET_DIR when it is set), the library is copied next to binding.js, and the
// temporary directory is removed, whatever happens. Nothing but the .node file is left in the
// package. Asynchronous so that SIGINT/SIGTERM reach cargo and the cleanup still runs.
function buildFromSource() {
  const platform = platformName()
  const prebuilt = `${pkg.name}-${platform}`
  const dest = path.join(root, `${pkg.name}.${platform}.node`)
  const ownTarget = !process.env.CARGO_TARGET_DIR
  const targetDir = ownTarget ? fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-build-')) : process.env.CARGO_TARGET_DIR
  let removed = !ownTarget
  const cleanup = () => {
    if (removed) return
    removed = true
    try {
      fs.rmSync(targetDir, { recursive: true, force: true, maxRetries: 3 })
    } catch (e) {
      say(`could not remove the temporary build directory ${targetDir}: ${e.message}`)
    }
  }
  process.on('exit', cleanup)

  // npm --offline (npm_config_offline) keeps cargo offline too; so does CARGO_NET_OFFLINE.
  const npmOffline = process.env.npm_config_offline === 'true'
  const cargoOffline = npmOffline || /^(true|1)$/i.test(process.env.CARGO_NET_OFFLINE || '')
  const args = ['build', '--release', '--lib', ...(npmOffline ? ['--offline'] : [])]

  say(`${whyNoBinary(prebuilt)}: building the native addon from source with cargo in ${targetDir}` +
    `${ownTarget ? ' (temporary)' : ' (CARGO_TARGET_DIR)'}; this takes 2 to 5 minutes, more when crates are downloaded.`)
  const started = Date.now()
  const child = spawn('cargo', args, {
    cwd: root,
    stdio: ['ignore', 2, 2], // cargo's output goes to stderr, like these messages
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  })
  const forward = (signal) => child.kill(signal)
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, forward)

  let finished = false
  const fail = (what) => {
    if (finished) return
    finished = true
    cleanup()
    const home = process.env.CARGO_HOME || path.join(os.homedir(), '.cargo')
    say(`the source build failed: ${what}; no binary was installed.`)
    say(`a prebuilt binary avoids this build: the package ${prebuilt}@${pkg.version}, which npm installs as an ` +
      'optional dependency where it is published (unless optional dependencies are omitted).')
    if (cargoOffline) {
      say(`cargo ran offline (${npmOffline ? 'npm --offline' : 'CARGO_NET_OFFLINE'}), so every crate in Cargo.lock ` +
        `had to be in the cargo cache (${home}) already.`)
    }
    say('to retry: fix what cargo reported above (it fetches the crates from crates.io: it needs network access ' +
      'or a cargo cache that has them), then run `npm install kharon` again (`npm rebuild kharon` where it stayed installed).')
    process.exitCode = 1
  }
  child.on('error', (e) => fail(`cargo could not be started (${e.message})`))
  child.on('close', (code, signal) => {
    if (finished) return
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(s, forward)
    if (signal) return fail(`cargo was stopped by ${signal}`)
    if (code !== 0) return fail(`cargo build exited with code ${code}`)
    try {
      fs.copyFileSync(cargoLibrary(targetDir), dest)
    } catch (e) {
      return fail(`cargo succeeded but its library could not be copied (${e.message})`)
    }
    finished = true
    cleanup()
    say(`built the native addon in ${Math.round((Date.now() - started) / 1000)} s: ${dest}` +
      (ownTarget ? ' (the temporary build directory is removed)' : ''))
  })
}

const ifMissing = process.argv.includes('--if-missing')
if (ifMissing && hasBinary()) process.exit(0)

const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' })
if (cargo.error || cargo.status !== 0) {
  const prebuilt = `${pkg.name}-${platformName()}`
  say(`${whyNoBinary(prebuilt)}, and cargo (Rust) is not installed to build the native addon from source.`)
  say(`the prebuilt package ${prebuilt}@${pkg.version} avoids the build where it is published (npm installs it as an ` +
    'optional dependency); otherwise install Rust from https://rustup.rs and run `npm install kharon` again.')
  process.exit(1)
}

const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
// A fresh clone (the lockfile is there; npm never packs it) has no devDependencies yet: install
// them at the lockfile's versions, so `npm test` or `npm run demo` can be the first command. Not
// during `npm install` itself (--if-missing), which installs them anyway. `npm install --no-save`
// rather than `npm ci`: the optionalDependencies name this version's per-platform packages, which
// the registry has only once the release published them, and until then the lockfile cannot
// record them and `npm ci` refuses to run ("Missing: kharon-linux-x64-gnu@ from lock file").
if (!ifMissing && !fs.existsSync(napiCli) && fs.existsSync(path.join(root, 'package-lock.json'))) {
  say('installing the devDependencies at the versions in package-lock.json (npm install --no-save)…')
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund'])
  // --ignore-scripts keeps this package's own install script from running inside its bootstrap;
  // the bun devDependency fetches its binary in its install script, which runs here instead.
  if (fs.existsSync(path.join(root, 'node_modules', 'bun', 'package.json'))) run('npm', ['rebuild', 'bun', '--no-audit', '--no-fund'])
}
if (fs.existsSync(napiCli)) {
  run(process.execPath, [napiCli, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'])
} else {
  buildFromSource()
}
