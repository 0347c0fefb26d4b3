'use strict'

// Issue 26: how the packed tarball installs. The per-platform packages are optionalDependencies
// (as napi-rs's `napi prepublish` writes them), an install where npm cannot get them still
// installs, and the source build that runs instead leaves nothing behind but the .node file,
// says what it does, and fails clearly when cargo cannot fetch crates (here: npm --offline, an
// empty CARGO_HOME and an empty npm cache stand for a machine with no caches and no network).
// The success path of the source build runs with a fake `cargo` (a real release build takes
// minutes). Every child process has a timeout; nothing here needs the network or Tarantool.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const CHILD_TIMEOUT_MS = 40000
const TIMEOUT = { timeout: 60000 }

// binding.js's name for this platform (the same rule as scripts/build.js).
function platformName() {
  let abi = ''
  if (process.platform === 'linux') {
    const glibc = process.report.getReport().header.glibcVersionRuntime
    abi = glibc ? '-gnu' : '-musl'
  }
  return `${process.platform}-${process.arch}${abi}`
}
const platform = platformName()
const prebuilt = `kharon-${platform}`

let tmp // everything this file creates lives under it
let tarball
let cleanEnv // the environment without npm's or cargo's settings from the run that started us

const mkdir = (...parts) => {
  const dir = path.join(tmp, ...parts)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

function run(cmd, args, { cwd = tmp, env = cleanEnv } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  })
  assert.ifError(r.error) // a timeout shows up here (ETIMEDOUT)
  return r
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-install-test-'))
  cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !/^npm_/i.test(k) && !['CARGO_TARGET_DIR', 'CARGO_NET_OFFLINE', 'NAPI_RS_NATIVE_LIBRARY_PATH', 'NODE_PATH'].includes(k)))
}, TIMEOUT)

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
}, TIMEOUT)

test('optionalDependencies name every npm/<platform> package, at the version of the package', TIMEOUT, () => {
  const binding = fs.readFileSync(path.join(root, 'binding.js'), 'utf8')
  const dirs = fs.readdirSync(path.join(root, 'npm')).sort()
  const names = []
  assert.equal(dirs.length, pkg.napi.targets.length, 'one npm/ package per napi target')
  for (const dir of dirs) {
    const sub = JSON.parse(fs.readFileSync(path.join(root, 'npm', dir, 'package.json'), 'utf8'))
    assert.equal(sub.name, `kharon-${dir}`, `npm/${dir} is the package binding.js looks for`)
    assert.equal(sub.main, `kharon.${dir}.node`)
    assert.deepEqual(sub.files, [`kharon.${dir}.node`])
    assert.equal(sub.version, pkg.version,
      `npm/${dir} is at ${sub.version}, the package at ${pkg.version}: run \`npx napi version\``)
    assert.ok(binding.includes(`require('${sub.name}')`), `binding.js requires ${sub.name}`)
    names.push(sub.name)
  }
  // What `napi prepublish` writes at release: every target's package at the root's version. A
  // committed map that lags behind a version bump would make a packed tarball fetch old binaries.
  assert.deepEqual(Object.keys(pkg.optionalDependencies || {}).sort(), names.sort())
  for (const [name, version] of Object.entries(pkg.optionalDependencies)) {
    assert.equal(version, pkg.version, `optionalDependencies.${name} is ${version}, the package ${pkg.version}: ` +
      `\`npm pkg set optionalDependencies.${name}=${pkg.version}\``)
  }
})

test('npm pack --dry-run: sources, the JS layer and the build script; no target/, no .node', TIMEOUT, () => {
  const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })
  assert.equal(r.status, 0, r.stderr)
  const files = JSON.parse(r.stdout)[0].files.map((f) => f.path)
  for (const f of ['index.js', 'binding.js', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'scripts/build.js', 'package.json']) {
    assert.ok(files.includes(f), `${f} is packed`)
  }
  assert.ok(files.some((f) => f.startsWith('lib/')), 'lib/ is packed')
  assert.ok(files.includes('src/lib.rs'), 'src/ is packed')
  assert.deepEqual(files.filter((f) => f.startsWith('target/') || f.endsWith('.node')), [], 'no build output is packed')
  assert.deepEqual(files.filter((f) => f.startsWith('npm/') || f.startsWith('__test__/')), [])
})

test('npm pack writes the tarball', TIMEOUT, () => {
  const dest = mkdir('pack')
  const r = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: root })
  assert.equal(r.status, 0, r.stderr)
  tarball = path.join(dest, JSON.parse(r.stdout)[0].filename)
  assert.ok(fs.existsSync(tarball))
})

// A fresh project, an empty npm cache and an empty CARGO_HOME: nothing cached anywhere.
function freshInstall(name, extraArgs) {
  assert.ok(tarball, 'the tarball was packed')
  const project = mkdir(name, 'project')
  const buildTmp = mkdir(name, 'tmp')
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: `probe-${name}`, version: '1.0.0', private: true }))
  const env = {
    ...cleanEnv,
    CARGO_HOME: mkdir(name, 'cargo-home'),
    CARGO_NET_OFFLINE: 'true',
    npm_config_cache: mkdir(name, 'npm-cache'),
    TMPDIR: buildTmp, // os.tmpdir() of the build script: where its temporary target dir goes
  }
  const r = run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...extraArgs, tarball], { cwd: project, env })
  return { r, project, buildTmp, installed: path.join(project, 'node_modules', 'kharon') }
}

test('optional packages npm cannot get (unpublished, offline) do not fail the install', TIMEOUT, () => {
  // --ignore-scripts: only npm's resolution is at stake here, not the build.
  const { r, project, installed } = freshInstall('resolve', ['--ignore-scripts'])
  assert.equal(r.status, 0, `npm installed the tarball: ${r.stderr}`)
  assert.ok(fs.existsSync(path.join(installed, 'package.json')))
  const present = fs.readdirSync(path.join(project, 'node_modules')).filter((n) => n.startsWith('kharon-'))
  assert.deepEqual(present, [], 'no per-platform package could be installed, and that was skipped')
  assert.deepEqual(fs.readdirSync(installed).filter((f) => f === 'target' || f.endsWith('.node')), [])
})

test('offline, with empty caches: the install fails with a clear message and leaves no target/', TIMEOUT, () => {
  const { r, installed, buildTmp } = freshInstall('offline', [])
  const err = r.stderr
  assert.notEqual(r.status, 0, 'the install fails: cargo cannot fetch the crates')
  assert.doesNotMatch(err, /npm error code E(NOTCACHED|404|TARGET)/, 'npm itself did not fail on the optional packages')
  assert.match(err, /command sh -c node scripts\/build\.js --if-missing/, 'the install script is what failed')

  const why = pkg.optionalDependencies[prebuilt]
    ? `no prebuilt binary for ${platform} is installed (the optional package ${prebuilt}@${pkg.version})`
    : `kharon has no prebuilt binary for ${platform}`
  const start = err.match(new RegExp(`kharon: ${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: building the native addon ` +
    'from source with cargo in (\\S+) \\(temporary\\); this takes 2 to 5 minutes'))
  assert.ok(start, `the build said what it does and why:\n${err}`)
  const targetDir = start[1]
  assert.equal(path.dirname(targetDir), buildTmp, 'it built in a directory of its own under os.tmpdir()')
  assert.match(err, /kharon: the source build failed: cargo build exited with code \d+; no binary was installed\./)
  assert.ok(err.includes(`kharon: a prebuilt binary avoids this build: the package ${prebuilt}@${pkg.version}`))
  assert.match(err, /kharon: cargo ran offline \(npm --offline\), so every crate in Cargo\.lock had to be in the cargo cache/)
  assert.match(err, /kharon: to retry: .*`npm install kharon` again/)

  assert.ok(!fs.existsSync(targetDir), 'the temporary target dir is removed')
  assert.deepEqual(fs.readdirSync(buildTmp).filter((f) => f.startsWith('kharon-build-')), [])
  if (fs.existsSync(installed)) { // npm rolls a failed install back; if it did not, nothing is left
    assert.deepEqual(fs.readdirSync(installed).filter((f) => f === 'target' || f.endsWith('.node')), [])
  }
})

// The installed package as npm unpacks it, and a `cargo` that pretends: it records where it
// was asked to build and writes a stand-in library there (or fails, or hangs, on request).
function fakeCargoSetup(name) {
  assert.ok(tarball, 'the tarball was packed')
  const dir = mkdir(name)
  const r = run('tar', ['-xzf', tarball, '-C', dir])
  assert.equal(r.status, 0, r.stderr)
  const bin = mkdir(name, 'bin')
  const log = path.join(dir, 'cargo.log')
  fs.writeFileSync(path.join(bin, 'cargo'), `#!/bin/sh
if [ "$1" = "--version" ]; then echo "cargo 0.0.0 (fake)"; exit 0; fi
echo "$CARGO_TARGET_DIR" > "${log}"
mkdir -p "$CARGO_TARGET_DIR/release/deps"
echo intermediate > "$CARGO_TARGET_DIR/release/deps/kharon.o"
case "$FAKE_CARGO" in
  fail) echo "error: no matching package named \\\`napi\\\` found" >&2; exit 101 ;;
  hang) exec sleep 30 ;;
esac
echo stand-in > "$CARGO_TARGET_DIR/release/libkharon.so"
cp "$CARGO_TARGET_DIR/release/libkharon.so" "$CARGO_TARGET_DIR/release/libkharon.dylib"
`, { mode: 0o755 })
  const buildTmp = mkdir(name, 'tmp')
  const env = { ...cleanEnv, PATH: `${bin}${path.delimiter}${cleanEnv.PATH}`, TMPDIR: buildTmp }
  const pkgDir = path.join(dir, 'package')
  return { pkgDir, env, buildTmp, log, dest: path.join(pkgDir, `kharon.${platform}.node`) }
}

const buildScript = (pkgDir) => [path.join(pkgDir, 'scripts', 'build.js'), '--if-missing']

test('a source build goes through a temporary target dir, copies the .node and removes the dir', TIMEOUT, () => {
  const { pkgDir, env, buildTmp, log, dest } = fakeCargoSetup('fake-ok')
  const r = run(process.execPath, buildScript(pkgDir), { cwd: pkgDir, env })
  assert.equal(r.status, 0, r.stderr)
  const targetDir = fs.readFileSync(log, 'utf8').trim()
  assert.equal(path.dirname(targetDir), buildTmp)
  assert.match(path.basename(targetDir), /^kharon-build-/)
  assert.ok(!fs.existsSync(targetDir), 'the temporary target dir is removed')
  assert.equal(fs.readFileSync(dest, 'utf8'), 'stand-in\n', 'the library is where binding.js looks')
  assert.deepEqual(fs.readdirSync(pkgDir).filter((f) => f === 'target'), [])
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 2, `one line before, one after:\n${r.stderr}`)
  assert.match(lines[0], new RegExp(`^kharon: .*${platform}.*: building the native addon from source with cargo in `))
  assert.match(lines[1], /^kharon: built the native addon in \d+ s: .+ \(the temporary build directory is removed\)$/)
  assert.ok(lines[1].includes(dest))
})

test('a failing cargo: exit 1, the message, and the temporary dir removed', TIMEOUT, () => {
  const { pkgDir, env, log, dest } = fakeCargoSetup('fake-fail')
  const r = run(process.execPath, buildScript(pkgDir), { cwd: pkgDir, env: { ...env, FAKE_CARGO: 'fail' } })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /no matching package named `napi` found/, "cargo's own error is shown")
  assert.match(r.stderr, /kharon: the source build failed: cargo build exited with code 101/)
  assert.ok(r.stderr.includes(`a prebuilt binary avoids this build: the package ${prebuilt}@${pkg.version}`))
  assert.doesNotMatch(r.stderr, /cargo ran offline/, 'not offline here, so no word about it')
  assert.ok(!fs.existsSync(fs.readFileSync(log, 'utf8').trim()))
  assert.ok(!fs.existsSync(dest))
})

test('CARGO_TARGET_DIR, when set, is used and kept', TIMEOUT, () => {
  const { pkgDir, env, log, dest } = fakeCargoSetup('fake-target-dir')
  const own = mkdir('fake-target-dir', 'own-target')
  const r = run(process.execPath, buildScript(pkgDir), { cwd: pkgDir, env: { ...env, CARGO_TARGET_DIR: own } })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(fs.readFileSync(log, 'utf8').trim(), own)
  assert.ok(fs.existsSync(path.join(own, 'release', 'libkharon.so')), "the user's target dir is left alone")
  assert.ok(fs.existsSync(dest))
  assert.match(r.stderr, /\(CARGO_TARGET_DIR\)/)
})

test('no cargo at all: exit 1 and what to do, without a build attempt', TIMEOUT, () => {
  const { pkgDir, env, buildTmp } = fakeCargoSetup('no-cargo')
  const r = run(process.execPath, buildScript(pkgDir), { cwd: pkgDir, env: { ...env, PATH: mkdir('no-cargo', 'empty-bin') } })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /and cargo \(Rust\) is not installed to build the native addon from source\./)
  assert.ok(r.stderr.includes(`the prebuilt package ${prebuilt}@${pkg.version} avoids the build`))
  assert.match(r.stderr, /install Rust from https:\/\/rustup\.rs/)
  assert.deepEqual(fs.readdirSync(buildTmp), [])
})

test('SIGTERM during the build stops cargo and still removes the temporary dir', TIMEOUT, async () => {
  const { pkgDir, env, log } = fakeCargoSetup('fake-sigterm')
  const child = spawn(process.execPath, buildScript(pkgDir), {
    cwd: pkgDir, env: { ...env, FAKE_CARGO: 'hang' }, stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS)
  try {
    // Wait until the fake cargo runs (it wrote the log), then stop the build script.
    const deadline = Date.now() + 20000
    while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').trim()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(fs.existsSync(log), `cargo started:\n${stderr}`)
    child.kill('SIGTERM')
    const [code] = await new Promise((resolve) => child.on('close', (...a) => resolve(a)))
    assert.equal(code, 1, stderr)
    assert.match(stderr, /kharon: the source build failed: cargo was stopped by SIGTERM/)
    assert.ok(!fs.existsSync(fs.readFileSync(log, 'utf8').trim()), 'the temporary target dir is removed')
  } finally {
    clearTimeout(killer)
    child.kill('SIGKILL')
  }
})
