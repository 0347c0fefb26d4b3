//! Decoding of error responses: IPROTO_ERROR (0x52) stack when present (2.4.1+), else the
//! IPROTO_ERROR_24 message.

use super::errcodes::NAMES;
use super::keys::{body, error as ek, response};
use super::msgpack::{MsgpackError, Reader};

/// The Tarantool name of an error code (`ER_NO_SUCH_PROC` for 33), or `ER_UNKNOWN_<n>`.
pub fn code_name(errcode: u32) -> String {
    match NAMES.get(errcode as usize).copied().flatten() {
        Some(name) => name.to_owned(),
        None => format!("ER_UNKNOWN_{errcode}"),
    }
}

/// The error code carried in a response status (`0x8000 | code`), if it is an error.
pub fn errcode_of_status(status: u32) -> Option<u32> {
    (status & response::ERROR_FLAG != 0).then_some(status & !response::ERROR_FLAG)
}

/// A scalar value of an error's `fields` map.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Nil,
}

/// One entry of the IPROTO_ERROR stack; the first is the newest error.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StackEntry {
    pub error_type: String,
    pub file: String,
    pub line: u64,
    pub message: String,
    pub errno: u64,
    pub code: u64,
    pub fields: Vec<(String, FieldValue)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerError {
    pub errcode: u32,
    pub name: String,
    pub message: String,
    pub stack: Vec<StackEntry>,
}

/// Decodes an error response body. A body that cannot be read still yields an error with
/// the code from the status, so a server error is never lost to a decoding problem.
pub fn decode(errcode: u32, body_bytes: &[u8]) -> ServerError {
    let (message24, stack) = read_body(body_bytes).unwrap_or_default();
    let message = stack
        .first()
        .map(|e| e.message.clone())
        .filter(|m| !m.is_empty())
        .or(message24)
        .unwrap_or_else(|| format!("Tarantool error {errcode}"));
    ServerError { errcode, name: code_name(errcode), message, stack }
}

fn read_body(b: &[u8]) -> Result<(Option<String>, Vec<StackEntry>), MsgpackError> {
    let mut message24 = None;
    let mut stack = Vec::new();
    if b.is_empty() {
        return Ok((None, stack));
    }
    let mut r = Reader::new(b);
    for _ in 0..r.read_map_len()? {
        match r.read_uint()? {
            body::ERROR_24 => message24 = Some(r.read_string()?),
            body::ERROR => stack = read_error_map(&mut r)?,
            _ => r.skip()?,
        }
    }
    Ok((message24, stack))
}

/// Reads `{STACK: [entry, ...]}`, the payload of IPROTO_ERROR and of MP_EXT type 3.
pub fn read_error_map(r: &mut Reader) -> Result<Vec<StackEntry>, MsgpackError> {
    let mut stack = Vec::new();
    for _ in 0..r.read_map_len()? {
        if r.read_uint()? != ek::STACK {
            r.skip()?;
            continue;
        }
        for _ in 0..r.read_array_len()? {
            stack.push(read_entry(r)?);
        }
    }
    Ok(stack)
}

fn read_entry(r: &mut Reader) -> Result<StackEntry, MsgpackError> {
    let mut e = StackEntry::default();
    for _ in 0..r.read_map_len()? {
        match r.read_uint()? {
            ek::TYPE => e.error_type = r.read_string()?,
            ek::FILE => e.file = r.read_string()?,
            ek::LINE => e.line = r.read_uint()?,
            ek::MESSAGE => e.message = r.read_string()?,
            ek::ERRNO => e.errno = r.read_uint()?,
            ek::CODE => e.code = r.read_uint()?,
            ek::FIELDS => {
                for _ in 0..r.read_map_len()? {
                    let key = r.read_string()?;
                    if let Some(v) = read_scalar(r)? {
                        e.fields.push((key, v));
                    }
                }
            }
            _ => r.skip()?,
        }
    }
    Ok(e)
}

/// Reads a scalar; containers and extensions are skipped (None).
fn read_scalar(r: &mut Reader) -> Result<Option<FieldValue>, MsgpackError> {
    let tag = r.peek()?;
    Ok(Some(match tag {
        0x00..=0x7f | 0xcc..=0xcf | 0xd0..=0xd3 | 0xe0..=0xff => FieldValue::Int(r.read_int()?),
        0xa0..=0xbf | 0xd9..=0xdb => FieldValue::Str(r.read_string()?),
        0xc0 => {
            r.skip()?;
            FieldValue::Nil
        }
        0xc2 | 0xc3 => {
            r.skip()?;
            FieldValue::Bool(tag == 0xc3)
        }
        0xca | 0xcb => FieldValue::Float(r.read_float()?),
        _ => {
            r.skip()?;
            return Ok(None);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_codes() {
        assert_eq!(code_name(33), "ER_NO_SUCH_PROC");
        assert_eq!(code_name(0), "ER_UNKNOWN");
        assert_eq!(code_name(9999), "ER_UNKNOWN_9999");
        assert_eq!(errcode_of_status(0x8021), Some(33));
        assert_eq!(errcode_of_status(0x80), None);
    }

    /// The body Tarantool 2.6 sent for `call('nope')` (captured from the test server).
    fn no_such_proc_body() -> Vec<u8> {
        let mut b = vec![0x82, 0x31];
        let msg = b"Procedure 'nope' is not defined";
        b.push(0xa0 | msg.len() as u8);
        b.extend_from_slice(msg);
        b.extend_from_slice(&[0x52, 0x81, 0x00, 0x91, 0x86]);
        b.extend_from_slice(&[0x00, 0xab]);
        b.extend_from_slice(b"ClientError");
        b.extend_from_slice(&[0x02, 0xcd, 0x01, 0x2c]);
        b.extend_from_slice(&[0x01, 0xa8]);
        b.extend_from_slice(b"call.cc\0");
        b.push(0x03);
        b.push(0xa0 | msg.len() as u8);
        b.extend_from_slice(msg);
        b.extend_from_slice(&[0x04, 0x00, 0x05, 0x21]);
        b
    }

    #[test]
    fn decodes_the_error_stack() {
        let e = decode(33, &no_such_proc_body());
        assert_eq!(e.name, "ER_NO_SUCH_PROC");
        assert_eq!(e.message, "Procedure 'nope' is not defined");
        assert_eq!(e.stack.len(), 1);
        assert_eq!(e.stack[0].error_type, "ClientError");
        assert_eq!(e.stack[0].line, 300);
        assert_eq!(e.stack[0].code, 33);
    }

    #[test]
    fn falls_back_to_error_24_and_survives_garbage() {
        let mut b = vec![0x81, 0x31, 0xa3];
        b.extend_from_slice(b"boo");
        assert_eq!(decode(1, &b).message, "boo");
        let garbage = decode(5, &[0xc1, 0xff]);
        assert_eq!(garbage.message, "Tarantool error 5");
        assert_eq!(garbage.name, "ER_UNSUPPORTED");
    }

    #[test]
    fn reads_scalar_fields() {
        // {STACK: [{MESSAGE: "m", FIELDS: {"a": 1, "b": "x", "c": [1]}}]}
        let b = [0x81, 0x00, 0x91, 0x82, 0x03, 0xa1, b'm', 0x06, 0x83, 0xa1, b'a', 0x01, 0xa1, b'b', 0xa1, b'x', 0xa1, b'c', 0x91, 0x01];
        let stack = read_error_map(&mut Reader::new(&b)).unwrap();
        assert_eq!(stack[0].fields, vec![("a".into(), FieldValue::Int(1)), ("b".into(), FieldValue::Str("x".into()))]);
    }
}
