//! Bounded-time fuzzing of everything that reads untrusted bytes: random inputs and mutations
//! of valid frames must give Ok or Err, never a panic, an out-of-bounds read or a huge
//! allocation. A deterministic generator keeps failures reproducible; KHARON_FUZZ_ITERS
//! raises the iteration count for a longer run.

use super::frame::{self, encode_request, Check};
use super::greeting;
use super::id::parse_id_response;
use super::msgpack::{skip_value, validate_one, Reader};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn iterations(default: u64) -> u64 {
    std::env::var("KHARON_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Valid server-like frames to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let bodies: [&[u8]; 7] = [
        &[],
        &[0x81, 0x30, 0x91, 0x01],
        &[0x81, 0x30, 0xdd, 0, 0, 0, 1, 0xcd, 0x01, 0x02],
        &[0x81, 0x30, 0xdd, 0, 0, 0, 2, 0xa2, b'h', b'i', 0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18],
        &[0x82, 0x31, 0xa3, b'b', b'a', b'd', 0x52, 0x81, 0x00, 0x91, 0x82, 0x03, 0xa1, b'm', 0x05, 0x21],
        &[0x81, 0x30, 0x91, 0xd8, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        &[0x83, 0x54, 0x0a, 0x55, 0x9c, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 0x5b, 0xa1, b'c'],
    ];
    for (i, body) in bodies.iter().enumerate() {
        let mut f = Vec::new();
        encode_request(&mut f, [0, 0x80, 0x8021][i % 3], i as u64 * 977, body);
        out.push(f);
        out.push(server_frame([0, 0x80, 0x8021][i % 3], i as u64 * 977, i % 2 == 1, body));
    }
    out
}

/// A frame in the header layout Tarantool writes: schema version as u32 (2.x) or u64 (3.x).
fn server_frame(status: u32, sync: u64, schema_u64: bool, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xce, 0, 0, 0, 0, 0x83, 0x00, 0xce];
    f.extend_from_slice(&status.to_be_bytes());
    f.extend_from_slice(&[0x01, 0xcf]);
    f.extend_from_slice(&sync.to_be_bytes());
    if schema_u64 {
        f.extend_from_slice(&[0x05, 0xcf, 0, 0, 0, 0, 0, 0, 0, 80]);
    } else {
        f.extend_from_slice(&[0x05, 0xce, 0, 0, 0, 80]);
    }
    f.extend_from_slice(body);
    let size = (f.len() - 5) as u32;
    f[1..5].copy_from_slice(&size.to_be_bytes());
    f
}

fn exercise(input: &[u8]) {
    let _ = validate_one(input);
    let mut r = Reader::new(input);
    let _ = r.skip();
    // The fast skip and the walk that names errors agree on every input.
    let mut slow = Reader::new(input);
    match (skip_value(input, 0, 0), slow.skip_slowly()) {
        (Some(end), Ok(())) => assert_eq!(end, slow.position(), "{input:02x?}"),
        (None, Err(_)) => {}
        (fast, walked) => panic!("fast {fast:?}, walked {walked:?} for {input:02x?}"),
    }
    let _ = parse_id_response(input);
    // The one-pass parse of Tarantool's layout agrees with check + parse wherever it answers.
    if let Some((len, f)) = frame::parse_tarantool(input, 1 << 16) {
        assert_eq!(frame::check(input, 1 << 16), Ok(Check::Complete { len }), "{input:02x?}");
        assert_eq!(frame::parse(&input[..len]), Ok(f), "{input:02x?}");
    }
    let mut pos = 0;
    while pos < input.len() {
        match frame::check(&input[pos..], 1 << 16) {
            Ok(Check::Complete { len }) => {
                if let Ok(f) = frame::parse(&input[pos..pos + len]) {
                    assert!(f.body_start <= f.body_end && f.body_end == len);
                }
                pos += len;
            }
            Ok(Check::Incomplete { need }) => {
                if let Some(n) = need {
                    assert!(n <= (1 << 16) + 9, "a need beyond the limit was reported");
                }
                break;
            }
            Err(_) => break,
        }
    }
}

#[test]
fn the_one_pass_parse_takes_what_tarantool_writes() {
    let bodies: [&[u8]; 5] = [
        &[],
        &[0x81, 0x30, 0x91, 0x01],
        // A push as 2.6 and 3.3 write it (wire-3.3/11-session-push.json).
        &[0x81, 0x30, 0xdd, 0, 0, 0, 1, 0x01],
        &[0x81, 0x30, 0x91, 0xce, 0, 1, 0, 0],
        &[0x82, 0x30, 0x90, 0x31, 0x80],
    ];
    for body in bodies {
        for schema_u64 in [false, true] {
            let f = server_frame(0x80, 7, schema_u64, body);
            let (len, frame) = frame::parse_tarantool(&f, 1 << 16).expect("taken in one pass");
            assert_eq!((len, Ok(frame)), (f.len(), frame::parse(&f)));
            // Incomplete, or a body with bytes after it: left to check and parse.
            assert_eq!(frame::parse_tarantool(&f[..f.len() - 1], 1 << 16), None);
        }
    }
    let trailing = server_frame(0x80, 7, false, &[0x81, 0x30, 0x91, 0x01, 0x01]);
    assert_eq!(frame::parse_tarantool(&trailing, 1 << 16), None);
    let whole = server_frame(0x80, 7, false, &[0x81, 0x30, 0x91, 0x01]);
    assert_eq!(frame::parse_tarantool(&whole, 16), None, "a frame beyond maxFrameSize");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    for _ in 0..iterations(20_000) {
        let len = rng.below(64) as usize;
        exercise(&rng.bytes(len));
    }
}

#[test]
fn mutated_frames_never_panic() {
    let mut rng = XorShift(0x2545f4914f6cdd1d);
    let seeds = seeds();
    for _ in 0..iterations(50_000) {
        let mut input = seeds[rng.below(seeds.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(input.len() as u64) as usize;
            match rng.below(4) {
                0 => input[at] = rng.next() as u8,
                1 => input[at] ^= 1 << rng.below(8),
                2 => input.truncate(at),
                _ => input.insert(at, rng.next() as u8),
            }
            if input.is_empty() {
                break;
            }
        }
        exercise(&input);
    }
}

#[test]
fn random_greetings_never_panic() {
    let mut rng = XorShift(0x853c49e6748fea9b);
    for _ in 0..iterations(5_000) {
        let mut g = b"Tarantool 2.6.0 (Binary) ".to_vec();
        g.extend(rng.bytes(128 - g.len()));
        let _ = greeting::parse(&g);
        let _ = greeting::parse(&rng.bytes(128));
    }
}
