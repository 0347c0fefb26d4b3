//! kharon: a Tarantool driver for Node.js. Three rooms: `protocol` (the wire format, pure),
//! `transport` (tokio I/O), `binding` (napi). The public API is shaped in JS (`index.js`).

mod binding;
pub mod protocol;
pub mod transport;
