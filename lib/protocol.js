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

/**
 * The IPROTO version kharon speaks: 10, Tarantool 3.8's. kharon implements every feature up to
 * it but two Enterprise ones it does not send (fetch_snapshot_cursor, a replication cursor, and
 * insert_arrow: Community engines refuse Arrow inserts; `transport.request` can send one).
 */
const PROTOCOL_VERSION = 10

/** What kharon implements, and so offers by default. */
const IMPLEMENTED = Object.freeze([
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
  'is_sync',
])

const UNNEGOTIATED = Object.freeze({ version: 0, features: Object.freeze([]), authType: null })

function featureName(id) {
  return FEATURE_NAMES[id] ?? `feature_${id}`
}

/** `{ version, features, authType }` (names) from the native connection's numbers. */
function protocolOf(version, ids, authType) {
  if (version === 0 && ids.length === 0 && authType == null) return UNNEGOTIATED
  return Object.freeze({ version, features: Object.freeze(ids.map(featureName)), authType: authType ?? null })
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
  if (!Array.isArray(features)) throw new TypeError(`required.features must be an array of feature names, got ${describe(features)}`)
  const unknown = features.find((f) => !FEATURE_NAMES.includes(f))
  if (unknown !== undefined) {
    const named = typeof unknown === 'string' ? `'${unknown}'` : describe(unknown)
    throw new TypeError(`required.features names ${named}, which is no IPROTO feature kharon knows: ${FEATURE_NAMES.join(', ')}`)
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

/**
 * The `authType` connect option: 'chap-sha1', the method kharon signs in with. pap-sha256 sends
 * the password itself, which Tarantool allows only over SSL, and kharon does not speak SSL.
 */
function checkAuthType(authType) {
  if (authType === undefined || authType === 'chap-sha1') return
  if (authType === 'pap-sha256') {
    throw new UnsupportedError('kharon does not do pap-sha256 authentication (Tarantool Enterprise, over SSL only); it signs in with chap-sha1', {
      feature: 'pap-sha256',
      serverVersion: undefined,
    })
  }
  throw new TypeError(`authType must be 'chap-sha1' (or Enterprise's 'pap-sha256'), got ${describe(authType)}`)
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
  checkAuthType,
  offeredFeatureIds,
  checkRequired,
  requirementError,
  unsupported,
}
