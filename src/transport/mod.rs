//! The socket side: connect and handshake on tokio, write coalescing with a tokio writer task
//! for backlogs, frame assembly into batches. Knows nothing of JS: the binding reads when the
//! socket is readable and is told when the connection ends.

mod batch;
mod connection;
mod error;
mod stream;

pub use connection::{ConnectOptions, Connection};
pub use error::TransportError;
pub use batch::{Batch, Delivery, Landing, LANDING_META_WORDS, META_WORDS, SMALL_BATCH};
pub use stream::Address;
