//! IPROTO numbers: request types, header and body keys. Mirrors Tarantool's
//! `iproto_constants.h`; the JS layer exports the same table as `IPROTO`.

pub mod request {
    pub const SELECT: u32 = 1;
    pub const INSERT: u32 = 2;
    pub const REPLACE: u32 = 3;
    pub const UPDATE: u32 = 4;
    pub const DELETE: u32 = 5;
    pub const CALL_16: u32 = 6;
    pub const AUTH: u32 = 7;
    pub const EVAL: u32 = 8;
    pub const UPSERT: u32 = 9;
    pub const CALL: u32 = 10;
    pub const EXECUTE: u32 = 11;
    pub const NOP: u32 = 12;
    pub const PREPARE: u32 = 13;
    pub const BEGIN: u32 = 14;
    pub const COMMIT: u32 = 15;
    pub const ROLLBACK: u32 = 16;
    pub const PING: u32 = 64;
    pub const ID: u32 = 73;
    pub const WATCH: u32 = 74;
    pub const UNWATCH: u32 = 75;
    pub const EVENT: u32 = 76;
    pub const WATCH_ONCE: u32 = 77;
}

/// Values of REQUEST_TYPE in a response.
pub mod response {
    pub const OK: u32 = 0x00;
    /// Out-of-band `box.session.push()` message; same SYNC as its request.
    pub const CHUNK: u32 = 0x80;
    /// Set in every error response; the low 15 bits are the error code.
    pub const ERROR_FLAG: u32 = 0x8000;
}

pub mod header {
    pub const REQUEST_TYPE: u64 = 0x00;
    pub const SYNC: u64 = 0x01;
    pub const SCHEMA_VERSION: u64 = 0x05;
    pub const STREAM_ID: u64 = 0x0a;
}

pub mod body {
    pub const SPACE_ID: u64 = 0x10;
    pub const INDEX_ID: u64 = 0x11;
    pub const LIMIT: u64 = 0x12;
    pub const OFFSET: u64 = 0x13;
    pub const ITERATOR: u64 = 0x14;
    pub const KEY: u64 = 0x20;
    pub const TUPLE: u64 = 0x21;
    pub const FUNCTION_NAME: u64 = 0x22;
    pub const USER_NAME: u64 = 0x23;
    pub const EXPR: u64 = 0x27;
    pub const OPS: u64 = 0x28;
    pub const DATA: u64 = 0x30;
    pub const ERROR_24: u64 = 0x31;
    pub const METADATA: u64 = 0x32;
    pub const BIND_METADATA: u64 = 0x33;
    pub const BIND_COUNT: u64 = 0x34;
    pub const SQL_TEXT: u64 = 0x40;
    pub const SQL_BIND: u64 = 0x41;
    pub const SQL_INFO: u64 = 0x42;
    pub const STMT_ID: u64 = 0x43;
    pub const ERROR: u64 = 0x52;
    pub const VERSION: u64 = 0x54;
    pub const FEATURES: u64 = 0x55;
    pub const TIMEOUT: u64 = 0x56;
    pub const EVENT_KEY: u64 = 0x57;
    pub const EVENT_DATA: u64 = 0x58;
    pub const TXN_ISOLATION: u64 = 0x59;
    pub const AUTH_TYPE: u64 = 0x5b;
}

