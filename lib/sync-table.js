'use strict'

// The requests awaiting responses, by SYNC. The transport picks each SYNC, so it picks one
// whose slot (the SYNC's low bits) is free: lookups are an array load, with no hashing, no
// tombstones and no rehash as a Map of a thousand requests in flight has on every turnover.

const INITIAL_SLOTS = 1024

class SyncTable {
  constructor() {
    this.size = 0
    this._slots = null
    this._mask = 0
    this._empty(INITIAL_SLOTS)
  }

  /** The entry waiting for `sync`, or undefined. */
  get(sync) {
    const entry = this._slots[sync & this._mask]
    return entry !== undefined && entry._sync === sync ? entry : undefined
  }

  /** Whether a request with `sync` could be added now (its slot is free). */
  fits(sync) {
    return this._slots[sync & this._mask] === undefined
  }

  /** Adds `entry` under `sync`, whose slot must be free (see fits). */
  add(sync, entry) {
    entry._sync = sync
    this._slots[sync & this._mask] = entry
    // Kept at most half full, so a free slot is always near.
    if (++this.size * 2 > this._slots.length) this._resize(this._slots.length * 2)
  }

  /** Removes `entry`, which is in the table. */
  delete(entry) {
    this._slots[entry._sync & this._mask] = undefined
    if (--this.size === 0 && this._slots.length > 16 * INITIAL_SLOTS) this._resize(INITIAL_SLOTS)
  }

  /** Empties the table, returning what was in it. */
  takeAll() {
    const entries = []
    if (this.size > 0) for (const entry of this._slots) if (entry !== undefined) entries.push(entry)
    this.size = 0
    this._empty(INITIAL_SLOTS)
    return entries
  }

  _resize(length) {
    const old = this._slots
    this._empty(length)
    // Distinct under the old mask means distinct under a wider one: nothing collides.
    for (const entry of old) if (entry !== undefined) this._slots[entry._sync & this._mask] = entry
  }

  // An empty table of `length` slots (a power of two).
  _empty(length) {
    this._slots = new Array(length).fill(undefined)
    this._mask = length - 1
  }
}

module.exports = { SyncTable }
