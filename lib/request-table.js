'use strict'

// The requests awaiting responses, by SYNC. The table picks each SYNC, so it picks one whose
// slot (the SYNC's low bits) is free: a lookup is an array load, with no hashing, no tombstones
// and no rehash as a Map of a thousand requests in flight has on every turnover.

const INITIAL_SLOTS = 1024

class RequestTable {
  size = 0
  #slots = null
  #mask = 0
  #nextSync = 1
  // SYNCs given up on (timeout, abort) whose response has not come yet: not reused until it
  // comes, so a late response can never be taken for a newer request's.
  #forgotten = new Set()

  constructor() {
    this.#empty(INITIAL_SLOTS)
  }

  /** The SYNC the next request will get (u32; wraps to 0, skipping ids still in use). */
  get nextSync() {
    let sync = this.#nextSync
    while (this.#inUse(sync)) sync = (sync + 1) >>> 0
    return sync
  }

  set nextSync(sync) {
    this.#nextSync = sync
  }

  /**
   * A SYNC for a request nothing waits for (it takes no slot). `answered`: the server answers it
   * all the same (a PING): the SYNC is then forgotten at once, so that the answer is dropped.
   */
  takeSync(answered = false) {
    let sync = this.#nextSync
    while (this.#inUse(sync)) sync = (sync + 1) >>> 0
    this.#nextSync = (sync + 1) >>> 0
    if (answered) this.#forgotten.add(sync)
    return sync
  }

  /** Adds `entry` under a free SYNC, which it returns (and sets as `entry._sync`). */
  add(entry) {
    const sync = this.takeSync()
    entry._sync = sync
    this.#slots[sync & this.#mask] = entry
    // Kept at most half full, so a free slot is always near.
    if (++this.size * 2 > this.#slots.length) this.#resize(this.#slots.length * 2)
    return sync
  }

  /** The entry waiting for `sync`, or undefined. */
  get(sync) {
    const entry = this.#slots[sync & this.#mask]
    return entry !== undefined && entry._sync === sync ? entry : undefined
  }

  /** Removes `entry`, which is in the table: its answer came. */
  delete(entry) {
    this.#slots[entry._sync & this.#mask] = undefined
    if (--this.size === 0 && this.#slots.length > 16 * INITIAL_SLOTS) this.#resize(INITIAL_SLOTS)
  }

  /** Removes `entry`, given up on before its answer came: its SYNC stays taken until it does. */
  forget(entry) {
    this.delete(entry)
    this.#forgotten.add(entry._sync)
  }

  /**
   * A final answer to `sync` came that no entry waits for: true when it is the late answer to a
   * SYNC forgotten (which is free again), false for a stray.
   */
  unmatched(sync) {
    return this.#forgotten.size !== 0 && this.#forgotten.delete(sync)
  }

  /** Whether `sync` was given up on and its final answer has not come yet. */
  isForgotten(sync) {
    return this.#forgotten.size !== 0 && this.#forgotten.has(sync)
  }

  /** Empties the table, returning what was in it. */
  takeAll() {
    const entries = []
    if (this.size > 0) for (const entry of this.#slots) if (entry !== undefined) entries.push(entry)
    this.size = 0
    this.#forgotten.clear()
    this.#empty(INITIAL_SLOTS)
    return entries
  }

  #inUse(sync) {
    // A slot taken by another SYNC rules this one out too: the table needs a free slot.
    return this.#slots[sync & this.#mask] !== undefined || (this.#forgotten.size !== 0 && this.#forgotten.has(sync))
  }

  #resize(length) {
    const old = this.#slots
    this.#empty(length)
    // Distinct under the old mask means distinct under a wider one: nothing collides.
    for (const entry of old) if (entry !== undefined) this.#slots[entry._sync & this.#mask] = entry
  }

  // An empty table of `length` slots (a power of two).
  #empty(length) {
    this.#slots = new Array(length).fill(undefined)
    this.#mask = length - 1
  }
}

module.exports = { RequestTable }
