'use strict'

// The scripted peer (helpers/recorded-peer.js) replays transcripts of a real Tarantool 3.3.0.
// kharon's 2.10+ behaviour is tested against a real server instead (features-3x.test.js and the
// file of each subject, with TARANTOOL naming a 3.x binary); the peer is kept for what a real
// server will not do on demand. This file only checks that the fixtures are those transcripts.

const { test } = require('node:test')
const assert = require('node:assert/strict')

const { loadScenario } = require('./helpers/recorded-peer')

test('the fixtures are the recorded transcripts (a 3.3.0 greeting)', () => {
  const greeting = loadScenario('01-greeting-id').frames[0].greeting
  assert.match(greeting, /^Tarantool 3\.3\.0 \(Binary\) /)
})
