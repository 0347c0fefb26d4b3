//! One Tarantool connection: handshake, then a reader task and a writer task that own the
//! socket. JS threads write directly when nothing is queued, so a lone request costs no
//! thread hop; what the socket does not take at once is finished by the writer task.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::error::TransportError;
use super::inbox::{Batch, Inbox};
use super::stream::{Address, Stream};
use crate::protocol::auth::Credentials;
use crate::protocol::error::{decode, errcode_of_status};
use crate::protocol::frame::{self, Check, DEFAULT_MAX_FRAME_SIZE};
use crate::protocol::greeting::{self, Greeting, GREETING_LEN};

/// Bytes asked of the socket per read when nothing larger is known to be coming.
const READ_CHUNK: usize = 64 * 1024;
/// How far ahead of the bytes in hand a big frame's buffer is grown at once.
const MAX_READ_AHEAD: usize = 4 * 1024 * 1024;
/// SYNC of the AUTH request, sent before JS can issue any request.
const AUTH_SYNC: u64 = 0;

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub address: Address,
    pub credentials: Option<Credentials>,
    pub connect_timeout: Option<Duration>,
    pub max_frame_size: usize,
    /// Bytes delivered to JS but not yet taken, beyond which reading stops.
    pub inbox_limit: usize,
}

impl ConnectOptions {
    pub fn new(address: Address) -> Self {
        ConnectOptions {
            address,
            credentials: None,
            connect_timeout: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            inbox_limit: 1024 * 1024,
        }
    }
}

struct WriteState {
    /// None once the connection has ended.
    stream: Option<Arc<Stream>>,
    pending: Vec<u8>,
    /// The writer task owns the socket's write side until `pending` is drained.
    writer_busy: bool,
}

struct Shared {
    write: Mutex<WriteState>,
    write_ready: Notify,
    paused: AtomicBool,
    resumed: Notify,
    shutdown: watch::Sender<bool>,
    inbox: Inbox,
}

impl Shared {
    /// Ends the connection once: stops both tasks, drops the socket, tells JS why.
    fn fail(&self, reason: TransportError) {
        self.write.lock().unwrap().stream = None;
        self.shutdown.send_replace(true);
        self.inbox.close(reason);
    }
}

/// The handle the binding holds. Dropping it closes the connection.
pub struct Connection {
    shared: Arc<Shared>,
    pub greeting: Greeting,
}

impl Connection {
    /// Connects, reads the greeting, authenticates, and starts the I/O tasks. `wake` is called
    /// (from any thread) whenever frames or the close reason are waiting in the inbox.
    pub async fn open(
        options: ConnectOptions,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Connection, TransportError> {
        let handshake = handshake(&options);
        let (stream, greeting, leftover) = match options.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, handshake)
                .await
                .map_err(|_| TransportError::ConnectTimeout)??,
            None => handshake.await?,
        };
        let stream = Arc::new(stream);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            write: Mutex::new(WriteState {
                stream: Some(stream.clone()),
                pending: Vec::new(),
                writer_busy: false,
            }),
            write_ready: Notify::new(),
            paused: AtomicBool::new(false),
            resumed: Notify::new(),
            shutdown,
            inbox: Inbox::new(options.inbox_limit, wake),
        });
        supervise(shared.clone(), read_loop(shared.clone(), stream.clone(), leftover, options.max_frame_size));
        supervise(shared.clone(), write_loop(shared.clone(), stream));
        Ok(Connection { shared, greeting })
    }

    /// Queues request frames. Returns false when the connection has already ended (the
    /// close reason is on its way to JS, which fails what is pending).
    pub fn write(&self, data: &[u8]) -> bool {
        let mut w = self.shared.write.lock().unwrap();
        let Some(stream) = w.stream.as_ref() else {
            return false;
        };
        let mut rest = data;
        if !w.writer_busy {
            while !rest.is_empty() {
                match stream.try_write(rest) {
                    Ok(n) => rest = &rest[n..],
                    // Errors too go to the writer task, which ends the connection with them.
                    Err(_) => break,
                }
            }
            if rest.is_empty() {
                return true;
            }
            w.writer_busy = true;
            self.shared.write_ready.notify_one();
        }
        w.pending.extend_from_slice(rest);
        true
    }

    /// Stops reading the socket, so TCP pushes back on the server (push high-water mark).
    pub fn pause_reading(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume_reading(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
        self.shared.resumed.notify_waiters();
    }

    /// Frames and the close reason queued for JS.
    pub fn take_delivery(&self) -> super::inbox::Delivery {
        self.shared.inbox.take()
    }

    pub fn close(&self) {
        self.shared.fail(TransportError::Closed);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

async fn handshake(options: &ConnectOptions) -> Result<(Stream, Greeting, Vec<u8>), TransportError> {
    let io = |e: io::Error| TransportError::io(&e);
    let stream = Stream::connect(&options.address).await.map_err(io)?;
    let mut buf = Vec::with_capacity(READ_CHUNK);
    stream.read_at_least(&mut buf, GREETING_LEN).await.map_err(io)?;
    let greeting = greeting::parse(&buf[..GREETING_LEN])?;
    buf.drain(..GREETING_LEN);
    if let Some(credentials) = &options.credentials {
        stream
            .write_all(&credentials.auth_request(&greeting.salt, AUTH_SYNC))
            .await
            .map_err(io)?;
        loop {
            match frame::check(&buf, options.max_frame_size)? {
                Check::Complete { len } => {
                    let f = frame::parse(&buf[..len])?;
                    if let Some(code) = errcode_of_status(f.header.status) {
                        return Err(TransportError::Auth(decode(code, &buf[f.body_start..f.body_end])));
                    }
                    buf.drain(..len);
                    break;
                }
                Check::Incomplete { need } => {
                    let want = need.unwrap_or(buf.len() + 1);
                    stream.read_at_least(&mut buf, want).await.map_err(io)?;
                }
            }
        }
    }
    Ok((stream, greeting, buf))
}

/// Runs one I/O task; whatever ends it (its own error, or a panic) ends the connection.
fn supervise<F>(shared: Arc<Shared>, task: F)
where
    F: std::future::Future<Output = TransportError> + Send + 'static,
{
    let handle = tokio::spawn(task);
    tokio::spawn(async move {
        let reason = match handle.await {
            Ok(reason) => reason,
            Err(e) => TransportError::Internal(format!("connection task failed: {e}")),
        };
        shared.fail(reason);
    });
}

async fn read_loop(shared: Arc<Shared>, stream: Arc<Stream>, mut buf: Vec<u8>, max_frame_size: usize) -> TransportError {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        // Whole frames cut before a bad one are still delivered: what TCP put in one
        // segment must not decide whether a valid response arrives.
        let (batch, need) = cut_frames(&mut buf, max_frame_size);
        if let Some(batch) = batch {
            shared.inbox.push(batch);
        }
        let need = match need {
            Ok(need) => need,
            Err(e) => return e,
        };
        tokio::select! {
            _ = wait_until_flowing(&shared) => {}
            _ = shutdown.wait_for(|down| *down) => return TransportError::Closed,
        }
        let spare = buf.capacity() - buf.len();
        if spare < READ_CHUNK / 4 || need > buf.capacity() {
            let ahead = need.saturating_sub(buf.len()).clamp(READ_CHUNK, MAX_READ_AHEAD);
            buf.reserve(ahead);
        }
        tokio::select! {
            ready = stream.readable() => if let Err(e) = ready { return TransportError::io(&e) },
            _ = shutdown.wait_for(|down| *down) => return TransportError::Closed,
        }
        match stream.try_read_buf(&mut buf) {
            Ok(0) if buf.is_empty() => return TransportError::Eof,
            Ok(0) => {
                return TransportError::Protocol(format!(
                    "connection closed in the middle of a frame ({} bytes of it received)",
                    buf.len()
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return TransportError::io(&e),
        }
    }
}

/// Waits while JS has paused reading or has not yet taken what was delivered.
async fn wait_until_flowing(shared: &Shared) {
    loop {
        let resumed = shared.resumed.notified();
        if !shared.paused.load(Ordering::SeqCst) {
            break;
        }
        resumed.await;
    }
    shared.inbox.wait_for_room().await;
}

/// Cuts every whole frame off the front of `buf` into a batch; the partial frame that
/// remains moves to a fresh buffer. Returns the batch (if any) and either how many bytes the
/// partial frame needs in all (0 when unknown) or the error that stopped the cutting.
fn cut_frames(buf: &mut Vec<u8>, max_frame_size: usize) -> (Option<Batch>, Result<usize, TransportError>) {
    let mut pos = 0;
    let mut meta = Vec::new();
    let outcome = loop {
        match next_frame(&buf[pos..], max_frame_size) {
            Ok(Next::Whole { len, frame: f, sync }) => {
                meta.extend_from_slice(&[
                    f.header.status,
                    sync,
                    f.header.schema_version,
                    (pos + f.body_start) as u32,
                    (pos + f.body_end) as u32,
                ]);
                pos += len;
            }
            Ok(Next::Partial { need }) => break Ok(need),
            Err(e) => break Err(e),
        }
    };
    if pos == 0 {
        return (None, outcome);
    }
    let need = *outcome.as_ref().unwrap_or(&0);
    let mut rest = Vec::with_capacity(need.clamp(READ_CHUNK, MAX_READ_AHEAD));
    rest.extend_from_slice(&buf[pos..]);
    buf.truncate(pos);
    let data = std::mem::replace(buf, rest);
    (Some(Batch { data, meta }), outcome)
}

enum Next {
    Whole { len: usize, frame: frame::Frame, sync: u32 },
    /// `need`: the partial frame's whole length, 0 while its size prefix is incomplete.
    Partial { need: usize },
}

fn next_frame(buf: &[u8], max_frame_size: usize) -> Result<Next, TransportError> {
    match frame::check(buf, max_frame_size)? {
        Check::Complete { len } => {
            let f = frame::parse(&buf[..len])?;
            let sync = u32::try_from(f.header.sync)
                .map_err(|_| TransportError::Protocol(format!("SYNC {} was never sent", f.header.sync)))?;
            Ok(Next::Whole { len, frame: f, sync })
        }
        Check::Incomplete { need } => Ok(Next::Partial { need: need.unwrap_or(0) }),
    }
}

async fn write_loop(shared: Arc<Shared>, stream: Arc<Stream>) -> TransportError {
    let mut shutdown = shared.shutdown.subscribe();
    let mut out = Vec::new();
    loop {
        tokio::select! {
            _ = shared.write_ready.notified() => {}
            _ = shutdown.wait_for(|down| *down) => return TransportError::Closed,
        }
        loop {
            {
                let mut w = shared.write.lock().unwrap();
                if w.pending.is_empty() {
                    w.writer_busy = false;
                    break;
                }
                std::mem::swap(&mut w.pending, &mut out);
            }
            tokio::select! {
                written = stream.write_all(&out) => if let Err(e) = written { return TransportError::io(&e) },
                _ = shutdown.wait_for(|down| *down) => return TransportError::Closed,
            }
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_request;

    #[test]
    fn cuts_whole_frames_and_keeps_the_partial_one() {
        let mut stream = Vec::new();
        encode_request(&mut stream, 0, 1, &[0x81, 0x30, 0x90]);
        let first = stream.len();
        encode_request(&mut stream, 0x80, 2, &[0x81, 0x30, 0x91, 0x05]);
        let first_two = stream.len();
        encode_request(&mut stream, 0, 2, &[0x81, 0x30, 0x90]);
        for cut in 0..stream.len() {
            let mut buf = stream[..cut].to_vec();
            let (batch, need) = cut_frames(&mut buf, 1 << 20);
            assert!(need.is_ok());
            let frames = batch.as_ref().map_or(0, |b| b.frames());
            let consumed = batch.as_ref().map_or(0, |b| b.data.len());
            assert_eq!(consumed + buf.len(), cut, "no byte lost at cut {cut}");
            assert_eq!(frames, if cut < first { 0 } else if cut < first_two { 1 } else { 2 });
        }
        let mut buf = stream.clone();
        let (batch, need) = cut_frames(&mut buf, 1 << 20);
        let batch = batch.unwrap();
        assert_eq!((batch.frames(), need.unwrap(), buf.len()), (3, 0, 0));
        assert_eq!(&batch.meta[5..10], &[0x80, 2, 0, 24, 28]);
        assert_eq!(&batch.data[24..28], &[0x81, 0x30, 0x91, 0x05]);
    }

    #[test]
    fn refuses_syncs_that_do_not_fit_u32() {
        let mut buf = Vec::new();
        encode_request(&mut buf, 0, 1 << 40, &[]);
        assert!(matches!(cut_frames(&mut buf, 1 << 20), (None, Err(TransportError::Protocol(_)))));
    }

    #[test]
    fn frames_before_a_bad_one_are_kept() {
        let mut buf = Vec::new();
        encode_request(&mut buf, 0, 665, &[0x81, 0x30, 0x90]);
        let good = buf.len();
        buf.extend_from_slice(&[0xc1, 0, 0]);
        let (batch, outcome) = cut_frames(&mut buf, 1 << 20);
        let batch = batch.expect("the whole frame is delivered");
        assert_eq!((batch.frames(), batch.data.len()), (1, good));
        assert!(matches!(outcome, Err(TransportError::Protocol(_))));
    }
}
