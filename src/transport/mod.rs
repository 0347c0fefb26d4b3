//! The socket side: connect and handshake on tokio, write coalescing with a tokio writer task
//! for backlogs, frame assembly into batches. Knows nothing of JS: the binding reads when the
//! socket is readable and is told when the connection ends; or, where the runtime has no libuv
//! loop, a reader task on tokio reads and leaves each read in an inbox (`tokio_read`).

mod batch;
mod connection;
mod error;
mod stream;
mod tokio_read;

pub use connection::{ConnectOptions, Connection};
pub use error::TransportError;
pub use batch::{Batch, Delivery, Landing, LANDING_META_WORDS, META_WORDS, SMALL_BATCH};
pub use stream::Address;
pub use tokio_read::{read_loop, Inbox, Taken};
