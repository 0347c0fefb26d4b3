//! The tokio side: sockets, handshake, write coalescing, frame assembly and delivery
//! batching. Knows nothing of JS: the binding passes a wake function and takes deliveries.

mod connection;
mod error;
mod inbox;
mod stream;

pub use connection::{ConnectOptions, Connection};
pub use error::TransportError;
pub use inbox::{Batch, Delivery, META_WORDS};
pub use stream::Address;
