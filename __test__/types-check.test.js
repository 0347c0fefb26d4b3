'use strict'

// index.d.ts against a program that uses the whole public API: __test__/api.ts is type-checked
// with `tsc --noEmit` (strict), never run. Its `@ts-expect-error` lines make sure misuse is
// rejected too, so the check is not vacuous.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const TIMEOUT = { timeout: 180000 } // for each test: nothing here may hang the run (tsc is given 120 s)

test('__test__/api.ts type-checks against index.d.ts', TIMEOUT, () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join('__test__', 'tsconfig.json')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120000,
  })
  assert.equal(r.error, undefined, r.error && r.error.message)
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`)
})

// ---------------------------------------------------------------------------------------------
// index.d.ts against what index.js really exports, read with the TypeScript compiler API.

let cached = null

function declarations() {
  if (cached !== null) return cached
  const ts = require('typescript')
  const file = path.join(ROOT, 'index.d.ts')
  const program = ts.createProgram([file], { strict: true, types: ['node'], lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'] })
  const checker = program.getTypeChecker()
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file))
  cached = { ts, checker, file, exports: checker.getExportsOfModule(moduleSymbol) }
  return cached
}

test('every value index.d.ts declares exists in index.js, and nothing undeclared is exported', TIMEOUT, () => {
  const { ts, exports } = declarations()
  const declared = exports.filter((s) => s.flags & ts.SymbolFlags.Value).map((s) => s.name).sort()
  const actual = Object.keys(require('..')).sort()
  assert.deepEqual(
    { declaredButMissing: declared.filter((n) => !actual.includes(n)), exportedButUndeclared: actual.filter((n) => !declared.includes(n)) },
    { declaredButMissing: [], exportedButUndeclared: [] },
  )
})

test('IPROTO in index.d.ts has the runtime values', TIMEOUT, () => {
  const { checker, exports } = declarations()
  const sym = exports.find((s) => s.name === 'IPROTO')
  const type = checker.getTypeOfSymbolAtLocation(sym, sym.valueDeclaration)
  const declared = {}
  for (const prop of type.getProperties()) {
    declared[prop.name] = checker.getTypeOfSymbolAtLocation(prop, sym.valueDeclaration).value
  }
  assert.deepEqual(declared, { ...require('..').IPROTO })
})

test('the methods index.d.ts declares on each class exist at runtime', TIMEOUT, () => {
  const { ts, checker, file, exports } = declarations()
  const runtime = require('..')
  const missing = []
  // members declared in index.d.ts itself (not those inherited from Error or EventEmitter)
  const ours = (prop) => prop.flags & ts.SymbolFlags.Method &&
    (prop.declarations || []).some((d) => path.resolve(d.getSourceFile().fileName) === file)
  for (const sym of exports) {
    if (!(sym.flags & ts.SymbolFlags.Class) || runtime[sym.name] === undefined) continue
    const cls = runtime[sym.name]
    const instanceType = checker.getDeclaredTypeOfSymbol(sym)
    for (const prop of instanceType.getProperties()) {
      if (!ours(prop)) continue
      // well-known symbols appear as '__@asyncIterator@123'
      const key = prop.name.startsWith('__@') ? Symbol[prop.name.slice(3).split('@')[0]] : prop.name
      if (typeof cls.prototype[key] !== 'function') missing.push(`${sym.name}#${String(key)}`)
    }
    const staticType = checker.getTypeOfSymbolAtLocation(sym, sym.valueDeclaration)
    for (const prop of staticType.getProperties()) {
      if (ours(prop) && typeof cls[prop.name] !== 'function') missing.push(`${sym.name}.${prop.name}`)
    }
  }
  assert.deepEqual(missing, [])
})

// The request methods are one list (lib/request-methods.js checkArguments, which each method runs first):
// Connection, Stream and Pool have each of them at runtime and in index.d.ts.
test('every request method is on Connection, Stream and Pool, at runtime and in index.d.ts', TIMEOUT, () => {
  const { checkArguments } = require('../lib/request-methods')
  const { checker, exports } = declarations()
  const runtime = require('..')
  const missing = []
  for (const className of ['Connection', 'Stream', 'Pool']) {
    const sym = exports.find((s) => s.name === className)
    const declared = new Set(checker.getDeclaredTypeOfSymbol(sym).getProperties().map((p) => p.name))
    for (const method of Object.keys(checkArguments)) {
      if (typeof runtime[className].prototype[method] !== 'function') missing.push(`${className}#${method} at runtime`)
      if (!declared.has(method)) missing.push(`${className}#${method} in index.d.ts`)
    }
  }
  assert.ok(Object.keys(checkArguments).length >= 11, 'the list of request methods is too short to be the real one')
  assert.deepEqual(missing, [])
})
