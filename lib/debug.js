'use strict'

// NODE_DEBUG=kharon: one line per connection event on stderr (util.debuglog). Callers test
// `debug.enabled` first, so nothing is formatted when it is off.

const { debuglog } = require('node:util')

const debug = debuglog('kharon')

/** 'host:port' or the unix socket path, for log lines. */
function addressOf(o) {
  return o.path !== undefined ? o.path : `${o.host ?? 'localhost'}:${o.port}`
}

/** The first bytes of a frame as hex, for a log line about a frame that could not be used. */
function firstBytes(buf, start, end, count = 16) {
  return buf.subarray(start, Math.min(end, start + count)).toString('hex').replace(/(..)(?!$)/g, '$1 ')
}

module.exports = { debug, addressOf, firstBytes }
