//! Every failure crosses into JS as one plain shape, [`ErrorInfo`]; the JS layer turns it into
//! the matching Error subclass (`kind` names the class), so all paths report errors alike.

use napi_derive::napi;

use crate::protocol::error::{FieldValue, ServerError, StackEntry};
use crate::transport::TransportError;

#[napi(object)]
pub struct StackEntryInfo {
    #[napi(js_name = "type")]
    pub error_type: String,
    pub file: String,
    pub line: f64,
    pub message: String,
    pub errno: f64,
    pub code: f64,
    /// The entry's `fields` map, scalars only, as JSON (keeps the binding free of JS objects).
    pub fields_json: Option<String>,
}

#[napi(object)]
pub struct ErrorInfo {
    /// JS class: ConnectionError, ProtocolError, TimeoutError, TarantoolError, InternalError.
    pub kind: String,
    pub code: String,
    pub message: String,
    pub errcode: Option<u32>,
    pub stack: Option<Vec<StackEntryInfo>>,
}

impl From<&TransportError> for ErrorInfo {
    fn from(e: &TransportError) -> Self {
        if let TransportError::Auth(server) = e {
            let mut info = ErrorInfo::from(server);
            info.message = e.to_string();
            return info;
        }
        let kind = match e {
            TransportError::Io { .. } | TransportError::Eof | TransportError::Closed => "ConnectionError",
            TransportError::ConnectTimeout => "TimeoutError",
            TransportError::Protocol(_) => "ProtocolError",
            TransportError::Internal(_) => "InternalError",
            TransportError::Auth(_) => unreachable!("handled above"),
        };
        ErrorInfo { kind: kind.into(), code: e.code(), message: e.to_string(), errcode: None, stack: None }
    }
}

impl From<&ServerError> for ErrorInfo {
    fn from(e: &ServerError) -> Self {
        ErrorInfo {
            kind: "TarantoolError".into(),
            code: e.name.clone(),
            message: e.message.clone(),
            errcode: Some(e.errcode),
            stack: Some(e.stack.iter().map(StackEntryInfo::from).collect()),
        }
    }
}

impl From<&StackEntry> for StackEntryInfo {
    fn from(e: &StackEntry) -> Self {
        StackEntryInfo {
            error_type: e.error_type.clone(),
            file: e.file.clone(),
            line: e.line as f64,
            message: e.message.clone(),
            errno: e.errno as f64,
            code: e.code as f64,
            fields_json: (!e.fields.is_empty()).then(|| fields_json(&e.fields)),
        }
    }
}

fn fields_json(fields: &[(String, FieldValue)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                FieldValue::Str(s) => json_string(s),
                FieldValue::Int(i) => i.to_string(),
                FieldValue::Float(f) if f.is_finite() => f.to_string(),
                FieldValue::Float(_) | FieldValue::Nil => "null".into(),
                FieldValue::Bool(b) => b.to_string(),
            };
            format!("{}:{}", json_string(k), value)
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
