//! kharon: a Tarantool driver for Node.js. Three rooms: `protocol` (the wire format, pure),
//! `transport` (sockets: connect and backlogged writes on tokio), `binding` (napi, and reads
//! on Node's event loop). The public API is shaped in JS (`index.js`).

// The socket is watched with libuv's uv_poll on a file descriptor.
#[cfg(not(unix))]
compile_error!("kharon runs on unix platforms (Linux, macOS) only");

mod binding;
pub mod protocol;
pub mod transport;
