//! Tarantool's IPROTO wire format as pure functions: no I/O, no runtime, no JS.

pub mod auth;
mod errcodes;
pub mod error;
pub mod frame;
pub mod greeting;
pub mod id;
pub mod keys;
pub mod msgpack;
#[cfg(test)]
mod fuzz_tests;
