'use strict'

// Connection URIs, as net.box and the Tarantool docs write them.

/**
 * Parses 'host:port', 'port', 'user:pass@host:port', 'unix/:/path/to.sock',
 * 'user:pass@unix/:/path' (an optional 'tarantool://' prefix is allowed).
 */
function parseUri(uri) {
  let rest = uri.replace(/^tarantool:\/\//, '')
  const out = {}
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = userinfo.indexOf(':')
    out.user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon))
    if (colon >= 0) out.password = decodeURIComponent(userinfo.slice(colon + 1))
  }
  if (rest.startsWith('unix/:')) {
    out.path = rest.slice('unix/:'.length)
    return out
  }
  if (/^\d+$/.test(rest)) {
    out.port = Number(rest)
    return out
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(rest)
  if (m === null) {
    throw new TypeError(`cannot parse the URI ${JSON.stringify(withoutPassword(uri))}: expected host:port, port or unix/:path`)
  }
  out.host = m[1].replace(/^\[|\]$/g, '')
  out.port = Number(m[2])
  return out
}

/**
 * 'user:pass@host:port' as 'user@host:port': a URI as kharon shows it (in errors, events,
 * stats), never with its password.
 */
function withoutPassword(uri) {
  const at = uri.lastIndexOf('@')
  if (at < 0) return uri
  const colon = uri.indexOf(':', uri.startsWith('tarantool://') ? 'tarantool://'.length : 0)
  return colon >= 0 && colon < at ? uri.slice(0, colon) + uri.slice(at) : uri
}

module.exports = { parseUri, withoutPassword }
