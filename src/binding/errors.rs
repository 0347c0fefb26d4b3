//! Every failure crosses into JS as one plain shape, [`ErrorInfo`]; the JS layer turns it into
//! the matching Error subclass (`kind` names the class), so all paths report errors alike.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::transport::TransportError;

#[napi(object)]
pub struct ErrorInfo {
    /// JS class: ConnectionError, ProtocolError, TimeoutError, TarantoolError, InternalError.
    pub kind: String,
    pub code: String,
    pub message: String,
    /// The server's error code (TarantoolError only).
    pub errcode: Option<u32>,
    /// The raw error response body of a refused AUTH (TarantoolError only): JS decodes it as it
    /// decodes every other error response.
    pub body: Option<Buffer>,
    /// How far a handshake that timed out got: "connect", "greeting" or "handshake".
    pub stage: Option<String>,
    /// What the server lacks or demands (UnsupportedError only), and its version.
    pub feature: Option<String>,
    pub server_version: Option<String>,
}

impl From<&TransportError> for ErrorInfo {
    fn from(e: &TransportError) -> Self {
        let (kind, errcode, body) = match e {
            TransportError::Io { .. } | TransportError::Eof | TransportError::Closed => ("ConnectionError", None, None),
            TransportError::ConnectTimeout { .. } => ("TimeoutError", None, None),
            TransportError::Protocol(_) => ("ProtocolError", None, None),
            TransportError::Internal(_) => ("InternalError", None, None),
            TransportError::Auth { errcode, body } => ("TarantoolError", Some(*errcode), Some(Buffer::from(body.clone()))),
            TransportError::UnsupportedAuth { .. } => ("UnsupportedError", None, None),
        };
        let stage = match e {
            TransportError::ConnectTimeout { stage, .. } => Some(stage.name().to_owned()),
            _ => None,
        };
        let (feature, server_version) = match e {
            TransportError::UnsupportedAuth { method, server_version } => (Some(method.clone()), Some(server_version.clone())),
            _ => (None, None),
        };
        ErrorInfo { kind: kind.into(), code: e.code(), message: e.to_string(), errcode, body, stage, feature, server_version }
    }
}
