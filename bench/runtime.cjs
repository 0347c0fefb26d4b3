'use strict'

// The same figures under whichever runtime runs this file (Node, Bun, Deno): sequential and
// pipelined calls and pushes against one server. Prints "name<TAB>value" lines.
// Usage: <runtime> bench/runtime.cjs HOST:PORT REPEATS

const kharon = require('..')
const { windows, sequential, bestOf, countPushes, onPushRate } = require('./measure')

async function main() {
  const [target, repeats] = process.argv.slice(2)
  const conn = await kharon.connect(target)
  const echo = () => conn.call('echo', [1])
  const report = (name, value) => console.log(`${name}\t${value.toFixed(3)}`)
  await windows(echo, 20000, 1000) // warm-up
  for (let r = 0; r < Number(repeats); r++) {
    report('sequential_call', await sequential(echo, 10000))
    report('pipelined_1000', await windows(echo, 200000, 1000))
    report('pushes_on_push_short', await bestOf(20, () => onPushRate(conn, 1000)))
    report('pushes_for_await_long', await countPushes(conn.call('pushes', [1000000])))
  }
  await conn.close()
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
