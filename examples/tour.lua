-- The server of the README's tour and of the examples: `tarantool tour.lua` in an empty directory.
local fiber = require('fiber')
local major, minor = require('tarantool').version:match('^(%d+)%.(%d+)')

box.cfg{
  listen = 3301,
  -- interactive transactions need MVCC: on from 2.10, the first version that has them
  memtx_use_mvcc_engine = tonumber(major) > 2 or tonumber(minor) >= 10 or nil,
}

box.schema.user.create('app', { password = 'secret', if_not_exists = true })
box.schema.user.grant('app', 'read,write,execute', 'universe', nil, { if_not_exists = true })

box.schema.space.create('users', { if_not_exists = true, format = { { 'id', 'unsigned' }, { 'name', 'string' } } })
  :create_index('pk', { if_not_exists = true })
box.schema.space.create('accounts', { if_not_exists = true, format = { { 'id', 'unsigned' }, { 'balance', 'integer' } } })
  :create_index('pk', { if_not_exists = true })
box.execute([[CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name STRING)]])

function greet(name) return 'Hello, ' .. name end

-- box.session.push() sends a message before the result: kharon iterates them.
function count_to(n, delay)
  for i = 1, n do
    if delay ~= nil then fiber.sleep(delay) end
    box.session.push(i)
  end
  return 'done'
end

function sleep_for(seconds) fiber.sleep(seconds) return seconds end
