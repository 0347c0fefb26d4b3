//! One Tarantool connection. tokio connects and authenticates; after that the JS thread reads
//! the socket when libuv reports it readable, so a response reaches its callback with no thread
//! hop, and writes it directly when nothing is queued. What the socket does not take at once is
//! finished by a writer task on tokio. Where there is no libuv loop to watch the socket on (Bun,
//! Deno), a reader task on tokio reads it instead (`tokio_read.rs`).

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::batch::{Batch, Delivery, Landing, SMALL_BATCH};
use super::error::{HandshakeStage, TransportError};
use super::stream::{Address, Socket, Stream};
use crate::protocol::auth::Credentials;
use crate::protocol::error::errcode_of_status;
use crate::protocol::frame::{self, Check, DEFAULT_MAX_FRAME_SIZE};
use crate::protocol::greeting::{self, Greeting, GREETING_LEN};
use crate::protocol::id::{id_request, parse_id_response, Protocol, CHAP_SHA1, FIRST_VERSION_WITH_ID};

/// Bytes asked of the socket per read when nothing larger is known to be coming.
const READ_CHUNK: usize = 64 * 1024;
/// How far ahead of the bytes in hand a big frame's buffer is grown at once.
const MAX_READ_AHEAD: usize = 4 * 1024 * 1024;
/// Bytes one `read` takes before handing them over (a read may overshoot it by one chunk). Small
/// enough that JS drains the socket often, so a fast server keeps writing into the kernel's
/// buffer while JS works through a batch (1 MiB batches measured 15–20% slower for pushes);
/// large enough that a batch still carries thousands of small frames.
const READ_BUDGET: usize = 256 * 1024;
/// SYNCs of the handshake's requests, sent before JS can issue any.
const ID_SYNC: u64 = 0;
const AUTH_SYNC: u64 = 1;

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub address: Address,
    pub credentials: Option<Credentials>,
    pub connect_timeout: Option<Duration>,
    pub max_frame_size: usize,
    /// What to offer in IPROTO_ID when the greeting shows a server that knows it (2.10+);
    /// None: send no ID.
    pub negotiate: Option<Protocol>,
    /// Whether a reader task on tokio reads the socket (`tokio_read.rs`), rather than the JS
    /// thread when libuv reports it readable.
    pub read_on_tokio: bool,
}

impl ConnectOptions {
    pub fn new(address: Address) -> Self {
        ConnectOptions {
            address,
            credentials: None,
            connect_timeout: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            negotiate: None,
            read_on_tokio: false,
        }
    }
}

struct WriteState {
    open: bool,
    /// What the socket did not take at once, one chunk per write: a backlog costs its own size,
    /// not a buffer doubled past it.
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    /// Bytes the writer task took from `pending` and is still sending.
    in_flight: usize,
    /// The writer task owns the socket's write side until `pending` is drained.
    writer_busy: bool,
}

impl WriteState {
    /// Bytes written but not yet taken by the kernel.
    fn backlog(&self) -> usize {
        self.pending_bytes + self.in_flight
    }
}

#[derive(Default)]
struct Ending {
    reason: Option<TransportError>,
    delivered: bool,
}

struct Shared {
    socket: Socket,
    write: Mutex<WriteState>,
    write_ready: Notify,
    shutdown: watch::Sender<bool>,
    ending: Mutex<Ending>,
    on_end: Box<dyn Fn() + Send + Sync>,
}

impl Shared {
    /// Ends the connection once: stops the writer, shuts the socket (so a read sees the end
    /// too) and tells the binding. The first reason wins.
    fn fail(&self, reason: TransportError) {
        {
            let mut ending = self.ending.lock().unwrap();
            if ending.reason.is_some() {
                return;
            }
            ending.reason = Some(reason);
        }
        self.write.lock().unwrap().open = false;
        self.shutdown.send_replace(true);
        self.socket.shutdown();
        (self.on_end)();
    }
}

/// Received bytes not yet cut into frames, and how many the partial frame needs (0: unknown).
struct Reader {
    buf: Vec<u8>,
    need: usize,
    max_frame_size: usize,
    /// Bytes read from the socket since the handshake.
    received: u64,
    /// Where each batch's meta is built: kept across landed batches, handed over with owned ones.
    meta: Vec<u32>,
    /// Meta words of the last batch (see `cut_frames`).
    meta_hint: usize,
}

/// The handle the binding holds. Dropping it closes the connection.
pub struct Connection {
    shared: Arc<Shared>,
    reader: Mutex<Reader>,
    pub greeting: Greeting,
    /// The server's side of IPROTO_ID; version 0 and no features when none was exchanged.
    pub protocol: Protocol,
}

impl Connection {
    /// Connects, reads the greeting, authenticates, and starts the writer task. `on_end` is
    /// called (from any thread) once, when the connection has ended; `take_end` then tells why.
    pub async fn open(
        options: ConnectOptions,
        on_end: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Connection, TransportError> {
        // How far the handshake got, so that a timeout says what never came.
        let stage = AtomicU8::new(HandshakeStage::Connecting as u8);
        let handshake = handshake(&options, &stage);
        let (stream, Handshake { greeting, protocol, leftover }) = match options.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, handshake).await.map_err(|_| TransportError::ConnectTimeout {
                stage: HandshakeStage::from_u8(stage.load(Ordering::Relaxed)),
                after: limit,
            })??,
            None => handshake.await?,
        };
        let socket = stream.establish(options.read_on_tokio).map_err(|e| TransportError::io(&e))?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            socket,
            write: Mutex::new(WriteState { open: true, pending: Vec::new(), pending_bytes: 0, in_flight: 0, writer_busy: false }),
            write_ready: Notify::new(),
            shutdown,
            ending: Mutex::default(),
            on_end,
        });
        supervise(shared.clone(), write_loop(shared.clone()));
        let received = leftover.len() as u64;
        let reader = Reader { buf: leftover, need: 0, max_frame_size: options.max_frame_size, received, meta: Vec::new(), meta_hint: 0 };
        Ok(Connection { shared, reader: Mutex::new(reader), greeting, protocol })
    }

    /// Queues request frames. Returns the bytes still waiting for the socket (as
    /// [`Connection::write_backlog`]), or None when the connection has already ended (the
    /// reason is on its way to JS, which fails what is pending).
    pub fn write(&self, data: &[u8]) -> Option<usize> {
        let mut w = self.shared.write.lock().unwrap();
        if !w.open {
            return None;
        }
        let mut rest = data;
        if !w.writer_busy {
            while !rest.is_empty() {
                match self.shared.socket.try_write(rest) {
                    Ok(n) => rest = &rest[n..],
                    // Errors too go to the writer task, which ends the connection with them.
                    Err(_) => break,
                }
            }
            if rest.is_empty() {
                return Some(0);
            }
            w.writer_busy = true;
            self.shared.write_ready.notify_one();
        }
        w.pending.push(rest.to_vec());
        w.pending_bytes += rest.len();
        Some(w.backlog())
    }

    /// Bytes written but not yet taken by the kernel (the writer task is sending them).
    pub fn write_backlog(&self) -> usize {
        self.shared.write.lock().unwrap().backlog()
    }

    /// Whether the server sent bytes not yet read (reading paused for push backpressure).
    pub fn has_unread_bytes(&self) -> bool {
        self.shared.socket.has_unread_bytes()
    }

    /// The socket, for the binding to learn when it is readable.
    pub fn raw_fd(&self) -> RawFd {
        self.shared.socket.raw_fd()
    }

    /// Reads what the socket has (up to a budget) without blocking, and cuts it into frames.
    /// Called when the socket is readable. Whole frames cut before a bad one are still
    /// delivered: what TCP put in one segment must not decide whether a valid response arrives.
    /// A read that fills less than it was offered ends the pass (the socket had no more, and
    /// one more read would only say so: a syscall per round trip), unless `until_blocked`
    /// asks to read on until the socket says it would block or why it failed. A small batch
    /// goes to `landing` when one is given and it fits.
    pub fn read(&self, until_blocked: bool, landing: Option<&mut Landing>) -> Delivery {
        self.read_pass(until_blocked, landing).0
    }

    /// `read`, and whether the pass ended because the socket had no more (it said it would
    /// block, or it filled less than it was offered): the reader task on tokio then waits for
    /// readiness again, rather than asking once more.
    pub(super) fn read_pass(&self, until_blocked: bool, landing: Option<&mut Landing>) -> (Delivery, bool) {
        let mut reader = self.reader.lock().unwrap();
        let Reader { buf, need, max_frame_size, received, meta, meta_hint } = &mut *reader;
        let mut failure = None;
        let mut eof = false;
        let mut drained = false;
        let mut taken = 0;
        while taken < READ_BUDGET {
            let spare = buf.capacity() - buf.len();
            if spare < READ_CHUNK / 4 || *need > buf.capacity() {
                // With bytes in hand, they are handed over rather than the buffer regrown (a
                // copy of all of it into fresh pages); the socket stays readable for the next.
                if taken > 0 {
                    break;
                }
                let ahead = need.saturating_sub(buf.len()).clamp(READ_CHUNK, MAX_READ_AHEAD);
                buf.reserve(ahead);
            }
            let offered = buf.capacity() - buf.len();
            match self.shared.socket.read_buf(buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    taken += n;
                    if n < offered && !until_blocked {
                        drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(TransportError::io(&e));
                    break;
                }
            }
        }
        *received += taken as u64;
        let (batch, cut) = cut_frames(buf, *max_frame_size, meta, meta_hint, landing);
        match cut {
            Ok(n) => *need = n,
            Err(e) => failure = Some(e),
        }
        if failure.is_none() && eof {
            failure = Some(if buf.is_empty() {
                TransportError::Eof
            } else {
                TransportError::Protocol(format!(
                    "connection closed in the middle of a frame ({} bytes of it received)",
                    buf.len()
                ))
            });
        }
        drop(reader);
        if let Some(reason) = failure {
            self.shared.fail(reason);
        }
        (Delivery { batch, closed: self.take_end() }, drained)
    }

    /// Why the connection ended, once: whichever of the reader and the end notice asks first
    /// gets it.
    pub fn take_end(&self) -> Option<TransportError> {
        let mut ending = self.shared.ending.lock().unwrap();
        if ending.delivered {
            return None;
        }
        ending.delivered = ending.reason.is_some();
        ending.reason.clone()
    }

    /// Bytes read from the socket after the handshake.
    pub fn bytes_received(&self) -> u64 {
        self.reader.lock().unwrap().received
    }

    pub fn has_ended(&self) -> bool {
        self.shared.ending.lock().unwrap().reason.is_some()
    }

    /// Ends the connection for a reason found outside it (the binding's socket watch).
    pub fn fail(&self, reason: TransportError) {
        self.shared.fail(reason);
    }

    pub fn close(&self) {
        self.fail(TransportError::Closed);
    }

    /// The socket, for the reader task on tokio.
    pub(super) fn socket(&self) -> &Socket {
        &self.shared.socket
    }

    /// Resolves once the connection has ended (for the tasks that must stop then).
    pub(super) fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut shutdown = self.shared.shutdown.subscribe();
        async move {
            let _ = shutdown.wait_for(|down| *down).await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

struct Handshake {
    greeting: Greeting,
    protocol: Protocol,
    /// Bytes read past the handshake's replies.
    leftover: Vec<u8>,
}

/// Greeting, then ID (2.10+) and AUTH pipelined in one write: one round trip for both.
async fn handshake(options: &ConnectOptions, stage: &AtomicU8) -> Result<(Stream, Handshake), TransportError> {
    let io = |e: io::Error| TransportError::io(&e);
    let stream = Stream::connect(&options.address).await.map_err(io)?;
    stage.store(HandshakeStage::Greeting as u8, Ordering::Relaxed);
    let mut buf = Vec::with_capacity(READ_CHUNK);
    stream.read_at_least(&mut buf, GREETING_LEN).await.map_err(io)?;
    let greeting = greeting::parse(&buf[..GREETING_LEN])?;
    stage.store(HandshakeStage::Replies as u8, Ordering::Relaxed);
    buf.drain(..GREETING_LEN);
    let offer = options
        .negotiate
        .as_ref()
        .filter(|_| greeting.major_minor().is_some_and(|v| v >= FIRST_VERSION_WITH_ID));
    let mut out = Vec::new();
    if let Some(client) = offer {
        out.extend(id_request(client, ID_SYNC));
    }
    if let Some(credentials) = &options.credentials {
        out.extend(credentials.auth_request(&greeting.salt, AUTH_SYNC));
    }
    if !out.is_empty() {
        stream.write_all(&out).await.map_err(io)?;
    }
    let mut protocol = Protocol::default();
    let mut awaiting = usize::from(offer.is_some()) + usize::from(options.credentials.is_some());
    while awaiting > 0 {
        let len = read_frame(&stream, &mut buf, options.max_frame_size).await?;
        let f = frame::parse(&buf[..len])?;
        let body = &buf[f.body_start..f.body_end];
        let failed = errcode_of_status(f.header.status);
        match f.header.sync {
            // A server that refuses ID is spoken to as one without it.
            ID_SYNC if offer.is_some() => {
                if failed.is_none() {
                    protocol = parse_id_response(body)
                        .map_err(|e| TransportError::Protocol(format!("bad IPROTO_ID reply: {e}")))?;
                }
            }
            AUTH_SYNC if options.credentials.is_some() => {
                // The ID reply came first (ID was sent first): a server that expects another
                // method than chap-sha1 refused it for that, not for a wrong password.
                if let (Some(_), Some(method)) = (failed, protocol.auth_type.as_deref().filter(|m| *m != CHAP_SHA1)) {
                    return Err(TransportError::UnsupportedAuth { method: method.to_owned(), server_version: greeting.version.clone() });
                }
                if let Some(code) = failed {
                    return Err(TransportError::Auth { errcode: code, body: body.to_vec() });
                }
            }
            other => return Err(TransportError::Protocol(format!("reply with SYNC {other} during the handshake"))),
        }
        buf.drain(..len);
        awaiting -= 1;
    }
    Ok((stream, Handshake { greeting, protocol, leftover: buf }))
}

/// Reads until `buf` starts with a whole frame; returns its length.
async fn read_frame(stream: &Stream, buf: &mut Vec<u8>, max_frame_size: usize) -> Result<usize, TransportError> {
    loop {
        match frame::check(buf, max_frame_size)? {
            Check::Complete { len } => return Ok(len),
            Check::Incomplete { need } => {
                let want = need.unwrap_or(buf.len() + 1);
                stream.read_at_least(buf, want).await.map_err(|e| TransportError::io(&e))?;
            }
        }
    }
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

/// Cuts every whole frame off the front of `buf` into a batch: into `landing` when it is small
/// and fits, else into memory handed over. Returns the batch (if any) and either how many bytes
/// the partial frame left in `buf` needs in all (0 when unknown) or the error that stopped the
/// cutting. `meta` is where the index is built; `meta_hint`, the words the previous batch
/// needed, so a stream of pushes does not regrow it (a copy into fresh pages) each time.
fn cut_frames(
    buf: &mut Vec<u8>,
    max_frame_size: usize,
    meta: &mut Vec<u32>,
    meta_hint: &mut usize,
    landing: Option<&mut Landing>,
) -> (Option<Batch>, Result<usize, TransportError>) {
    let mut pos = 0;
    meta.clear();
    // Twice the last batch's, as batches of a push stream differ in frames by a fourth or so
    // (a regrowth copies the whole index), but at most a word per 4 bytes: a small read after
    // a big one does not reserve the big one's.
    meta.reserve((2 * *meta_hint).min(buf.len() / 4));
    let outcome = loop {
        match next_frame(&buf[pos..], max_frame_size) {
            Ok(Next::Whole { len, frame: f, sync }) => {
                debug_assert!(pos + f.body_end <= u32::MAX as usize, "maxFrameSize keeps offsets within u32");
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
            Err(e) => break Err(with_frame_context(e, &buf[pos..])),
        }
    };
    if pos == 0 {
        return (None, outcome);
    }
    *meta_hint = meta.len();
    if pos < SMALL_BATCH {
        let batch = match landing {
            Some(landing) if pos <= landing.data.len() && meta.len() <= landing.meta.len() => {
                landing.data[..pos].copy_from_slice(&buf[..pos]);
                landing.meta[..meta.len()].copy_from_slice(meta);
                Batch::Landed { words: meta.len() }
            }
            // Copied out: the read buffer stays, so steady traffic allocates no read buffers.
            _ => Batch::Owned { data: buf[..pos].to_vec(), meta: std::mem::take(meta) },
        };
        buf.drain(..pos);
        // A buffer grown for one big frame is not kept for the connection's life.
        if buf.capacity() > MAX_READ_AHEAD && buf.len() < READ_CHUNK {
            buf.shrink_to(READ_CHUNK);
        }
        return (Some(batch), outcome);
    }
    // Handed over whole (JS takes the memory as it is); the new buffer holds a whole read
    // pass, so it is not regrown while filled.
    let need = *outcome.as_ref().unwrap_or(&0);
    let mut rest = Vec::with_capacity(need.clamp(READ_BUDGET + READ_CHUNK, MAX_READ_AHEAD));
    rest.extend_from_slice(&buf[pos..]);
    buf.truncate(pos);
    let data = std::mem::replace(buf, rest);
    (Some(Batch::Owned { data, meta: std::mem::take(meta) }), outcome)
}

/// How many leading bytes of a bad frame a protocol error shows.
const SHOWN_BYTES: usize = 16;

/// Adds to a framing error what is needed to recognise the frame: its size and first bytes.
fn with_frame_context(e: TransportError, frame: &[u8]) -> TransportError {
    let TransportError::Protocol(why) = e else { return e };
    let head: Vec<String> = frame.iter().take(SHOWN_BYTES).map(|b| format!("{b:02x}")).collect();
    let size = match frame::check(frame, usize::MAX) {
        Ok(Check::Complete { len }) => format!("frame of {len} bytes"),
        _ => format!("{} bytes received", frame.len()),
    };
    TransportError::Protocol(format!("{why} ({size}, starting {})", head.join(" ")))
}

enum Next {
    Whole { len: usize, frame: frame::Frame, sync: u32 },
    /// `need`: the partial frame's whole length, 0 while its size prefix is incomplete.
    Partial { need: usize },
}

fn next_frame(buf: &[u8], max_frame_size: usize) -> Result<Next, TransportError> {
    let (len, f) = match frame::parse_tarantool(buf, max_frame_size) {
        Some(whole) => whole,
        None => match frame::check(buf, max_frame_size)? {
            Check::Complete { len } => (len, frame::parse(&buf[..len])?),
            Check::Incomplete { need } => return Ok(Next::Partial { need: need.unwrap_or(0) }),
        },
    };
    let sync = u32::try_from(f.header.sync)
        .map_err(|_| TransportError::Protocol(format!("SYNC {} was never sent", f.header.sync)))?;
    Ok(Next::Whole { len, frame: f, sync })
}

async fn write_loop(shared: Arc<Shared>) -> TransportError {
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
                    w.in_flight = 0;
                    w.writer_busy = false;
                    break;
                }
                std::mem::swap(&mut w.pending, &mut out);
                w.in_flight = std::mem::take(&mut w.pending_bytes);
            }
            // Each chunk is freed once the kernel has taken it.
            for chunk in out.drain(..) {
                tokio::select! {
                    written = shared.socket.write_all(&chunk) => if let Err(e) = written { return TransportError::io(&e) },
                    _ = shutdown.wait_for(|down| *down) => return TransportError::Closed,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_request;
    use crate::transport::{LANDING_META_WORDS, META_WORDS};

    /// Cuts without a landing: the frames come as (data, meta).
    fn cut(buf: &mut Vec<u8>) -> (Option<(Vec<u8>, Vec<u32>)>, Result<usize, TransportError>) {
        let (batch, outcome) = cut_frames(buf, 1 << 20, &mut Vec::new(), &mut 0, None);
        let owned = batch.map(|b| match b {
            Batch::Owned { data, meta } => (data, meta),
            Batch::Landed { .. } => panic!("landed without a landing"),
        });
        (owned, outcome)
    }

    #[test]
    fn cuts_whole_frames_and_keeps_the_partial_one() {
        let mut stream = Vec::new();
        encode_request(&mut stream, 0, 1, &[0x81, 0x30, 0x90]);
        let first = stream.len();
        encode_request(&mut stream, 0x80, 2, &[0x81, 0x30, 0x91, 0x05]);
        let first_two = stream.len();
        encode_request(&mut stream, 0, 2, &[0x81, 0x30, 0x90]);
        for at in 0..stream.len() {
            let mut buf = stream[..at].to_vec();
            let (batch, need) = cut(&mut buf);
            assert!(need.is_ok());
            let frames = batch.as_ref().map_or(0, |(_, meta)| meta.len() / META_WORDS);
            let consumed = batch.as_ref().map_or(0, |(data, _)| data.len());
            assert_eq!(consumed + buf.len(), at, "no byte lost at cut {at}");
            assert_eq!(frames, if at < first { 0 } else if at < first_two { 1 } else { 2 });
        }
        let mut buf = stream.clone();
        let (batch, need) = cut(&mut buf);
        let (data, meta) = batch.unwrap();
        assert_eq!((meta.len() / META_WORDS, need.unwrap(), buf.len()), (3, 0, 0));
        assert_eq!(&meta[5..10], &[0x80, 2, 0, 24, 28]);
        assert_eq!(&data[24..28], &[0x81, 0x30, 0x91, 0x05]);
    }

    #[test]
    fn a_small_batch_lands_and_a_big_one_is_handed_over() {
        let mut data = vec![0u8; SMALL_BATCH];
        let mut meta = vec![0u32; LANDING_META_WORDS];
        let mut scratch = Vec::new();
        let mut stream = Vec::new();
        encode_request(&mut stream, 0x80, 7, &[0x81, 0x30, 0x91, 0x05]);
        encode_request(&mut stream, 0, 7, &[0x81, 0x30, 0x90]);
        let whole = stream.len();
        encode_request(&mut stream, 0, 8, &[0x81, 0x30, 0x90]);
        stream.truncate(stream.len() - 1);
        let mut buf = stream.clone();
        let mut landing = Landing { data: &mut data, meta: &mut meta };
        let (batch, need) = cut_frames(&mut buf, 1 << 20, &mut scratch, &mut 0, Some(&mut landing));
        assert!(matches!(batch, Some(Batch::Landed { words: 10 })));
        assert_eq!((need.unwrap(), buf.len()), (stream.len() + 1 - whole, stream.len() - whole));
        assert_eq!(&meta[..10], &[0x80, 7, 0, 11, 15, 0, 7, 0, 25, 28]);
        assert_eq!(&data[..whole], &stream[..whole]);

        // Over SMALL_BATCH, or more frames than the landing indexes: memory of its own.
        let mut big = Vec::new();
        while big.len() < SMALL_BATCH {
            encode_request(&mut big, 0x80, 9, &[0x81, 0x30, 0x91, 0x05]);
        }
        let frames = big.len() / 15;
        let mut landing = Landing { data: &mut data, meta: &mut meta };
        match cut_frames(&mut big.clone(), 1 << 20, &mut scratch, &mut 0, Some(&mut landing)).0 {
            Some(Batch::Owned { data: owned, meta: index }) => {
                assert_eq!((owned, index.len()), (big.clone(), frames * META_WORDS))
            }
            other => panic!("expected an owned batch, got {other:?}"),
        }
        let mut short = vec![0u32; META_WORDS];
        let mut landing = Landing { data: &mut data, meta: &mut short };
        let mut two = stream[..whole].to_vec();
        let (batch, _) = cut_frames(&mut two, 1 << 20, &mut scratch, &mut 0, Some(&mut landing));
        assert!(matches!(batch, Some(Batch::Owned { .. })));
    }

    #[test]
    fn refuses_syncs_that_do_not_fit_u32() {
        let mut buf = Vec::new();
        encode_request(&mut buf, 0, 1 << 40, &[]);
        assert!(matches!(cut(&mut buf), (None, Err(TransportError::Protocol(_)))));
    }

    #[test]
    fn frames_before_a_bad_one_are_kept() {
        let mut buf = Vec::new();
        encode_request(&mut buf, 0, 665, &[0x81, 0x30, 0x90]);
        let good = buf.len();
        buf.extend_from_slice(&[0xc1, 0, 0]);
        let (batch, outcome) = cut(&mut buf);
        let (data, meta) = batch.expect("the whole frame is delivered");
        assert_eq!((meta.len() / META_WORDS, data.len()), (1, good));
        assert!(matches!(outcome, Err(TransportError::Protocol(_))));
    }

    #[test]
    fn a_bad_frame_is_shown_by_its_size_and_first_bytes() {
        let mut buf = vec![0x05, 0x81, 0xc1, 0x00, 0x00, 0x00];
        match cut(&mut buf).1 {
            Err(TransportError::Protocol(why)) => {
                assert!(why.ends_with("(frame of 6 bytes, starting 05 81 c1 00 00 00)"), "{why}")
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
        let mut buf = vec![0xce, 0x7f, 0xff, 0xff, 0xff, 0x82];
        match cut(&mut buf).1 {
            Err(TransportError::Protocol(why)) => assert!(why.contains("6 bytes received, starting ce 7f ff ff ff 82"), "{why}"),
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }
}
