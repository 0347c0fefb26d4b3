//! The few MessagePack reads the protocol needs, over untrusted bytes. Every length is
//! checked against the bytes actually present before it is used, so a hostile length can
//! neither allocate nor read out of bounds.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgpackError {
    /// The value runs past the end of the input.
    Truncated,
    /// A byte that starts no MessagePack value (0xc1), or a value of the wrong type.
    Invalid(&'static str),
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgpackError::Truncated => f.write_str("MessagePack value is truncated"),
            MsgpackError::Invalid(what) => write!(f, "invalid MessagePack: {what}"),
            MsgpackError::TooDeep => f.write_str("MessagePack nesting is too deep"),
        }
    }
}

impl std::error::Error for MsgpackError {}

/// Deeper nesting than this is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 512;

pub type Result<T> = std::result::Result<T, MsgpackError>;

/// A forward-only reader over one buffer.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or(MsgpackError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    /// Reads an unsigned integer (positive fixint, uint8..uint64).
    pub fn read_uint(&mut self) -> Result<u64> {
        match self.byte()? {
            b @ 0x00..=0x7f => Ok(b as u64),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => Err(MsgpackError::Invalid("expected an unsigned integer")),
        }
    }

    /// Reads a map header and returns its entry count.
    pub fn read_map_len(&mut self) -> Result<usize> {
        match self.byte()? {
            b @ 0x80..=0x8f => Ok((b & 0x0f) as usize),
            0xde => Ok(self.be(2)? as usize),
            0xdf => Ok(self.be(4)? as usize),
            _ => Err(MsgpackError::Invalid("expected a map")),
        }
    }

    /// Reads an array header and returns its element count.
    pub fn read_array_len(&mut self) -> Result<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Ok((b & 0x0f) as usize),
            0xdc => Ok(self.be(2)? as usize),
            0xdd => Ok(self.be(4)? as usize),
            _ => Err(MsgpackError::Invalid("expected an array")),
        }
    }

    /// Reads a str as UTF-8 (lossily: a name the server sends is only ever compared and shown).
    pub fn read_string(&mut self) -> Result<String> {
        let len = match self.byte()? {
            b @ 0xa0..=0xbf => (b & 0x1f) as usize,
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return Err(MsgpackError::Invalid("expected a string")),
        };
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// Skips one whole value, checking that it is well-formed.
    pub fn skip(&mut self) -> Result<()> {
        // Every frame's body is skipped: the common, well-formed case runs without building
        // errors; only a value that fails it is walked again to say why.
        if let Some(end) = skip_value(self.buf, self.pos, 0) {
            self.pos = end;
            return Ok(());
        }
        self.skip_nested(0)
    }

    // Recursion, bounded by MAX_DEPTH: every frame's body is skipped, and for the small bodies
    // of pushes and replies it costs less than any explicit stack.
    fn skip_nested(&mut self, depth: usize) -> Result<()> {
        let children = self.skip_head()?;
        if children == 0 {
            return Ok(());
        }
        if depth >= MAX_DEPTH {
            return Err(MsgpackError::TooDeep);
        }
        for _ in 0..children {
            self.skip_nested(depth + 1)?;
        }
        Ok(())
    }

    /// Consumes one value's head and payload bytes; returns how many child values follow.
    fn skip_head(&mut self) -> Result<u64> {
        let b = self.byte()?;
        let (payload, children): (u64, u64) = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * (b & 0x0f) as u64),
            0x90..=0x9f => (0, (b & 0x0f) as u64),
            0xa0..=0xbf => ((b & 0x1f) as u64, 0),
            0xc1 => return Err(MsgpackError::Invalid("reserved byte 0xc1")),
            0xc4 | 0xd9 => (self.be(1)?, 0),
            0xc5 | 0xda => (self.be(2)?, 0),
            0xc6 | 0xdb => (self.be(4)?, 0),
            0xc7 => (self.be(1)? + 1, 0),
            0xc8 => (self.be(2)? + 1, 0),
            0xc9 => (self.be(4)? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.be(2)?),
            0xdd => (0, self.be(4)?),
            0xde => (0, 2 * self.be(2)?),
            0xdf => (0, 2 * self.be(4)?),
        };
        // Every child takes at least one byte: a count larger than what is left is a lie.
        if children > (self.buf.len() - self.pos) as u64 {
            return Err(MsgpackError::Truncated);
        }
        self.take(payload as usize)?;
        Ok(children)
    }
}

/// Where the well-formed value at `buf[pos..]` ends; None for any fault (the same checks as
/// [`Reader::skip_head`], without the error values).
pub(crate) fn skip_value(buf: &[u8], pos: usize, depth: usize) -> Option<usize> {
    let b = *buf.get(pos)?;
    let pos = pos + 1;
    let be = |n: usize| -> Option<usize> {
        let bytes = buf.get(pos..pos.checked_add(n)?)?;
        Some(bytes.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
    };
    let (head, payload, children) = match b {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => return Some(pos),
        0x80..=0x8f => (0, 0, 2 * (b & 0x0f) as usize),
        0x90..=0x9f => (0, 0, (b & 0x0f) as usize),
        0xa0..=0xbf => (0, (b & 0x1f) as usize, 0),
        0xc4 | 0xd9 => (1, be(1)?, 0),
        0xc5 | 0xda => (2, be(2)?, 0),
        0xc6 | 0xdb => (4, be(4)?, 0),
        0xc7 => (1, be(1)? + 1, 0),
        0xc8 => (2, be(2)? + 1, 0),
        0xc9 => (4, be(4)? + 1, 0),
        0xca | 0xce | 0xd2 => (0, 4, 0),
        0xd6 => (0, 5, 0),
        0xcb | 0xcf | 0xd3 => (0, 8, 0),
        0xcc | 0xd0 => (0, 1, 0),
        0xcd | 0xd1 | 0xd4 => (0, 2, 0),
        0xd5 => (0, 3, 0),
        0xd7 => (0, 9, 0),
        0xd8 => (0, 17, 0),
        0xdc => (2, 0, be(2)?),
        0xdd => (4, 0, be(4)?),
        0xde => (2, 0, 2 * be(2)?),
        0xdf => (4, 0, 2 * be(4)?),
        _ => return None,
    };
    let mut pos = pos.checked_add(head)?.checked_add(payload)?;
    if pos > buf.len() || children > buf.len() - pos {
        return None;
    }
    if children > 0 {
        if depth >= MAX_DEPTH {
            return None;
        }
        for _ in 0..children {
            pos = skip_value(buf, pos, depth + 1)?;
        }
    }
    Some(pos)
}

#[cfg(test)]
impl Reader<'_> {
    /// The walk that says why a value is malformed, for comparing [`skip_value`] with it.
    pub(crate) fn skip_slowly(&mut self) -> Result<()> {
        self.skip_nested(0)
    }
}

/// Checks that `buf` holds exactly one well-formed MessagePack value (the tests' oracle).
#[cfg(test)]
pub(crate) fn validate_one(buf: &[u8]) -> Result<()> {
    let mut r = Reader::new(buf);
    r.skip()?;
    if r.is_empty() {
        Ok(())
    } else {
        Err(MsgpackError::Invalid("trailing bytes after the value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_nested_values() {
        // {1: [1, "ab", {2: nil}], 2: -1}
        let v = [0x82, 0x01, 0x93, 0x01, 0xa2, b'a', b'b', 0x81, 0x02, 0xc0, 0x02, 0xff];
        assert_eq!(validate_one(&v), Ok(()));
    }

    #[test]
    fn every_strict_prefix_is_truncated() {
        let v = [0x82, 0x01, 0x93, 0x01, 0xa2, b'a', b'b', 0x81, 0x02, 0xc0, 0x02, 0xcd, 1, 2];
        for cut in 0..v.len() {
            assert_eq!(validate_one(&v[..cut]), Err(MsgpackError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn refuses_reserved_byte_and_trailing_bytes() {
        assert!(matches!(validate_one(&[0xc1]), Err(MsgpackError::Invalid(_))));
        assert!(matches!(validate_one(&[0x01, 0x02]), Err(MsgpackError::Invalid(_))));
    }

    #[test]
    fn huge_announced_counts_fail_without_allocating() {
        assert_eq!(validate_one(&[0xdd, 0xff, 0xff, 0xff, 0xff]), Err(MsgpackError::Truncated));
        assert_eq!(validate_one(&[0xdb, 0xff, 0xff, 0xff, 0xff]), Err(MsgpackError::Truncated));
    }

    #[test]
    fn refuses_absurd_nesting() {
        let v = vec![0x91u8; MAX_DEPTH + 2];
        assert_eq!(validate_one(&v), Err(MsgpackError::TooDeep));
    }
}
