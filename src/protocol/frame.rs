//! IPROTO framing: `size` (MessagePack uint) + header map + optional body map.
//!
//! As in mini-redis, [`check`] is the cheap completeness test that allocates nothing, and
//! [`parse`] reads a frame known to be whole. "Incomplete" is a normal outcome, not an error.

use std::fmt;

use super::keys::header;
use super::msgpack::{skip_value, MsgpackError, Reader};

/// Largest frame accepted unless the user configures otherwise. Big enough for any sane
/// select, small enough that a hostile length cannot make us reserve gigabytes.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 256 * 1024 * 1024;
/// The largest `maxFrameSize`: a batch indexes its frames with u32 offsets, and it holds at most
/// one frame this large plus less than one read pass of bytes around it.
pub const MAX_FRAME_SIZE_LIMIT: usize = 1 << 31;

/// Bytes a client-written length prefix takes: 0xce + u32.
pub const SIZE_PREFIX_LEN: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The announced frame is larger than the configured limit.
    TooLarge { size: u64, max: usize },
    /// The size prefix is not a MessagePack unsigned integer.
    BadSize(u8),
    /// Header or body is not valid MessagePack, or has the wrong shape.
    Malformed(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { size, max } => {
                write!(f, "frame of {size} bytes exceeds maxFrameSize {max}")
            }
            FrameError::BadSize(b) => write!(f, "frame size prefix starts with byte 0x{b:02x}"),
            FrameError::Malformed(why) => write!(f, "malformed frame: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<MsgpackError> for FrameError {
    fn from(e: MsgpackError) -> Self {
        FrameError::Malformed(e.to_string())
    }
}

/// What [`check`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A whole frame of `len` bytes (prefix included) is present.
    Complete { len: usize },
    /// More bytes are needed; `need` is the whole frame's length once the prefix is known.
    Incomplete { need: Option<usize> },
}

/// Tells whether `buf` starts with a whole frame, without parsing it.
pub fn check(buf: &[u8], max_frame_size: usize) -> Result<Check, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(Check::Incomplete { need: None });
    };
    let prefix_len = match first {
        0x00..=0x7f => 1,
        0xcc => 2,
        0xcd => 3,
        0xce => 5,
        0xcf => 9,
        other => return Err(FrameError::BadSize(other)),
    };
    if buf.len() < prefix_len {
        return Ok(Check::Incomplete { need: None });
    }
    let size = Reader::new(&buf[..prefix_len]).read_uint()?;
    if size > max_frame_size as u64 {
        return Err(FrameError::TooLarge { size, max: max_frame_size });
    }
    let len = prefix_len + size as usize;
    if buf.len() < len {
        Ok(Check::Incomplete { need: Some(len) })
    } else {
        Ok(Check::Complete { len })
    }
}

/// The header fields kharon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// REQUEST_TYPE: the response status (0 OK, 0x80 CHUNK, 0x8000|code error).
    pub status: u32,
    pub sync: u64,
    pub schema_version: u32,
}

/// A parsed frame: its header and where the body lies within the frame's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    /// Body offsets relative to the frame start (prefix included); empty when there is none.
    pub body_start: usize,
    pub body_end: usize,
}

/// Parses a whole frame (as found by [`check`]) and validates its body.
pub fn parse(frame: &[u8]) -> Result<Frame, FrameError> {
    let mut r = Reader::new(frame);
    r.read_uint()?;
    let (header, body_start) = match tarantool_header(&frame[r.position()..]) {
        Some((header, len)) => (header, r.position() + len),
        None => any_header(&mut r)?,
    };
    if body_start < frame.len() {
        let mut body = Reader::new(&frame[body_start..]);
        body.read_map_len()
            .map_err(|_| FrameError::Malformed("body is not a map".into()))?;
        let mut whole = Reader::new(&frame[body_start..]);
        whole.skip()?;
        if whole.position() != frame.len() - body_start {
            return Err(FrameError::Malformed("bytes after the body".into()));
        }
    }
    Ok(Frame { header, body_start, body_end: frame.len() })
}

/// A whole frame at the start of `buf` in the layout Tarantool writes (a 0xce size prefix and
/// the header [`tarantool_header`] reads), with its length: one pass, no MessagePack walk of
/// the header, and of a `{key: [value]}` body only the value. None for anything else
/// (incomplete, too large, malformed, another layout): [`check`] and [`parse`] then say what
/// it is.
#[inline]
pub fn parse_tarantool(buf: &[u8], max_frame_size: usize) -> Option<(usize, Frame)> {
    let prefix: [u8; 4] = buf.get(1..SIZE_PREFIX_LEN)?.try_into().ok()?;
    let size = u32::from_be_bytes(prefix) as usize;
    let len = SIZE_PREFIX_LEN + size;
    if buf[0] != 0xce || size > max_frame_size || buf.len() < len {
        return None;
    }
    let (header, header_len) = tarantool_header(&buf[SIZE_PREFIX_LEN..len])?;
    let body_start = SIZE_PREFIX_LEN + header_len;
    let body = &buf[body_start..len];
    let whole = match body {
        [] => true,
        // {fixint key: [one value]}, as Tarantool writes a push (its array as array32) and
        // most replies: only the value is walked.
        [0x81, 0x00..=0x7f, 0xdd, 0, 0, 0, 1, ..] => skip_value(body, 7, 2) == Some(body.len()),
        [0x81, 0x00..=0x7f, 0x91, ..] => skip_value(body, 3, 2) == Some(body.len()),
        [0x80..=0x8f | 0xde | 0xdf, ..] => skip_value(body, 0, 0) == Some(body.len()),
        _ => false,
    };
    whole.then_some((len, Frame { header, body_start, body_end: len }))
}

/// The header as Tarantool writes every response's: {REQUEST_TYPE: ce u32, SYNC: cf u64,
/// SCHEMA_VERSION: ce u32 (2.x) or cf u64 (3.x)}, read without a MessagePack walk. None for
/// any other layout, which [`any_header`] reads.
fn tarantool_header(h: &[u8]) -> Option<(Header, usize)> {
    if h.len() < 23 || h[..3] != [0x83, header::REQUEST_TYPE as u8, 0xce] || h[7..9] != [header::SYNC as u8, 0xcf] {
        return None;
    }
    if h[17] != header::SCHEMA_VERSION as u8 {
        return None;
    }
    let status = u32::from_be_bytes(h[3..7].try_into().ok()?);
    let sync = u64::from_be_bytes(h[9..17].try_into().ok()?);
    let (schema_version, len) = match h[18] {
        0xce => (u32::from_be_bytes(h[19..23].try_into().ok()?), 23),
        0xcf if h.len() >= 27 => (u32::try_from(u64::from_be_bytes(h[19..27].try_into().ok()?)).ok()?, 27),
        _ => return None,
    };
    Some((Header { status, sync, schema_version }, len))
}

/// A header map in any valid encoding; returns it and where the body starts.
fn any_header(r: &mut Reader) -> Result<(Header, usize), FrameError> {
    let pairs = r
        .read_map_len()
        .map_err(|_| FrameError::Malformed("header is not a map".into()))?;
    let mut header = Header::default();
    for _ in 0..pairs {
        let key = r.read_uint()?;
        match key {
            header::REQUEST_TYPE => header.status = narrow(r.read_uint()?, "REQUEST_TYPE")?,
            header::SYNC => header.sync = r.read_uint()?,
            header::SCHEMA_VERSION => header.schema_version = narrow(r.read_uint()?, "SCHEMA_VERSION")?,
            _ => r.skip()?,
        }
    }
    Ok((header, r.position()))
}

fn narrow(v: u64, what: &str) -> Result<u32, FrameError> {
    u32::try_from(v).map_err(|_| FrameError::Malformed(format!("{what} {v} out of range")))
}

/// Appends one request frame: size prefix, `{REQUEST_TYPE: type, SYNC: sync}`, then `body`
/// (already an encoded map, or empty). Only the handshake's requests (ID, AUTH) are framed
/// here, before JS has the connection; JS frames every request after it (lib/write-queue.js),
/// where the body was encoded. A cargo test below and __test__/constants.test.js pin both
/// framings to the same bytes.
pub fn encode_request(out: &mut Vec<u8>, request_type: u32, sync: u64, body: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0xce, 0, 0, 0, 0, 0x82, header::REQUEST_TYPE as u8]);
    rmp::encode::write_uint(out, request_type as u64).expect("Vec grows");
    out.push(header::SYNC as u8);
    rmp::encode::write_uint(out, sync).expect("Vec grows");
    out.extend_from_slice(body);
    let size = (out.len() - start - SIZE_PREFIX_LEN) as u32;
    out[start + 1..start + SIZE_PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Tarantool 2.6 sends for `call('echo', {1})` answered with [1], sync 7.
    fn server_response() -> Vec<u8> {
        let mut f = vec![0xce, 0, 0, 0, 0];
        f.extend_from_slice(&[0x83, 0x00, 0xce, 0, 0, 0, 0, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0x05, 0xce, 0, 0, 0, 80]);
        f.extend_from_slice(&[0x81, 0x30, 0x91, 0x01]);
        let size = (f.len() - 5) as u32;
        f[1..5].copy_from_slice(&size.to_be_bytes());
        f
    }

    #[test]
    fn parses_a_server_response() {
        let f = server_response();
        assert_eq!(check(&f, 1 << 20), Ok(Check::Complete { len: f.len() }));
        let frame = parse(&f).unwrap();
        assert_eq!(frame.header, Header { status: 0, sync: 7, schema_version: 80 });
        assert_eq!(&f[frame.body_start..frame.body_end], &[0x81, 0x30, 0x91, 0x01]);
    }

    #[test]
    fn frame_split_at_every_byte_is_incomplete_until_whole() {
        let mut stream = server_response();
        stream.extend(server_response());
        let one = server_response().len();
        for cut in 0..one {
            let r = check(&stream[..cut], 1 << 20).unwrap();
            let expect_need = if cut >= 5 { Some(one) } else { None };
            assert_eq!(r, Check::Incomplete { need: expect_need }, "cut at {cut}");
        }
        for cut in one..stream.len() {
            assert_eq!(check(&stream[..cut], 1 << 20).unwrap(), Check::Complete { len: one });
        }
    }

    #[test]
    fn refuses_oversized_frames_before_reading_them() {
        let f = [0xce, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(check(&f, 1024), Err(FrameError::TooLarge { .. })));
        assert!(matches!(check(&[0xa1], 1024), Err(FrameError::BadSize(0xa1))));
    }

    #[test]
    fn frame_without_body_has_empty_body_range() {
        let mut f = Vec::new();
        encode_request(&mut f, 64, 3, &[]);
        let frame = parse(&f).unwrap();
        assert_eq!(frame.header.status, 64);
        assert_eq!(frame.header.sync, 3);
        assert_eq!(frame.body_start, frame.body_end);
    }

    /// Tarantool's fixed-width headers (2.x: schema version as u32, 3.x: as u64) read by the
    /// fast path give what the general reader gives.
    #[test]
    fn tarantool_headers_read_alike_by_both_paths() {
        let body = [0x81, 0x30, 0x91, 0x01];
        for (status, sync, schema) in [(0u32, 7u64, 80u32), (0x80, u32::MAX as u64, 1), (0x8000 | 33, 1 << 40, u32::MAX)] {
            let mut two = vec![0x83, 0x00, 0xce];
            two.extend_from_slice(&status.to_be_bytes());
            two.extend_from_slice(&[0x01, 0xcf]);
            two.extend_from_slice(&sync.to_be_bytes());
            let mut three = two.clone();
            two.extend_from_slice(&[0x05, 0xce]);
            two.extend_from_slice(&schema.to_be_bytes());
            three.extend_from_slice(&[0x05, 0xcf]);
            three.extend_from_slice(&(schema as u64).to_be_bytes());
            for header in [two, three] {
                let fast = tarantool_header(&header).expect("Tarantool's layout");
                let mut with_body = header.clone();
                with_body.extend_from_slice(&body);
                assert_eq!(fast, any_header(&mut Reader::new(&with_body)).unwrap());
                assert_eq!(fast.0, Header { status, sync, schema_version: schema });
            }
        }
        // A schema version beyond u32 and other layouts are left to the general reader.
        let mut wide = vec![0x83, 0x00, 0xce, 0, 0, 0, 0, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0x05, 0xcf];
        wide.extend_from_slice(&(1u64 << 33).to_be_bytes());
        assert_eq!(tarantool_header(&wide), None);
        assert!(any_header(&mut Reader::new(&wide)).is_err());
        assert_eq!(tarantool_header(&[0x82, 0x00, 0x00, 0x01, 0x07]), None);
    }

    #[test]
    fn malformed_headers_and_bodies_are_errors() {
        let mut bad_header = vec![0xce, 0, 0, 0, 1, 0x91];
        assert!(matches!(parse(&bad_header), Err(FrameError::Malformed(_))));
        bad_header = Vec::new();
        encode_request(&mut bad_header, 0, 1, &[0x92, 0x01]);
        assert!(matches!(parse(&bad_header), Err(FrameError::Malformed(_))));
        let mut trailing = Vec::new();
        encode_request(&mut trailing, 0, 1, &[0x80, 0x01]);
        assert!(matches!(parse(&trailing), Err(FrameError::Malformed(_))));
    }

    #[test]
    fn encodes_requests_as_the_js_layer_does() {
        let mut f = Vec::new();
        encode_request(&mut f, 10, 0x01020304, &[0x80]);
        assert_eq!(f, [0xce, 0, 0, 0, 10, 0x82, 0x00, 0x0a, 0x01, 0xce, 1, 2, 3, 4, 0x80]);
    }
}
