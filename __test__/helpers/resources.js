'use strict'

// What a process holds, for the tests that check kharon gives it back.

const fs = require('node:fs')

/** File descriptors this process has open now (Linux). */
function openFds() {
  return fs.readdirSync('/proc/self/fd').length
}

/**
 * The most open fds may differ by between two quiet moments: the runtime's own threads and
 * pipes come and go, but never one per connection.
 */
const FD_SLACK = 5

module.exports = { openFds, FD_SLACK }
