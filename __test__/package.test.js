'use strict'

// The path users take: `npm pack`, install the tarball into a fresh project, require/import it
// there. With no prebuilt package for this platform, the install builds from the shipped
// sources with cargo (CARGO_TARGET_DIR points at this repository's target/ to reuse its build).

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startTarantool, stopAll } = require('./helpers/tarantool')

const root = path.join(__dirname, '..')
// Nothing here may hang the run: the tests and hooks are bounded, and so is each npm command
// (synchronous, so only its own timeout can stop it; an install may build the addon).
const TIMEOUT = { timeout: 60000 }
const NPM_TIMEOUT_MS = 600000
let server
let project

const npm = (args, cwd) => execFileSync('npm', args, {
  cwd,
  encoding: 'utf8',
  env: { ...process.env, CARGO_TARGET_DIR: path.join(root, 'target') },
  stdio: ['ignore', 'pipe', 'pipe'],
  timeout: NPM_TIMEOUT_MS,
})

before(async () => {
  server = await startTarantool()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-pack-'))
  const tarball = npm(['pack', '--silent', '--pack-destination', dir], root).trim().split('\n').pop()
  project = path.join(dir, 'project')
  fs.mkdirSync(project)
  npm(['init', '-y'], project)
  npm(['install', '--no-audit', '--no-fund', path.join(dir, tarball)], project)
}, { timeout: 3 * NPM_TIMEOUT_MS + TIMEOUT.timeout }) // three npm commands and a server start

after(async () => {
  await stopAll()
  if (project) fs.rmSync(path.dirname(project), { recursive: true, force: true })
}, TIMEOUT)

test('the tarball is lean: sources, the JS API and the examples the README points at; no tests, benchmarks or build output', TIMEOUT, () => {
  const files = fs.readdirSync(path.join(project, 'node_modules', 'kharon'))
  for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'lib', 'src', 'Cargo.toml', 'LICENSE', 'examples']) {
    assert.ok(files.includes(f), `${f} is shipped`)
  }
  for (const f of ['__test__', 'bench', 'target', '.ci']) assert.ok(!files.includes(f), `${f} is not shipped`)
  assert.ok(files.some((f) => /^kharon\..+\.node$/.test(f)), 'the install built the addon for this platform')
})

function runIn(file, source, argv = [process.execPath]) {
  fs.writeFileSync(path.join(project, file), source)
  const r = spawnSync(argv[0], [...argv.slice(1), file, String(server.port)], { cwd: project, encoding: 'utf8', timeout: 30000 })
  assert.equal(r.status, 0, `${file} exited by itself with 0: ${r.stderr}`)
  return r.stdout.trim().split('\n')
}

// The other runtimes, where installed (devDependencies): the installed package, as its users
// import it there (a bare 'kharon' that node_modules resolves; Deno reads the project's
// package.json for it, as it does for an npm: specifier's package).
const RUNTIMES = [
  ['bun', [path.join(root, 'node_modules', '.bin', 'bun')]],
  ['deno', [path.join(root, 'node_modules', '.bin', 'deno'), 'run', '-A', '--no-lock']],
]
for (const [name, argv] of RUNTIMES) {
  const missing = fs.existsSync(argv[0]) ? false : `${name} is not installed (npm install installs the devDependency ${name})`
  test(`the installed package under ${name}: a request and a for-await over pushes, then exit`, { ...TIMEOUT, skip: missing }, () => {
    const lines = runIn(`app-${name}.mjs`, `
      import { connect } from 'kharon'
      const conn = await connect('127.0.0.1:' + process.argv.at(-1))
      const call = conn.call('pushes', [2])
      for await (const msg of call) console.log('push', msg)
      console.log(JSON.stringify(await call), conn.transport.readPath)
    `, argv)
    assert.deepEqual(lines, ['push 1', 'push 2', '["done"] tokio'])
  })
}

test("require('kharon') in the installed project: a request and a for-await over pushes, then exit", TIMEOUT, () => {
  const lines = runIn('app.cjs', `
    const { connect } = require('kharon')
    ;(async () => {
      const conn = await connect('127.0.0.1:' + process.argv[2])
      console.log(JSON.stringify(await conn.call('echo', ['hi'])))
      const call = conn.call('pushes', [3])
      for await (const msg of call) console.log('push', msg)
      console.log(JSON.stringify(await call))
    })()
  `)
  assert.deepEqual(lines, ['["hi"]', 'push 1', 'push 2', 'push 3', '["done"]'])
})

test("import { connect } from 'kharon' works the same", TIMEOUT, () => {
  const lines = runIn('app.mjs', `
    import { connect, Transport, IPROTO } from 'kharon'
    const conn = await connect('127.0.0.1:' + process.argv[2])
    const call = conn.call('pushes', [2])
    for await (const msg of call) console.log('push', msg)
    console.log(JSON.stringify(await call), typeof Transport.connect, IPROTO.CALL)
  `)
  assert.deepEqual(lines, ['push 1', 'push 2', '["done"] function 10'])
})

test('without a prebuilt binary and without cargo, the build says so clearly', TIMEOUT, () => {
  const build = path.join(project, 'node_modules', 'kharon', 'scripts', 'build.js')
  const r = spawnSync(process.execPath, [build], {
    cwd: path.dirname(build),
    encoding: 'utf8',
    env: { ...process.env, PATH: fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-no-cargo-')) },
    timeout: 60000,
  })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /cargo \(Rust\) is not installed/)
  assert.match(r.stderr, /rustup\.rs/)
})
