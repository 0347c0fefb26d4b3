//! Reading on tokio, for runtimes that have no libuv loop to watch the socket on (Bun, Deno): a
//! reader task waits for the socket to be readable, reads it as the JS thread would
//! (`Connection::read`, no landing) and leaves each read's frames in the connection's `Inbox`,
//! where the JS thread takes them, one call per read, as with libuv.
//!
//! The reader stays at most one read ahead of JS: it reads again once JS has taken what it left
//! (so memory is bounded, and a slow consumer slows the server through TCP), and not at all
//! while JS has paused reading (push backpressure). A read that was already done when JS paused
//! is parked in the inbox until it resumes. The end goes to JS after the frames read before it,
//! never ahead of them.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::batch::Delivery;
use super::connection::Connection;
use super::error::TransportError;

/// What the reader task read and the JS thread has not taken yet.
#[derive(Default)]
pub struct Inbox {
    state: Mutex<InboxState>,
    /// Wakes the reader: JS took a delivery, or resumed reading.
    room: Notify,
}

#[derive(Default)]
struct InboxState {
    /// At most one delivery: the reader reads again only once JS has taken it.
    queue: VecDeque<Delivery>,
    paused: bool,
    /// The reader is reading: an end found meanwhile goes with its delivery (see `take`).
    reading: bool,
}

/// What the JS thread takes from the inbox in one call.
pub struct Taken {
    /// The next delivery; None when there is none, or while paused.
    pub delivery: Option<Delivery>,
    /// Whether the connection's end, if it came, may go to JS now: no frame read before it
    /// is left behind it.
    pub end_may_follow: bool,
}

impl Inbox {
    pub fn new() -> Self {
        Inbox::default()
    }

    /// For the JS thread: the next delivery. While paused, nothing, unless the connection has
    /// `ended`: then what was read goes, and the end after it.
    pub fn take(&self, ended: bool) -> Taken {
        let mut state = self.state.lock().unwrap();
        let delivery = if state.paused && !ended { None } else { state.queue.pop_front() };
        let end_may_follow = state.queue.is_empty() && !state.reading;
        drop(state);
        if delivery.is_some() {
            self.room.notify_one();
        }
        Taken { delivery, end_may_follow }
    }

    /// Stops the reader before its next read (push backpressure).
    pub fn pause(&self) {
        self.state.lock().unwrap().paused = true;
    }

    /// Lets the reader read again. Returns whether deliveries are parked: JS should be called
    /// to take them.
    pub fn resume(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        state.paused = false;
        let parked = !state.queue.is_empty();
        drop(state);
        self.room.notify_one();
        parked
    }

    /// Whether frames read from the socket wait here for JS (proof of life while paused).
    pub fn holds_frames(&self) -> bool {
        self.state.lock().unwrap().queue.iter().any(|d| d.batch.is_some())
    }

    /// Waits until JS has taken what was read and is not paused, then marks the reader busy.
    async fn room_to_read(&self) {
        loop {
            {
                let mut state = self.state.lock().unwrap();
                if !state.paused && state.queue.is_empty() {
                    state.reading = true;
                    return;
                }
            }
            // A notification sent since the check is kept for this wait (one waiter).
            self.room.notified().await;
        }
    }

    /// The reader is done with a read: what it got goes in the queue.
    fn put(&self, delivery: Option<Delivery>) {
        let mut state = self.state.lock().unwrap();
        state.queue.extend(delivery);
        state.reading = false;
    }

    fn done_reading(&self) {
        self.state.lock().unwrap().reading = false;
    }
}

/// The reader task: reads `connection` whenever the socket is readable and JS has room, leaves
/// each read in `inbox` and calls `wake` (which gets JS to take it; false: JS cannot be called
/// any more, and the connection ends). Returns once the connection has ended and the end, or
/// the last frames before it, are in the inbox (`wake` was called after them).
pub fn read_loop(
    connection: Arc<Connection>,
    inbox: Arc<Inbox>,
    wake: impl Fn() -> bool + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let ended = connection.ended();
        tokio::pin!(ended);
        loop {
            tokio::select! {
                biased;
                _ = &mut ended => break,
                _ = inbox.room_to_read() => {}
            }
            let read = tokio::select! {
                biased;
                _ = &mut ended => None,
                readable = connection.socket().readable() => Some(readable.map(|mut ready| {
                    let (delivery, drained) = connection.read_pass(false, None);
                    if drained {
                        ready.clear_ready();
                    }
                    delivery
                })),
            };
            let delivery = match read {
                None => {
                    inbox.done_reading();
                    break;
                }
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    connection.fail(TransportError::io(&e));
                    Delivery { batch: None, closed: connection.take_end() }
                }
            };
            let nothing = delivery.is_empty();
            inbox.put((!nothing).then_some(delivery));
            if (!nothing || connection.has_ended()) && !wake() {
                connection.fail(TransportError::Internal("the runtime no longer takes calls into JS".into()));
                break;
            }
            if connection.has_ended() {
                break;
            }
        }
        // An end that came while the reader was reading was left to it: JS is called once more,
        // and takes it now that nothing is read ahead of it.
        wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Batch;

    fn frames() -> Delivery {
        Delivery { batch: Some(Batch::Owned { data: vec![1], meta: vec![] }), closed: None }
    }

    #[test]
    fn parks_a_read_while_paused_and_lets_the_end_follow_only_behind_frames() {
        let inbox = Inbox::new();
        inbox.put(Some(frames()));
        inbox.pause();
        let taken = inbox.take(false);
        assert!(taken.delivery.is_none() && !taken.end_may_follow);
        assert!(inbox.holds_frames());
        assert!(inbox.resume());
        let taken = inbox.take(false);
        assert!(taken.delivery.is_some() && taken.end_may_follow);
        assert!(!inbox.holds_frames() && !inbox.resume());

        // Ended while paused: what was read goes all the same, and the end after it.
        inbox.put(Some(frames()));
        inbox.pause();
        let taken = inbox.take(true);
        assert!(taken.delivery.is_some() && taken.end_may_follow);
    }

    #[test]
    fn the_end_waits_while_the_reader_reads() {
        let inbox = Inbox::new();
        inbox.state.lock().unwrap().reading = true;
        let taken = inbox.take(true);
        assert!(taken.delivery.is_none() && !taken.end_may_follow);
        inbox.put(None);
        assert!(inbox.take(true).end_may_follow);
    }
}
