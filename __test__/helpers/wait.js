'use strict'

// Small waiting helpers shared by the tests.

const assert = require('node:assert/strict')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The error a promise (or a function, which may also throw synchronously) fails with. */
async function rejection(promiseOrFn) {
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn)
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

/** `promise`, or an error naming `what` when it takes longer than `ms`. */
function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** The next `event` of `emitter`. */
function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve))
}

/** Polls `cond` (may be async) every 10 ms until it is truthy; fails naming `what` after `ms`. */
async function waitFor(cond, ms, what) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`)
    await sleep(10)
  }
}

module.exports = { sleep, rejection, withTimeout, next, waitFor }
