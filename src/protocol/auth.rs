//! chap-sha1 authentication. The plain password is hashed as soon as it is received and only
//! the two SHA-1 digests are kept (needed again on reconnect, when the salt changes).

use sha1::{Digest, Sha1};

use super::frame::encode_request;
use super::keys::{body, request};

/// chap-sha1 uses the first 20 bytes of the greeting's salt.
pub const SALT_USED: usize = 20;

/// What is kept of a password: sha1(password) and sha1(sha1(password)).
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    hash1: [u8; 20],
    hash2: [u8; 20],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(user: String, password: &str) -> Self {
        let hash1: [u8; 20] = Sha1::digest(password.as_bytes()).into();
        let hash2: [u8; 20] = Sha1::digest(hash1).into();
        Credentials { user, hash1, hash2 }
    }

    /// `sha1(password) XOR sha1(salt[0..20] ++ sha1(sha1(password)))`
    pub fn scramble(&self, salt: &[u8]) -> [u8; 20] {
        let mut h = Sha1::new();
        h.update(&salt[..SALT_USED]);
        h.update(self.hash2);
        let hash3: [u8; 20] = h.finalize().into();
        let mut out = [0u8; 20];
        for i in 0..20 {
            out[i] = self.hash1[i] ^ hash3[i];
        }
        out
    }

    /// The whole AUTH request frame: `{USER_NAME: user, TUPLE: ["chap-sha1", scramble]}`.
    pub fn auth_request(&self, salt: &[u8], sync: u64) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.user.len());
        rmp::encode::write_map_len(&mut b, 2).expect("Vec grows");
        rmp::encode::write_uint(&mut b, body::USER_NAME).expect("Vec grows");
        rmp::encode::write_str(&mut b, &self.user).expect("Vec grows");
        rmp::encode::write_uint(&mut b, body::TUPLE).expect("Vec grows");
        rmp::encode::write_array_len(&mut b, 2).expect("Vec grows");
        rmp::encode::write_str(&mut b, "chap-sha1").expect("Vec grows");
        rmp::encode::write_bin(&mut b, &self.scramble(salt)).expect("Vec grows");
        let mut frame = Vec::with_capacity(b.len() + 16);
        encode_request(&mut frame, request::AUTH, sync, &b);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scramble_matches_a_known_vector() {
        // Computed independently: python3 hashlib with the formula from the IPROTO docs.
        let salt: Vec<u8> = (0u8..32).collect();
        let c = Credentials::new("tester".into(), "secret");
        assert_eq!(
            hex(&c.scramble(&salt)),
            "21b3ff405f32cbe4aafff291396046ea29fa3a4d"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let c = Credentials::new("tester".into(), "secret");
        let shown = format!("{c:?}");
        assert!(shown.contains("tester"));
        assert!(!shown.contains("secret"));
        assert!(!shown.contains("hash"));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
