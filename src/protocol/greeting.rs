//! The 128-byte greeting the server sends first: version line, then the base64 salt.

use std::fmt;

use base64::Engine;

pub const GREETING_LEN: usize = 128;
const LINE_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// e.g. `Tarantool 2.6.0 (Binary) 6a3b...`
    pub banner: String,
    /// e.g. `2.6.0`
    pub version: String,
    pub salt: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingError(pub String);

impl fmt::Display for GreetingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad greeting: {}", self.0)
    }
}

impl std::error::Error for GreetingError {}

impl Greeting {
    /// `(major, minor)` of the version, e.g. `(2, 10)` for `2.10.0-beta1`; None if unreadable.
    pub fn major_minor(&self) -> Option<(u32, u32)> {
        let mut parts = self.version.split('.');
        let mut number = || -> Option<u32> {
            let part = parts.next()?;
            let digits = part.find(|c: char| !c.is_ascii_digit()).map_or(part, |end| &part[..end]);
            digits.parse().ok()
        };
        Some((number()?, number()?))
    }
}

pub fn parse(bytes: &[u8]) -> Result<Greeting, GreetingError> {
    if bytes.len() != GREETING_LEN {
        return Err(GreetingError(format!("expected {GREETING_LEN} bytes, got {}", bytes.len())));
    }
    let banner = std::str::from_utf8(&bytes[..LINE_LEN])
        .map_err(|_| GreetingError("first line is not text".into()))?
        .trim_end()
        .to_owned();
    let mut words = banner.split_whitespace();
    if words.next() != Some("Tarantool") {
        return Err(GreetingError("not a Tarantool server".into()));
    }
    let version = words.next().unwrap_or_default().to_owned();
    if words.next() != Some("(Binary)") {
        return Err(GreetingError("server does not speak the binary protocol".into()));
    }
    let salt_text = std::str::from_utf8(&bytes[LINE_LEN..])
        .map_err(|_| GreetingError("salt line is not text".into()))?
        .trim();
    let salt = base64::engine::general_purpose::STANDARD
        .decode(salt_text)
        .map_err(|_| GreetingError("salt is not base64".into()))?;
    if salt.len() < super::auth::SALT_USED {
        return Err(GreetingError(format!("salt of {} bytes is too short", salt.len())));
    }
    Ok(Greeting { banner, version, salt })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn greeting_bytes(line1: &str, line2: &str) -> Vec<u8> {
        let mut g = Vec::new();
        for line in [line1, line2] {
            let mut l = line.as_bytes().to_vec();
            l.resize(LINE_LEN - 1, b' ');
            l.push(b'\n');
            g.extend(l);
        }
        g
    }

    #[test]
    fn parses_a_2_6_greeting() {
        let g = greeting_bytes(
            "Tarantool 2.6.0 (Binary) 3ec3c6d0-3b55-4d5a-9c1e-6bf2e4c0a1b2",
            "QK2HoFZGXTXBq2vFj7soCsHqTo6PGTF575ssUBAJLAI=",
        );
        let parsed = parse(&g).unwrap();
        assert_eq!(parsed.version, "2.6.0");
        assert_eq!(parsed.salt.len(), 32);
        assert_eq!(parsed.major_minor(), Some((2, 6)));
    }

    #[test]
    fn reads_major_and_minor_of_newer_versions() {
        let at = |v: &str| Greeting { banner: String::new(), version: v.into(), salt: vec![] }.major_minor();
        assert_eq!(at("3.3.0"), Some((3, 3)));
        assert_eq!(at("2.10.0-beta1"), Some((2, 10)));
        assert_eq!(at("2.11"), Some((2, 11)));
        assert_eq!(at(""), None);
        assert_eq!(at("x.y"), None);
    }

    #[test]
    fn refuses_other_servers_and_bad_salts() {
        let http = greeting_bytes("HTTP/1.1 400 Bad Request", "");
        assert!(parse(&http).is_err());
        let bad_salt = greeting_bytes("Tarantool 2.6.0 (Binary) x", "!!!notbase64");
        assert!(parse(&bad_salt).is_err());
        let short = greeting_bytes("Tarantool 2.6.0 (Binary) x", "AAAA");
        assert!(parse(&short).is_err());
        assert!(parse(&[0u8; 10]).is_err());
    }
}
