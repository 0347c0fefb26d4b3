//! Why a connection failed or ended. The binding maps each kind to a JS error class.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::protocol::error::code_name;
use crate::protocol::frame::FrameError;
use crate::protocol::greeting::GreetingError;

#[derive(Debug, Clone)]
pub enum TransportError {
    /// Socket-level failure: connect, read or write. `code` is the errno name (ECONNREFUSED…).
    Io { code: String, message: String },
    /// The server closed the connection.
    Eof,
    /// The user closed the connection.
    Closed,
    /// `connectTimeout` expired before the handshake completed; `stage` says what never came.
    ConnectTimeout { stage: HandshakeStage, after: Duration },
    /// The peer broke the protocol: bad greeting, oversized or malformed frame.
    Protocol(String),
    /// The server expects an authentication method kharon does not speak (pap-sha256).
    UnsupportedAuth { method: String, server_version: String },
    /// Authentication was refused by the server: the error code and the raw error response
    /// body, which JS decodes as it does every other error response.
    Auth { errcode: u32, body: Vec<u8> },
    /// A bug in kharon (a panic in the connection task), reported instead of crashing.
    Internal(String),
}

/// How far a handshake got: the TCP (or unix) connect, the greeting, or the replies to ID and AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HandshakeStage {
    Connecting = 0,
    Greeting = 1,
    Replies = 2,
}

impl HandshakeStage {
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => HandshakeStage::Connecting,
            1 => HandshakeStage::Greeting,
            _ => HandshakeStage::Replies,
        }
    }

    /// The name JS knows it by.
    pub fn name(self) -> &'static str {
        match self {
            HandshakeStage::Connecting => "connect",
            HandshakeStage::Greeting => "greeting",
            HandshakeStage::Replies => "handshake",
        }
    }
}

impl TransportError {
    pub fn io(err: &io::Error) -> Self {
        TransportError::Io { code: errno_name(err).to_owned(), message: err.to_string() }
    }

    /// A stable string code for JS.
    pub fn code(&self) -> String {
        match self {
            TransportError::Io { code, .. } => code.clone(),
            TransportError::Eof => "ECONNRESET".into(),
            TransportError::Closed => "ERR_CONNECTION_CLOSED".into(),
            TransportError::ConnectTimeout { .. } => "ETIMEDOUT".into(),
            TransportError::Protocol(_) => "ERR_PROTOCOL".into(),
            TransportError::Auth { errcode, .. } => code_name(*errcode),
            TransportError::UnsupportedAuth { .. } => "ERR_UNSUPPORTED".into(),
            TransportError::Internal(_) => "ERR_INTERNAL".into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Io { message, .. } => f.write_str(message),
            TransportError::Eof => f.write_str("connection closed by the server"),
            TransportError::Closed => f.write_str("connection closed"),
            TransportError::ConnectTimeout { stage, after } => {
                let ms = after.as_millis();
                match stage {
                    HandshakeStage::Connecting => write!(f, "connect timed out after {ms} ms"),
                    HandshakeStage::Greeting => write!(f, "no Tarantool greeting within {ms} ms"),
                    HandshakeStage::Replies => write!(f, "no reply to the handshake (ID, AUTH) within {ms} ms"),
                }
            }
            TransportError::Protocol(why) => write!(f, "protocol error: {why}"),
            TransportError::Auth { errcode, .. } => write!(f, "authentication failed: {}", code_name(*errcode)),
            TransportError::UnsupportedAuth { method, server_version } => write!(
                f,
                "Tarantool {server_version} expects {method} authentication, which kharon does not do (it signs in with chap-sha1, and {method} needs SSL)"
            ),
            TransportError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<FrameError> for TransportError {
    fn from(e: FrameError) -> Self {
        TransportError::Protocol(e.to_string())
    }
}

impl From<GreetingError> for TransportError {
    fn from(e: GreetingError) -> Self {
        TransportError::Protocol(e.to_string())
    }
}

/// The errno name Node users know, from an io::Error.
fn errno_name(err: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused => "ECONNREFUSED",
        ConnectionReset => "ECONNRESET",
        ConnectionAborted => "ECONNABORTED",
        BrokenPipe => "EPIPE",
        NotFound => "ENOENT",
        PermissionDenied => "EACCES",
        AddrNotAvailable => "EADDRNOTAVAIL",
        AddrInUse => "EADDRINUSE",
        TimedOut => "ETIMEDOUT",
        HostUnreachable => "EHOSTUNREACH",
        NetworkUnreachable => "ENETUNREACH",
        UnexpectedEof => "ECONNRESET",
        _ if err.to_string().contains("lookup address") => "ENOTFOUND",
        _ => "EIO",
    }
}
