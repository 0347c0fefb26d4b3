//! IPROTO_ID (2.10+): the client states its protocol version and features, the server answers
//! with its own. Recorded on 3.3: the reply is always the server's whole set, whatever the
//! client sent, and each ID replaces the session's features (so what the client sends is what
//! the server will use, as far as the server has it).

use super::frame::encode_request;
use super::keys::{body, request};
use super::msgpack::{MsgpackError, Reader};

/// What one side of the negotiation speaks: IPROTO version and feature ids, and (the server's
/// side, 2.11+) the authentication method it expects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Protocol {
    pub version: u64,
    pub features: Vec<u32>,
    pub auth_type: Option<String>,
}

/// The one authentication method kharon speaks: chap-sha1 never sends the password. (pap-sha256
/// sends it, and Tarantool allows it only over SSL, which kharon does not speak.)
pub const CHAP_SHA1: &str = "chap-sha1";

/// The first server version that knows IPROTO_ID; older ones answer it with an error.
pub const FIRST_VERSION_WITH_ID: (u32, u32) = (2, 10);

/// The whole ID request frame: `{VERSION: version, FEATURES: [ids]}`.
pub fn id_request(client: &Protocol, sync: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + client.features.len() * 2);
    rmp::encode::write_map_len(&mut b, 2).expect("Vec grows");
    rmp::encode::write_uint(&mut b, body::VERSION).expect("Vec grows");
    rmp::encode::write_uint(&mut b, client.version).expect("Vec grows");
    rmp::encode::write_uint(&mut b, body::FEATURES).expect("Vec grows");
    rmp::encode::write_array_len(&mut b, client.features.len() as u32).expect("Vec grows");
    for &f in &client.features {
        rmp::encode::write_uint(&mut b, f as u64).expect("Vec grows");
    }
    let mut frame = Vec::with_capacity(b.len() + 16);
    encode_request(&mut frame, request::ID, sync, &b);
    frame
}

/// Reads the server's side from an ID reply body. Unknown keys are skipped, and feature ids too
/// large for u32 are dropped: they can name nothing kharon knows.
pub fn parse_id_response(bytes: &[u8]) -> Result<Protocol, MsgpackError> {
    let mut server = Protocol::default();
    if bytes.is_empty() {
        return Ok(server);
    }
    let mut r = Reader::new(bytes);
    for _ in 0..r.read_map_len()? {
        match r.read_uint()? {
            body::VERSION => server.version = r.read_uint()?,
            body::FEATURES => {
                for _ in 0..r.read_array_len()? {
                    if let Ok(id) = u32::try_from(r.read_uint()?) {
                        server.features.push(id);
                    }
                }
            }
            body::AUTH_TYPE => server.auth_type = Some(r.read_string()?),
            _ => r.skip()?,
        }
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{check, parse, Check};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn reads_the_recorded_3_3_reply() {
        // 01-greeting-id.json: the server's reply to ID, whatever was asked.
        let frame = hex("ce000000378300ce0000000001cf000000000000000105cf000000000000006083540a559c000102030405060708090b0c5ba9636861702d73686131");
        let Check::Complete { len } = check(&frame, 1 << 20).unwrap() else { panic!("whole frame") };
        let f = parse(&frame[..len]).unwrap();
        let server = parse_id_response(&frame[f.body_start..f.body_end]).unwrap();
        assert_eq!(server, Protocol { version: 10, features: vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12], auth_type: Some(CHAP_SHA1.into()) });
    }

    #[test]
    fn writes_version_and_features() {
        let frame = id_request(&Protocol { version: 5, features: vec![2, 4], auth_type: None }, 0);
        let Check::Complete { len } = check(&frame, 1 << 20).unwrap() else { panic!("whole frame") };
        let f = parse(&frame[..len]).unwrap();
        assert_eq!(f.header.status, request::ID);
        assert_eq!(&frame[f.body_start..f.body_end], &[0x82, 0x54, 0x05, 0x55, 0x92, 0x02, 0x04]);
    }

    #[test]
    fn survives_garbage() {
        assert!(parse_id_response(&[0xc1]).is_err());
        assert!(parse_id_response(&[0x81, 0x55, 0x91]).is_err());
        assert_eq!(parse_id_response(&[]).unwrap(), Protocol::default());
        // A feature id beyond u32 is dropped, not a failure.
        let big = [0x81, 0x55, 0x92, 0xcf, 1, 0, 0, 0, 0, 0, 0, 0, 0x03];
        assert_eq!(parse_id_response(&big).unwrap().features, vec![3]);
    }
}
