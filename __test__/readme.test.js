'use strict'

// Every code block of README.md runs. The ```lua, ```js and ```ts blocks are taken from the
// README and run against real Tarantool servers (the binary TARANTOOL names; CI runs the suite
// on 2.6 and 3.8), so a sample that fails as written fails here. ```sh and other blocks are not
// run.
//
// What a block needs is said in an HTML comment on the line before its fence (GitHub and npm do
// not show it), as `key=value` pairs; a value with spaces is quoted:
//
//   <!-- readme-test: serves=NAME -->   a Lua block that is the script of server NAME, run as its
//                                       reader would (`tarantool NAME.lua` in an empty directory)
//   <!-- readme-test: server=NAME -->   a js/ts block runs against a fresh NAME server; server=A,B
//                                       starts two, where the block says port 3301 and 3302; a Lua
//                                       block is fed to a fresh NAME server after its script
//   <!-- readme-test: setup=conn -->    a fragment: it runs after SETUPS.conn (the README says in
//                                       prose what the fragment assumes) and before its teardown
//   <!-- readme-test: server=cluster -->  a js/ts block runs against a sharded cluster (vshard and
//                                       crud, __test__/helpers/cluster.js): port 3301 is its router;
//                                       skipped, saying why, where the modules are missing
//   <!-- readme-test: needs=2.10 -->    skipped, saying so, on an older server
//   <!-- readme-test: skip="REASON" --> never run, reported as a skip with REASON
//
// Port numbers 3301, 3302 in a block are replaced by the test servers' ports; a serves block's
// box.cfg{} listens on the test's address whatever it says (fixtures/readme/run-script.lua).
// A js block runs as an ES module (.mjs), in a directory where `kharon` resolves to this package,
// as a child process that must exit with code 0 within BLOCK_TIMEOUT_MS. A ts block is
// type-checked with the repo's TypeScript (strict, nodenext, verbatimModuleSyntax: the settings
// a project running .mts files directly needs), then its JavaScript runs the same way. Servers
// are killed after each block (and at exit, by the helpers), children after their timeout.

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { TarantoolServer, freePort, serverVersion, atLeast, stopAll } = require('./helpers/tarantool')
const { startCluster, clusterSkipReason } = require('./helpers/cluster')

const ROOT = path.join(__dirname, '..')
const README = path.join(ROOT, 'README.md')
const RUN_SCRIPT = path.join(__dirname, 'fixtures', 'readme', 'run-script.lua')
const BLOCK_TIMEOUT_MS = 30000
const TSC_TIMEOUT_MS = 120000
const TIMEOUT = { timeout: 180000 } // per block: its servers, tsc and the child together
const SUITE_TIMEOUT = { timeout: 600000 }
const PORTS = [3301, 3302, 3303] // as the README writes them, for the 1st, 2nd, 3rd server

// What a `setup=` fragment runs after and before. The README shows the same lines where the
// tour begins ("the snippets after it use that `conn`, and its `uri`").
const SETUPS = {
  conn: {
    before: [
      "import { connect } from 'kharon'",
      "const uri = 'app:secret@localhost:3301'",
      'const conn = await connect(uri)',
    ].join('\n'),
    after: 'await conn.close()',
  },
}

const KEYS = new Set(['serves', 'server', 'setup', 'needs', 'skip'])
const RUN_LANGS = new Set(['js', 'ts', 'lua'])

// ---------------------------------------------------------------------------------------------
// README.md's blocks

/** Every fenced block: { lang, code, line (of the fence, 1-based), heading, first, options }. */
function readmeBlocks(text = fs.readFileSync(README, 'utf8')) {
  const lines = text.split('\n')
  const blocks = []
  let heading = '(top)'
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{1,6}\s+(.*)$/.exec(lines[i])
    if (h) heading = h[1].trim()
    // a fence, maybe indented (a block inside a list item): its indent is not the code's
    const fence = /^(\s*)```(\w*)\s*$/.exec(lines[i])
    if (!fence) continue
    const indent = fence[1]
    const start = i
    const body = []
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) {
      body.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i].trimStart())
    }
    if (i === lines.length) throw new Error(`README.md:${start + 1}: a code block that never closes`)
    let j = start - 1
    while (j >= 0 && lines[j].trim() === '') j--
    const marker = j >= 0 ? /^\s*<!--\s*readme-test:(.*?)-->\s*$/.exec(lines[j]) : null
    blocks.push({
      lang: fence[2],
      code: body.join('\n'),
      line: start + 1,
      heading,
      first: (body.find((l) => l.trim() !== '') || '').trim(),
      options: marker ? parseOptions(marker[1], start + 1) : {},
      marked: marker !== null,
    })
  }
  return blocks
}

function parseOptions(text, line) {
  const options = {}
  const rest = text.replace(/(\w+)=("([^"]*)"|\S+)/g, (_, key, raw, quoted) => {
    if (!KEYS.has(key)) throw new Error(`README.md:${line}: unknown readme-test key ${key}`)
    options[key] = quoted !== undefined ? quoted : raw
    return ''
  })
  if (rest.trim() !== '') throw new Error(`README.md:${line}: cannot read ${JSON.stringify(rest.trim())} in a readme-test comment`)
  return options
}

function nameOf(block) {
  const first = block.first.length > 70 ? `${block.first.slice(0, 67)}...` : block.first
  return `README.md:${block.line} [${block.lang}] ${block.heading}: ${first}`
}

/** The block's code with the README's ports replaced by the servers'. */
function withPorts(code, servers) {
  return code.replace(/\b(330[1-9])\b/g, (m) => {
    const i = PORTS.indexOf(Number(m))
    if (i < 0 || servers[i] === undefined) return m
    return String(servers[i].port)
  })
}

// ---------------------------------------------------------------------------------------------
// servers and children

/** A README server: run-script.lua running the serves block's script (and maybe a Lua block). */
class ReadmeServer extends TarantoolServer {
  constructor(options, scriptFile, moreFile) {
    super({ ...options, script: RUN_SCRIPT })
    this.extra = moreFile ? [scriptFile, moreFile] : [scriptFile]
  }

  get args() {
    return this.extra
  }
}

async function startReadmeServer(name, moreFile) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-readme-'))
  const scriptFile = fileFor(serverScripts.get(name), 'lua')
  const server = new ReadmeServer({ port: await freePort(), dir, name: `server ${name}` }, scriptFile, moreFile)
  try {
    return await server.start()
  } catch (err) {
    await server.stop()
    throw err
  }
}

/** Runs `file` with node in `cwd`; resolves to { code, signal, out } once it exits or is killed. */
function runNode(file, cwd, timeoutMs = BLOCK_TIMEOUT_MS) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
    let out = ''
    const keep = (d) => { out = (out + d).slice(-32 * 1024) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, timedOut })
    })
  })
}

// ---------------------------------------------------------------------------------------------
// the tests

const blocks = readmeBlocks()
const runnable = blocks.filter((b) => RUN_LANGS.has(b.lang))
const serverScripts = new Map() // name -> the serves block
for (const b of runnable) {
  if (b.options.serves !== undefined) serverScripts.set(b.options.serves, b)
}

let work // a directory where `kharon` resolves to this package, as after `npm install kharon`

function fileFor(block, ext) {
  return path.join(work, `block-${block.line}.${ext}`)
}

/** The program a js/ts block runs as: its setup around it. */
function programOf(block) {
  const setup = block.options.setup === undefined ? null : SETUPS[block.options.setup]
  if (setup === null) return { code: block.code, offset: 0 }
  return { code: `${setup.before}\n${block.code}\n${setup.after}\n`, offset: setup.before.split('\n').length }
}

let tscResult = null
/** tsc over every ts block at once (one compiler start); errors by file. */
function typeCheck() {
  if (tscResult !== null) return tscResult
  tscResult = new Promise((resolve) => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const child = spawn(process.execPath, [tsc, '--noEmit', '-p', work], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), TSC_TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out })
    })
  })
  return tscResult
}

function tsErrorsOf(block, { out, code, signal }) {
  if (signal) return `tsc was killed (${signal}) after ${TSC_TIMEOUT_MS} ms`
  const base = path.basename(fileFor(block, 'mts'))
  const offset = programOf(block).offset
  const mine = out.split('\n').filter((l) => l.startsWith(base)).map((l) =>
    // block-N.mts(L,C): ... -> README.md:(line of L)
    l.replace(/^[^(]+\((\d+),(\d+)\)/, (_, ln, col) => `README.md:${block.line + Number(ln) - offset}:${col}`))
  if (mine.length > 0) return mine.join('\n')
  if (code !== 0 && !out.includes('block-')) return `tsc failed:\n${out}`
  return null
}

describe('README.md', SUITE_TIMEOUT, () => {
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'kharon-readme-blocks-'))
    fs.mkdirSync(path.join(work, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(work, 'node_modules', 'kharon'), 'dir')
    fs.writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'es2022',
        lib: ['es2022', 'esnext.disposable'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        verbatimModuleSyntax: true,
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        noEmit: true,
        skipLibCheck: false,
      },
      include: ['*.mts'],
    }, null, 2))
    for (const b of runnable) {
      if (b.lang === 'lua') fs.writeFileSync(fileFor(b, 'lua'), b.code + '\n')
      if (b.lang === 'ts') fs.writeFileSync(fileFor(b, 'mts'), programOf(b).code)
    }
  })

  after(async () => {
    await stopAll()
    if (work) fs.rmSync(work, { recursive: true, force: true })
  })

  test('every block to run is marked as it should be', () => {
    const problems = []
    for (const b of runnable) {
      const o = b.options
      const where = `README.md:${b.line}`
      if (b.lang === 'lua' && o.serves === undefined && o.server === undefined && o.skip === undefined) {
        problems.push(`${where}: a Lua block says neither serves= nor server=`)
      }
      if (o.serves !== undefined && b.lang !== 'lua') problems.push(`${where}: serves= is for Lua blocks`)
      if (o.serves !== undefined && serverScripts.get(o.serves) !== b) problems.push(`${where}: a second server named ${o.serves}`)
      for (const name of (o.server || '').split(',').filter(Boolean)) {
        if (name !== 'cluster' && !serverScripts.has(name)) problems.push(`${where}: no Lua block serves=${name}`)
      }
      if (o.setup !== undefined && !SETUPS[o.setup]) problems.push(`${where}: no setup named ${o.setup}`)
      if (o.setup !== undefined && b.lang === 'lua') problems.push(`${where}: setup= is for js/ts blocks`)
      if (o.needs !== undefined && !/^\d+\.\d+$/.test(o.needs)) problems.push(`${where}: needs= takes a version such as 2.10`)
      if (o.skip !== undefined && o.skip.trim().length < 10) problems.push(`${where}: skip= needs its reason`)
    }
    for (const b of blocks) {
      if (b.marked && !RUN_LANGS.has(b.lang)) problems.push(`README.md:${b.line}: a readme-test comment on a \`\`\`${b.lang} block, which is not run`)
    }
    assert.deepEqual(problems, [])
    assert.ok(runnable.length >= 10, `only ${runnable.length} blocks found: is the README read right?`)
  })

  test('examples/tour.lua is the server the README tour shows', () => {
    const tour = serverScripts.get('tour')
    assert.ok(tour, 'the README has a Lua block marked serves=tour')
    assert.equal(fs.readFileSync(path.join(ROOT, 'examples', 'tour.lua'), 'utf8').trimEnd(), tour.code.trimEnd())
  })

  test('examples need nothing from __test__/ (they are what the README points to)', () => {
    const bad = []
    for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) {
      const text = fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8')
      if (/__test__/.test(text.replace(/^\s*(\/\/|--).*$/gm, ''))) bad.push(f)
    }
    assert.deepEqual(bad, [])
  })

  test('every file the README names is in the repository', () => {
    const text = fs.readFileSync(README, 'utf8')
    const named = new Set()
    for (const m of text.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) named.add(m[1])
    for (const m of text.matchAll(/`((?:examples|bench|__test__|scripts|src|lib|npm)\/[\w./-]*)`/g)) named.add(m[1])
    const missing = [...named].filter((p) => !fs.existsSync(path.join(ROOT, p)))
    assert.deepEqual(missing, [])
  })

  for (const block of runnable) {
    test(nameOf(block), TIMEOUT, async (t) => {
      const o = block.options
      if (o.skip !== undefined) return t.skip(o.skip)
      if ((o.server || '').split(',').includes('cluster') && clusterSkipReason()) return t.skip(clusterSkipReason())
      if (o.needs !== undefined) {
        const [major, minor] = o.needs.split('.').map(Number)
        if (!atLeast(major, minor)) return t.skip(`needs Tarantool ${o.needs}+; this server is ${serverVersion().release}`)
      }
      if (block.lang === 'lua') return runLua(block)
      const out = await runJs(block)
      // What the block printed, to compare with what its comments say.
      if (out.trim() !== '') t.diagnostic(out.trimEnd())
    })
  }
})

async function runLua(block) {
  const o = block.options
  if (o.serves !== undefined) {
    // The server starts (its script ran to the end without an error) and greets.
    const server = await startReadmeServer(o.serves)
    await server.stop()
    return
  }
  const server = await startReadmeServer(o.server, fileFor(block, 'lua'))
  await server.stop()
}

// A sharded cluster as a README server: its first router where the block says 3301.
async function readmeCluster() {
  const cluster = await startCluster({ routers: 1 })
  return { name: 'cluster', port: cluster.routers[0].port, output: '', stop: () => cluster.stop() }
}

async function runJs(block) {
  const o = block.options
  if (block.lang === 'ts') {
    const errors = tsErrorsOf(block, await typeCheck())
    assert.equal(errors, null, `the TypeScript does not compile:\n${errors}`)
  }
  const servers = []
  try {
    for (const name of (o.server || '').split(',').filter(Boolean)) {
      servers.push(name === 'cluster' ? await readmeCluster() : await startReadmeServer(name))
    }
    let code = withPorts(programOf(block).code, servers)
    if (block.lang === 'ts') {
      const ts = require('typescript')
      code = ts.transpileModule(code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        fileName: path.basename(fileFor(block, 'mts')),
      }).outputText
    }
    const file = fileFor(block, 'mjs')
    fs.writeFileSync(file, code)
    const r = await runNode(file, work)
    const how = r.timedOut ? `did not finish within ${BLOCK_TIMEOUT_MS} ms` : `exited with ${r.signal || `code ${r.code}`}`
    assert.ok(!r.timedOut && r.code === 0, `the block ${how}; its output:\n${r.out}` +
      servers.map((s) => `--- ${s.name} (${s.port}) output ---\n${s.output}`).join('\n'))
    return r.out
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

