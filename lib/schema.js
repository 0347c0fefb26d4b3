'use strict'

// Space and index names, fetched from _vspace/_vindex. Every response carries the server's
// schema version; when it moves on, the next name lookup refetches. Concurrent lookups share
// one fetch, so a burst of requests by name on a fresh connection costs a single round trip.

const { TarantoolError } = require('./errors')
const { debug } = require('./debug')

const VSPACE = 281
const VINDEX = 289
const ER_NO_SUCH_SPACE = 36
const ER_NO_SUCH_INDEX_NAME = 148

class Space {
  constructor(id, name, fieldNames) {
    this.id = id
    this.name = name
    this.fieldNames = fieldNames
    this.indexes = new Map()
  }
}

class Schema {
  #fetchAll
  #fetching = null
  version = -1
  fetches = 0
  byName = new Map()
  byId = new Map()

  /** `fetchAll(spaceId)` resolves to { tuples, schemaVersion } of a full select. */
  constructor(fetchAll) {
    this.#fetchAll = fetchAll
  }

  /** Fetches now, or joins the fetch already under way. */
  refresh() {
    if (this.#fetching === null) {
      this.fetches++
      this.#fetching = Promise.all([this.#fetchAll(VSPACE), this.#fetchAll(VINDEX)])
        .then(([spaces, indexes]) => this.#load(spaces, indexes))
        .finally(() => {
          this.#fetching = null
        })
    }
    return this.#fetching
  }

  #load(spaces, indexes) {
    const byName = new Map()
    const byId = new Map()
    for (const t of spaces.tuples) {
      const format = Array.isArray(t[6]) ? t[6] : []
      const space = new Space(t[0], t[2], format.map((f, i) => (f && typeof f.name === 'string' ? f.name : String(i))))
      byName.set(space.name, space)
      byId.set(space.id, space)
    }
    for (const t of indexes.tuples) {
      const space = byId.get(t[0])
      if (space !== undefined) space.indexes.set(t[2], t[1])
    }
    this.byName = byName
    this.byId = byId
    this.version = Math.min(spaces.schemaVersion, indexes.schemaVersion)
    if (debug.enabled) debug('schema: fetched %d spaces and %d indexes (schema version %d)', spaces.tuples.length, indexes.tuples.length, this.version)
  }

  /**
   * [spaceId, indexId] when both are known under `currentVersion`; null when a fetch is due
   * (an unknown name, or DDL since the last fetch). Numeric ids need no schema unless
   * `needsFormat` (the space's field names will be used).
   */
  tryResolve(space, index, currentVersion, needsFormat = false) {
    if (typeof space === 'number' && typeof index === 'number' && !needsFormat) return [space, index]
    if (currentVersion !== this.version) return null
    const sid = typeof space === 'number' ? space : this.byName.get(space)?.id
    if (sid === undefined) return null
    if (typeof index === 'number') return [sid, index]
    const iid = this.byId.get(sid)?.indexes.get(index)
    return iid === undefined ? null : [sid, iid]
  }

  /** Like tryResolve after a fresh fetch: unknown names are errors now. */
  resolve(space, index) {
    const sid = typeof space === 'number' ? space : this.byName.get(space)?.id
    if (sid === undefined) {
      throw new TarantoolError(`Space '${space}' does not exist`, 'ER_NO_SUCH_SPACE', ER_NO_SUCH_SPACE)
    }
    if (typeof index === 'number') return [sid, index]
    const iid = this.byId.get(sid)?.indexes.get(index)
    if (iid === undefined) {
      const spaceName = this.byId.get(sid)?.name ?? sid
      throw new TarantoolError(
        `No index '${index}' is defined in space '${spaceName}'`, 'ER_NO_SUCH_INDEX_NAME', ER_NO_SUCH_INDEX_NAME,
      )
    }
    return [sid, iid]
  }

  fieldNames(spaceId) {
    return this.byId.get(spaceId)?.fieldNames
  }
}

module.exports = { Schema }
