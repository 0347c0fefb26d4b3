//! What reaches JS: the frames cut from what the socket had, in one batch (a crossing carries
//! every response and push read at once, never one crossing per frame), and once, at the end,
//! why the connection ended.

use super::error::TransportError;

/// Numbers per frame in [`Batch::meta`]: status, sync, schema version, body start, body end.
pub const META_WORDS: usize = 5;

/// Batches smaller than this are copied on their way to JS (cheaper than handing over the
/// memory with a finalizer); bigger ones are handed over as they are.
pub const SMALL_BATCH: usize = 64 * 1024;

/// Frames cut from the socket's bytes, in arrival order. Bodies are byte ranges of `data`.
#[derive(Debug)]
pub struct Batch {
    pub data: Vec<u8>,
    pub meta: Vec<u32>,
}

impl Batch {
    pub fn frames(&self) -> usize {
        self.meta.len() / META_WORDS
    }
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
