//! One socket type over TCP and unix sockets. `Stream` is the tokio stream used while
//! connecting and authenticating. `Socket` is the established connection: the JS thread reads
//! it (woken by libuv) and writes it directly, and tokio watches only its writability, for the
//! writer task that finishes what the socket did not take at once; where there is no libuv
//! loop, tokio watches its readability too, for the reader task (`tokio_read.rs`).

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "unix/:{}", path.display()),
        }
    }
}

/// TCP keepalive: the first probe after this much idle time, then one per interval; dead after
/// the retries go unanswered (about 45 s in all).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 6;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Runs the same expression on whichever socket a TCP-or-unix enum holds.
macro_rules! each {
    ($kind:ident, $value:expr, $s:ident => $e:expr) => {
        match $value {
            $kind::Tcp($s) => $e,
            $kind::Unix($s) => $e,
        }
    };
}

impl Stream {
    pub async fn connect(address: &Address) -> io::Result<Stream> {
        match address {
            Address::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port)).await?;
                // Requests are coalesced per JS tick already; Nagle would only add latency
                // (bench/README.md: "Write coalescing").
                s.set_nodelay(true)?;
                // The OS probes an idle connection, so a peer that vanished while nothing was
                // pending (no heartbeat then) is noticed too.
                let keepalive = socket2::TcpKeepalive::new()
                    .with_time(KEEPALIVE_IDLE)
                    .with_interval(KEEPALIVE_INTERVAL)
                    .with_retries(KEEPALIVE_RETRIES);
                socket2::SockRef::from(&s).set_tcp_keepalive(&keepalive)?;
                Ok(Stream::Tcp(s))
            }
            Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }

    /// The established socket. Must be called inside the runtime (it registers with tokio).
    /// `read_on_tokio`: a reader task on tokio reads it, so tokio watches its readability too.
    pub fn establish(self, read_on_tokio: bool) -> io::Result<Socket> {
        let std = match self {
            Stream::Tcp(s) => StdSocket::Tcp(s.into_std()?),
            Stream::Unix(s) => StdSocket::Unix(s.into_std()?),
        };
        // Read interest stays off when libuv reports readiness to read: the tokio thread must
        // not wake for every response then.
        let interest = if read_on_tokio { Interest::READABLE | Interest::WRITABLE } else { Interest::WRITABLE };
        // SAFETY: the std socket owns its fd and is never replaced while the AsyncFd holds it.
        let registered = unsafe { AsyncFd::register_with_interest(std, interest) };
        Ok(Socket(registered.map_err(io::Error::from)?))
    }

    pub async fn readable(&self) -> io::Result<()> {
        each!(Stream, self, s => s.readable().await)
    }

    pub async fn writable(&self) -> io::Result<()> {
        each!(Stream, self, s => s.writable().await)
    }

    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        each!(Stream, self, s => s.try_read_buf(buf))
    }

    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        each!(Stream, self, s => s.try_write(data))
    }

    /// Reads until `buf` holds at least `len` bytes.
    pub async fn read_at_least(&self, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
        while buf.len() < len {
            buf.reserve(len - buf.len());
            self.readable().await?;
            match self.try_read_buf(buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            self.writable().await?;
            match self.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

enum StdSocket {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl AsRawFd for StdSocket {
    fn as_raw_fd(&self) -> RawFd {
        each!(StdSocket, self, s => s.as_raw_fd())
    }
}

/// An established, non-blocking connection. Reads and direct writes work from any thread
/// through `&self`; `write_all` waits for writability on the tokio runtime.
pub struct Socket(AsyncFd<StdSocket>);

impl Socket {
    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Reads into `buf`'s spare capacity, without initialising it first: recv(2) through
    /// socket2 takes the spare capacity as it is, uninitialised.
    pub fn read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let n = each!(StdSocket, self.0.get_ref(), s => socket2::SockRef::from(s).recv(buf.spare_capacity_mut())?);
        // SAFETY: recv initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        each!(StdSocket, self.0.get_ref(), s => (&*s).write(data))
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut ready = self.0.writable().await?;
            match ready.try_io(|_| self.try_write(data)) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }

    /// Waits until the socket is readable (only for a socket established with `read_on_tokio`).
    /// The guard's `clear_ready` says that a read found it drained.
    pub async fn readable(&self) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, impl AsRawFd>> {
        self.0.readable().await
    }

    /// Whether bytes wait in the socket unread (a peek, so reading stays JS's to do).
    pub fn has_unread_bytes(&self) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit()];
        let peeked = each!(StdSocket, self.0.get_ref(), s => socket2::SockRef::from(s).peek(&mut byte));
        matches!(peeked, Ok(n) if n > 0)
    }

    /// Ends both directions at once: the reader then sees the end, whatever thread failed.
    pub fn shutdown(&self) {
        let _ = each!(StdSocket, self.0.get_ref(), s => s.shutdown(Shutdown::Both));
    }
}
