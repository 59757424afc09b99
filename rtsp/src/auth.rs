//! Credentials and the `Authorization` header: Basic and Digest (MD5,
//! SHA-256, with and without qop) through `http-auth`, which also picks
//! the strongest of several `WWW-Authenticate` challenges.

use std::fmt;

use http_auth::{PasswordClient, PasswordParams};

/// A user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Answers challenges for one session.
pub(crate) struct Authenticator {
    client: PasswordClient,
    credentials: Credentials,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// From every `WWW-Authenticate` value of a 401 (rtsp-types joins
    /// repeated headers with `, `, which is also how several challenges
    /// may share one header). `None` when no challenge is usable.
    pub(crate) fn new(challenges: &str, credentials: Credentials) -> Option<Self> {
        let client = PasswordClient::builder()
            .challenges(challenges)
            .build()
            .ok()?;
        Some(Authenticator {
            client,
            credentials,
        })
    }

    /// The `Authorization` value for `method` on `uri`. Digest counts
    /// nonces itself, so every request gets a fresh answer.
    pub(crate) fn respond(&mut self, method: &str, uri: &str) -> Option<String> {
        self.client
            .respond(&PasswordParams {
                username: &self.credentials.username,
                password: &self.credentials.password,
                uri,
                method,
                body: Some(&[]),
            })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "admin".into(),
            password: "12345".into(),
        }
    }

    #[test]
    fn basic() {
        let mut a = Authenticator::new(r#"Basic realm="IP Camera""#, creds()).unwrap();
        assert_eq!(
            a.respond("DESCRIBE", "rtsp://cam/").unwrap(),
            "Basic YWRtaW46MTIzNDU="
        );
    }

    #[test]
    fn digest_without_qop_matches_rfc_2069() {
        // Hikvision's form: no qop, MD5. Expected value computed as
        // MD5(MD5(admin:IP Camera(12345):12345):nonce:MD5(DESCRIBE:uri)).
        let challenge = r#"Digest realm="IP Camera(12345)", nonce="abc123", stale="FALSE""#;
        let mut a = Authenticator::new(challenge, creds()).unwrap();
        let v = a
            .respond("DESCRIBE", "rtsp://192.168.1.64:554/Streaming/Channels/101")
            .unwrap();
        let ha1 = md5_hex("admin:IP Camera(12345):12345");
        let ha2 = md5_hex("DESCRIBE:rtsp://192.168.1.64:554/Streaming/Channels/101");
        let expected = md5_hex(&format!("{ha1}:abc123:{ha2}"));
        assert!(v.starts_with("Digest "), "{v}");
        assert!(v.contains(&format!(r#"response="{expected}""#)), "{v}");
    }

    #[test]
    fn several_challenges_prefer_digest_and_sha256_works() {
        // Axis sends Digest and Basic as separate headers; rtsp-types joins them.
        let joined = r#"Basic realm="AXIS_ACCC8E000000", Digest realm="AXIS_ACCC8E000000", nonce="0024e47aY398109708de9ccd8056c58a068a59540a99d3", algorithm=SHA-256, qop="auth""#;
        let mut a = Authenticator::new(joined, creds()).unwrap();
        let v = a
            .respond("DESCRIBE", "rtsp://cam/axis-media/media.amp")
            .unwrap();
        assert!(v.starts_with("Digest "), "{v}");
        assert!(v.contains("algorithm=SHA-256"), "{v}");
        assert!(v.contains("nc=00000001"), "{v}");
        let again = a
            .respond("SETUP", "rtsp://cam/axis-media/media.amp/trackID=1")
            .unwrap();
        assert!(again.contains("nc=00000002"), "{again}");
    }

    #[test]
    fn unusable_challenge_is_none() {
        assert!(Authenticator::new("Negotiate", creds()).is_none());
        assert!(Authenticator::new("", creds()).is_none());
    }

    #[test]
    fn debug_hides_the_password() {
        assert!(!format!("{:?}", creds()).contains("12345"));
    }

    /// Tiny MD5 for the expected value (RFC 1321), so the test does not
    /// trust the code under test to compute it.
    fn md5_hex(s: &str) -> String {
        let mut msg = s.as_bytes().to_vec();
        let bit_len = (msg.len() as u64).wrapping_mul(8);
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bit_len.to_le_bytes());
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
            .collect();
        let r = [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20,
            5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
        ];
        let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
        for chunk in msg.chunks(64) {
            let w: Vec<u32> = chunk
                .chunks(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let [mut a, mut b, mut c, mut d] = h;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let t = d;
                d = c;
                c = b;
                b = b.wrapping_add(
                    a.wrapping_add(f)
                        .wrapping_add(k[i])
                        .wrapping_add(w[g])
                        .rotate_left(r[i]),
                );
                a = t;
            }
            h = [
                h[0].wrapping_add(a),
                h[1].wrapping_add(b),
                h[2].wrapping_add(c),
                h[3].wrapping_add(d),
            ];
        }
        h.iter()
            .flat_map(|x| x.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
