//! One socket type over TCP and unix sockets. Both tokio streams allow readiness waits and
//! non-blocking reads/writes through `&self`, which lets the JS thread write directly while a
//! task reads, without splitting the stream.

use std::io;
#[cfg(unix)]
use std::path::PathBuf;

use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Address {
    Tcp { host: String, port: u16 },
    #[cfg(unix)]
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            #[cfg(unix)]
            Address::Unix(path) => write!(f, "unix/:{}", path.display()),
        }
    }
}

pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Unix($s) => $e,
        }
    };
}

impl Stream {
    pub async fn connect(address: &Address) -> io::Result<Stream> {
        match address {
            Address::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port)).await?;
                // Requests are coalesced per JS tick already; Nagle would only add latency.
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            #[cfg(unix)]
            Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }

    pub async fn readable(&self) -> io::Result<()> {
        each!(self, s => s.readable().await)
    }

    pub async fn writable(&self) -> io::Result<()> {
        each!(self, s => s.writable().await)
    }

    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        each!(self, s => s.try_read_buf(buf))
    }

    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        each!(self, s => s.try_write(data))
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
