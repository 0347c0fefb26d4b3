'use strict'

// IPROTO_ID negotiation (Tarantool 2.10+): feature names as net.box spells them, what kharon
// offers, and the checks made against what the server answered.

const { UnsupportedError } = require('./errors')
const { describe } = require('./args')

/** Feature names by IPROTO_FEATURE id (iproto_features.h). */
const FEATURE_NAMES = Object.freeze([
  'streams',
  'transactions',
  'error_extension',
  'watchers',
  'pagination',
  'space_and_index_names',
  'watch_once',
  'dml_tuple_extension',
  'call_ret_tuple_extension',
  'call_arg_tuple_extension',
  'fetch_snapshot_cursor',
  'is_sync',
  'insert_arrow',
])

/** The IPROTO version that introduced the newest features kharon speaks (tuple extensions). */
const PROTOCOL_VERSION = 5

/** What kharon implements, and so offers by default. */
const IMPLEMENTED = Object.freeze([
  'error_extension',
  'pagination',
  'space_and_index_names',
  'dml_tuple_extension',
  'call_ret_tuple_extension',
])

const UNNEGOTIATED = Object.freeze({ version: 0, features: Object.freeze([]) })

function featureName(id) {
  return FEATURE_NAMES[id] ?? `feature_${id}`
}

/** `{ version, features }` (names) from the native connection's numbers. */
function protocolOf(version, ids) {
  if (version === 0 && ids.length === 0) return UNNEGOTIATED
  return Object.freeze({ version, features: Object.freeze(ids.map(featureName)) })
}

/** The `features` connect option as the ids to offer; the default is all kharon implements. */
function offeredFeatureIds(features) {
  if (features === undefined) return IMPLEMENTED.map((name) => FEATURE_NAMES.indexOf(name))
  if (!Array.isArray(features)) throw new TypeError(`features must be an array of feature names, got ${describe(features)}`)
  return features.map((name) => {
    if (!IMPLEMENTED.includes(name)) {
      throw new TypeError(`kharon cannot offer the feature ${JSON.stringify(name)}: it offers ${IMPLEMENTED.join(', ')}`)
    }
    return FEATURE_NAMES.indexOf(name)
  })
}

/** The `required` connect option, checked: `{ version, features }`. */
function checkRequired(required) {
  if (required === undefined || required === null) return null
  if (typeof required !== 'object') throw new TypeError(`required must be an object, got ${describe(required)}`)
  const version = required.version ?? 0
  if (!Number.isInteger(version) || version < 0) throw new TypeError('required.version must be a non-negative integer')
  const features = required.features ?? []
  if (!Array.isArray(features) || features.some((f) => !FEATURE_NAMES.includes(f))) {
    throw new TypeError(`required.features must be an array of feature names: ${FEATURE_NAMES.join(', ')}`)
  }
  return { version, features: [...features] }
}

/** The error to refuse a connection with when the server falls short of `required`, or null. */
function requirementError(required, protocol, serverVersion) {
  if (required === null) return null
  const missing = required.features.filter((f) => !protocol.features.includes(f))
  const oldVersion = protocol.version < required.version
  if (missing.length === 0 && !oldVersion) return null
  const lacks = []
  if (oldVersion) lacks.push(`IPROTO version ${required.version} (it speaks ${protocol.version})`)
  if (missing.length > 0) lacks.push(`the features ${missing.join(', ')}`)
  return new UnsupportedError(`Tarantool ${serverVersion} lacks what the connection requires: ${lacks.join(' and ')}`, {
    feature: missing[0] ?? 'version',
    serverVersion,
  })
}

/** The error for using `feature` (for `what`) on a server that lacks it. */
function unsupported(feature, what, serverVersion) {
  return new UnsupportedError(`${what} needs the '${feature}' feature, which Tarantool ${serverVersion} lacks`, {
    feature,
    serverVersion,
  })
}

module.exports = {
  FEATURE_NAMES,
  IMPLEMENTED,
  PROTOCOL_VERSION,
  UNNEGOTIATED,
  protocolOf,
  offeredFeatureIds,
  checkRequired,
  requirementError,
  unsupported,
}
