-- Tarantool instance for __test__/bucket-id.test.js: server.lua's conventions (usage:
-- tarantool bucket-id.lua LISTEN WORKDIR, the same ready line). It answers what vshard's two
-- hashes see of the keys a client sends: Tarantool's own digest.crc32, tostring() and
-- msgpackffi.encode() of each decoded value (no modules needed), and, once use_modules(dir) has
-- put the modules folder on package.path, vshard.hash itself.
local listen, dir = arg[1], arg[2]
box.cfg({listen = listen, log_level = 2, memtx_dir = dir, wal_dir = dir, vinyl_dir = dir,
         work_dir = dir, wal_mode = 'none'})
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})

local digest = require('digest')
local msgpackffi = require('msgpackffi')

local function hex(s)
    return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end))
end

-- digest.crc32 of each string.
function crc32_each(strings)
    local out = {}
    for i = 1, #strings do out[i] = digest.crc32(strings[i]) end
    return out
end

-- digest.crc32.new(), updated with each string in turn.
function crc32_chain(strings)
    local crc = digest.crc32.new()
    for i = 1, #strings do crc:update(strings[i]) end
    return crc:result()
end

-- For each value as it arrived: {type(v), hex of tostring(v), hex of msgpackffi.encode(v) or
-- box.NULL, the encoding's error or box.NULL}. type() tells a number from cdata (int64_t,
-- uint64_t), the hex keeps bytes that are not UTF-8 intact.
function views(values, count)
    local out = {}
    for i = 1, count do
        local v = values[i]
        local t = type(v) == 'cdata' and tostring(require('ffi').typeof(v)) or type(v)
        local ok, encoded = pcall(msgpackffi.encode, v)
        out[i] = {t, hex(tostring(v)), ok and hex(encoded) or box.NULL, (not ok) and tostring(encoded) or box.NULL}
    end
    return out
end

local hash = nil

-- `interpreted`: run Lua without LuaJIT's compiler from now on. 2.6's compiled code gets
-- strcrc32 of an array key wrong now and then: once the loop in strcrc32 is compiled, the first
-- part's update of the crc may be lost (vshard then hashes {1, 'a'} as {'a'}); the interpreter,
-- like 3.x compiled or not, hashes every part.
function use_modules(modules, interpreted)
    package.path = modules .. '/?.lua;' .. modules .. '/?/init.lua;' .. package.path
    hash = require('vshard.hash')
    if interpreted then
        jit.off()
        jit.flush()
    end
    return true
end

-- For each key: {strcrc32(key) % n + 1, mpcrc32(key) % n + 1} as vshard.hash computes them
-- (vshard.router.bucket_id_strcrc32 and bucket_id_mpcrc32 do exactly this); a hash that fails
-- is the error's text instead.
function bucket_ids(keys, count, n)
    local out = {}
    for i = 1, count do
        local k = keys[i]
        local ok1, s = pcall(hash.strcrc32, k)
        local ok2, m = pcall(hash.mpcrc32, k)
        out[i] = {ok1 and s % n + 1 or tostring(s), ok2 and m % n + 1 or tostring(m)}
    end
    return out
end

io.stdout:write('kharon-test-server-ready\n') io.stdout:flush()
