// Run by Bun and Deno from __test__/runtimes.test.js: kharon imported as an ES module
// (index.mjs). `<runtime> esm.mjs <port> [readPath]`: one call, then nothing left open but the
// connection, which must not keep the process alive.
import { connect } from '../../index.mjs'

const [port, readPath] = process.argv.slice(2)
const conn = await connect({ host: '127.0.0.1', port: Number(port), ...(readPath === undefined ? {} : { readPath }) })
console.log(JSON.stringify({ step: 'esm', value: { readPath: conn.transport.readPath, echo: await conn.call('echo', ['from an ES module']) } }))
