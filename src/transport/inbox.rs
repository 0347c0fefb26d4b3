//! Completed frames waiting to cross into JS. The reader pushes batches; the binding is woken
//! once and takes everything queued in one go, so a crossing carries as many responses and
//! pushes as arrived meanwhile, never one crossing per frame.

use std::sync::Mutex;

use tokio::sync::Notify;

use super::error::TransportError;

/// Numbers per frame in [`Batch::meta`]: status, sync, schema version, body start, body end.
pub const META_WORDS: usize = 5;

/// Frames cut from one socket read, in arrival order. Bodies are byte ranges of `data`.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: Vec<u8>,
    pub meta: Vec<u32>,
}

impl Batch {
    pub fn frames(&self) -> usize {
        self.meta.len() / META_WORDS
    }

    /// Appends `other`, shifting its body offsets past our data.
    pub fn append(&mut self, other: Batch) {
        let shift = self.data.len() as u32;
        self.data.extend_from_slice(&other.data);
        self.meta.extend(other.meta.chunks_exact(META_WORDS).flat_map(|m| {
            [m[0], m[1], m[2], m[3] + shift, m[4] + shift]
        }));
    }
}

/// What one wake-up hands to JS.
#[derive(Debug, Default)]
pub struct Delivery {
    pub batch: Option<Batch>,
    /// Set once, when the connection has ended; always after its last frames.
    pub closed: Option<TransportError>,
}

#[derive(Default)]
struct State {
    batches: Vec<Batch>,
    bytes: usize,
    closed: Option<TransportError>,
    close_taken: bool,
    wake_scheduled: bool,
}

pub struct Inbox {
    state: Mutex<State>,
    room: Notify,
    /// Bytes queued for JS beyond which the reader stops reading the socket.
    limit: usize,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl Inbox {
    pub fn new(limit: usize, wake: Box<dyn Fn() + Send + Sync>) -> Self {
        Inbox { state: Mutex::default(), room: Notify::new(), limit, wake }
    }

    pub fn push(&self, batch: Batch) {
        let mut s = self.state.lock().unwrap();
        if s.closed.is_some() {
            return;
        }
        s.bytes += batch.data.len();
        s.batches.push(batch);
        self.schedule(s);
    }

    /// Records why the connection ended; the first reason wins.
    pub fn close(&self, reason: TransportError) {
        let mut s = self.state.lock().unwrap();
        if s.closed.is_some() {
            return;
        }
        s.closed = Some(reason);
        self.schedule(s);
    }

    fn schedule(&self, mut s: std::sync::MutexGuard<'_, State>) {
        if !s.wake_scheduled {
            s.wake_scheduled = true;
            drop(s);
            (self.wake)();
        }
    }

    /// Everything queued since the last call (on the JS thread).
    pub fn take(&self) -> Delivery {
        let mut s = self.state.lock().unwrap();
        s.wake_scheduled = false;
        s.bytes = 0;
        let mut batches = std::mem::take(&mut s.batches).into_iter();
        let mut batch = batches.next();
        if let Some(first) = batch.as_mut() {
            batches.for_each(|b| first.append(b));
        }
        let closed = if s.close_taken { None } else { s.closed.clone() };
        s.close_taken |= closed.is_some();
        drop(s);
        self.room.notify_waiters();
        Delivery { batch, closed }
    }

    /// Waits until JS has taken enough that the queue is under its limit.
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.room.notified();
            if self.state.lock().unwrap().bytes <= self.limit {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn wakes_once_per_take_and_merges_batches() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let inbox = Inbox::new(1 << 20, Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        inbox.push(Batch { data: vec![1, 2, 3], meta: vec![0, 1, 0, 1, 3] });
        inbox.push(Batch { data: vec![4, 5], meta: vec![0, 2, 0, 0, 2] });
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        let d = inbox.take();
        let b = d.batch.unwrap();
        assert_eq!(b.data, vec![1, 2, 3, 4, 5]);
        assert_eq!(b.meta, vec![0, 1, 0, 1, 3, 0, 2, 0, 3, 5]);
        assert!(d.closed.is_none());
        inbox.close(TransportError::Eof);
        inbox.push(Batch { data: vec![9], meta: vec![] });
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
        let d = inbox.take();
        assert!(d.batch.is_none());
        assert!(matches!(d.closed, Some(TransportError::Eof)));
        assert!(inbox.take().closed.is_none(), "the close is delivered once");
    }
}
