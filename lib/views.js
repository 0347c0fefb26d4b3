'use strict'

// Buffers over bytes already in memory, made the way Node makes its own: `new FastBuffer()`
// (Buffer[Symbol.species], whose prototype is Buffer.prototype). Buffer#subarray checks its
// arguments and reads `.buffer` (a C++ getter) every time; views of one delivery, made one
// per push, share that read here. The last buffer seen is kept until the next one comes.

const FastBuffer = Buffer[Symbol.species]?.prototype === Buffer.prototype ? Buffer[Symbol.species] : null

let lastBuf = null
let lastArrayBuffer = null
let lastOffset = 0

function fastView(buf, start, end) {
  if (buf !== lastBuf) {
    lastBuf = buf
    lastArrayBuffer = buf.buffer
    lastOffset = buf.byteOffset
  }
  return new FastBuffer(lastArrayBuffer, lastOffset + start, end - start)
}

/** A Buffer over buf[start..end] (no copy). */
const view = FastBuffer === null ? (buf, start, end) => buf.subarray(start, end) : fastView

/** A Buffer of its own holding a copy of buf[start..end]. */
function copyOf(buf, start, end) {
  const copy = Buffer.allocUnsafe(end - start)
  buf.copy(copy, 0, start, end)
  return copy
}

module.exports = { view, copyOf }
