//! What reaches JS: the frames cut from what the socket had, in one batch (a crossing carries
//! every response and push read at once, never one crossing per frame), and once, at the end,
//! why the connection ended. Why so: bench/README.md, "Deliveries batched per read".

use super::error::TransportError;

/// Numbers per frame in [`Batch::meta`]: status, sync, schema version, body start, body end.
pub const META_WORDS: usize = 5;

/// Batches smaller than this are copied on their way to JS (cheaper than handing over the
/// memory with a finalizer); bigger ones are handed over as they are.
pub const SMALL_BATCH: usize = 64 * 1024;

/// Meta words a landing holds: room for the frames of a small batch of small pushes.
pub const LANDING_META_WORDS: usize = META_WORDS * 4096;

/// Memory the binding reuses for every small batch: JS reads it while the delivery runs and
/// copies what it keeps. A small batch then costs JS no allocation at all.
pub struct Landing<'a> {
    /// At least SMALL_BATCH bytes.
    pub data: &'a mut [u8],
    pub meta: &'a mut [u32],
}

/// Frames cut from the socket's bytes, in arrival order. Bodies are byte ranges of the data.
#[derive(Debug)]
pub enum Batch {
    /// Frames in memory of their own, handed to JS as they are.
    Owned { data: Vec<u8>, meta: Vec<u32> },
    /// Frames copied into the landing: its first `words` meta words and the bytes they index.
    Landed { words: usize },
}

#[derive(Debug)]
pub struct Delivery {
    pub batch: Option<Batch>,
    /// Set once, when the connection has ended; always after its last frames.
    pub closed: Option<TransportError>,
}

impl Delivery {
    pub fn is_empty(&self) -> bool {
        self.batch.is_none() && self.closed.is_none()
    }
}
