//! Cluster authentication. Every internal exchange (storage join and
//! heartbeat, storage-to-storage sync, tracker-to-tracker probes, admin
//! commands) runs on a connection where both ends first proved that they
//! hold the cluster secret, without sending it: a challenge-response with
//! HMAC-SHA256 over fresh nonces from both sides.
//!
//! ```text
//! client -> AUTH_HELLO   client nonce (16)
//! server -> OK           server nonce (16) + HMAC(secret, "server" cn sn) (32)
//! client -> AUTH_PROOF   HMAC(secret, "client" sn cn) (32)
//! server -> OK           (EACCES: wrong secret; the server then closes)
//! ```
//!
//! The labels keep a proof from one role from being replayed in the
//! other; the server's proof lets the client refuse a peer (a fake
//! tracker, a FastDFS tracker) that does not hold the secret. FastDFS
//! client commands need none of this, as in FastDFS.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::io::{call, ProtoError};
use crate::{cmd, status};

pub const NONCE_LEN: usize = 16;
pub const PROOF_LEN: usize = 32;
/// Shortest secret accepted: 16 characters, e.g. 22 of base64 or 32 hex.
pub const MIN_SECRET_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The cluster secret: every tracker, storage and admin client of one
/// cluster holds the same one. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// The secret as written in a config file; the error says what a
    /// valid one looks like (the caller adds the key).
    pub fn new(text: &str) -> Result<Secret, String> {
        let text = text.trim();
        if text.len() < MIN_SECRET_LEN {
            return Err(format!(
                "{} characters is too short: use at least {MIN_SECRET_LEN} \
                 (`ferrodfs secret` prints a new one)",
                text.len()
            ));
        }
        Ok(Secret(text.as_bytes().to_vec()))
    }

    /// A new random secret: 32 bytes as 64 hex digits.
    pub fn generate() -> String {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn mac(&self, label: &[u8], a: &[u8], b: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(label);
        m.update(a);
        m.update(b);
        m
    }

    fn server_proof(&self, cn: &[u8], sn: &[u8]) -> HmacSha256 {
        self.mac(b"ferrodfs-auth server", cn, sn)
    }

    fn client_proof(&self, sn: &[u8], cn: &[u8]) -> HmacSha256 {
        self.mac(b"ferrodfs-auth client", sn, cn)
    }
}

fn nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

/// The server side of one connection's handshake.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum ServerAuth {
    #[default]
    Open,
    Challenged {
        cn: [u8; NONCE_LEN],
        sn: [u8; NONCE_LEN],
    },
    Done,
}

impl ServerAuth {
    pub fn is_done(&self) -> bool {
        *self == ServerAuth::Done
    }

    /// AUTH_HELLO: the reply body, or a status. Without a configured
    /// secret nothing can authenticate (EACCES).
    pub fn hello(&mut self, secret: Option<&Secret>, body: &[u8]) -> Result<Vec<u8>, u8> {
        let secret = secret.ok_or(status::EACCES)?;
        let cn: [u8; NONCE_LEN] = body.try_into().map_err(|_| status::EINVAL)?;
        let sn = nonce();
        let mut reply = sn.to_vec();
        reply.extend_from_slice(&secret.server_proof(&cn, &sn).finalize().into_bytes());
        *self = ServerAuth::Challenged { cn, sn };
        Ok(reply)
    }

    /// AUTH_PROOF: OK once the client proved the secret; EACCES otherwise
    /// (and the handshake must start over).
    pub fn proof(&mut self, secret: Option<&Secret>, body: &[u8]) -> Result<(), u8> {
        let ServerAuth::Challenged { cn, sn } = std::mem::take(self) else {
            return Err(status::EACCES);
        };
        let secret = secret.ok_or(status::EACCES)?;
        secret
            .client_proof(&sn, &cn)
            .verify_slice(body)
            .map_err(|_| status::EACCES)?;
        *self = ServerAuth::Done;
        Ok(())
    }
}

/// Why a handshake failed, for a log line an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the peer does not speak ferrodfs cluster authentication (status {0}): not a ferrodfs daemon, or one without cluster_secret")]
    NotSupported(u8),
    #[error("the peer refused our cluster secret: cluster_secret differs")]
    Refused,
    #[error("the peer does not hold our cluster secret (its proof is wrong): cluster_secret differs, or it is not one of ours")]
    BadPeer,
    #[error(transparent)]
    Proto(ProtoError),
}

/// The client side: proves the secret to the server and checks the
/// server's proof. `Ok` means both ends hold the same secret.
pub async fn authenticate<S>(stream: &mut S, secret: &Secret) -> Result<(), AuthError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let cn = nonce();
    let reply = match call(stream, cmd::AUTH_HELLO, &cn, (NONCE_LEN + PROOF_LEN) as u64).await {
        Ok(r) => r,
        Err(ProtoError::Status(st)) => return Err(AuthError::NotSupported(st)),
        Err(e) => return Err(AuthError::Proto(e)),
    };
    if reply.len() != NONCE_LEN + PROOF_LEN {
        return Err(AuthError::BadPeer);
    }
    let (sn, proof) = reply.split_at(NONCE_LEN);
    secret
        .server_proof(&cn, sn)
        .verify_slice(proof)
        .map_err(|_| AuthError::BadPeer)?;
    let mine = secret.client_proof(sn, &cn).finalize().into_bytes();
    match call(stream, cmd::AUTH_PROOF, &mine, 0).await {
        Ok(_) => Ok(()),
        Err(ProtoError::Status(_)) => Err(AuthError::Refused),
        Err(e) => Err(AuthError::Proto(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s).unwrap()
    }

    /// Runs the handshake over an in-memory pipe against a server that
    /// answers with `server_secret`.
    async fn handshake(client: &str, server: Option<&str>) -> Result<(), AuthError> {
        let (mut c, mut s) = tokio::io::duplex(1024);
        let server_secret = server.map(secret);
        let srv = tokio::spawn(async move {
            let mut st = ServerAuth::default();
            while let Ok(Some(h)) = crate::io::read_header(&mut s, 1024).await {
                let mut body = vec![0u8; h.pkg_len as usize];
                tokio::io::AsyncReadExt::read_exact(&mut s, &mut body)
                    .await
                    .unwrap();
                let r = match h.cmd {
                    cmd::AUTH_HELLO => st.hello(server_secret.as_ref(), &body),
                    cmd::AUTH_PROOF => st.proof(server_secret.as_ref(), &body).map(|_| vec![]),
                    _ => Err(status::EINVAL),
                };
                let (st_byte, body) = match r {
                    Ok(b) => (status::OK, b),
                    Err(e) => (e, vec![]),
                };
                let h = crate::header::Header::response(st_byte, body.len() as u64);
                crate::io::send(&mut s, h, &body).await.unwrap();
            }
            st.is_done()
        });
        let r = authenticate(&mut c, &secret(client)).await;
        drop(c);
        let done = srv.await.unwrap();
        assert_eq!(done, r.is_ok(), "both ends agree on the outcome");
        r
    }

    #[tokio::test]
    async fn the_same_secret_authenticates_both_ends() {
        handshake("0123456789abcdef-one", Some("0123456789abcdef-one"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_different_secret_is_caught_by_the_client_first() {
        let e = handshake("0123456789abcdef-one", Some("0123456789abcdef-two"))
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::BadPeer), "{e}");
    }

    #[tokio::test]
    async fn a_server_without_a_secret_refuses() {
        let e = handshake("0123456789abcdef-one", None).await.unwrap_err();
        assert!(matches!(e, AuthError::NotSupported(status::EACCES)), "{e}");
    }

    #[test]
    fn a_wrong_client_proof_is_eacces_and_resets_the_handshake() {
        let s = secret("0123456789abcdef-one");
        let mut st = ServerAuth::default();
        st.hello(Some(&s), &[7; NONCE_LEN]).unwrap();
        assert_eq!(st.proof(Some(&s), &[0; PROOF_LEN]), Err(status::EACCES));
        assert_eq!(st, ServerAuth::Open);
        // Replaying a proof without a fresh challenge gets nowhere either.
        assert_eq!(st.proof(Some(&s), &[0; PROOF_LEN]), Err(status::EACCES));
        assert!(!st.is_done());
    }

    #[test]
    fn a_proof_from_the_server_role_is_not_accepted_from_a_client() {
        let s = secret("0123456789abcdef-one");
        let mut st = ServerAuth::default();
        let reply = st.hello(Some(&s), &[7; NONCE_LEN]).unwrap();
        // Reflect the server's own proof back at it.
        assert_eq!(st.proof(Some(&s), &reply[NONCE_LEN..]), Err(status::EACCES));
    }

    #[test]
    fn short_secrets_and_bad_nonces_are_refused() {
        assert!(Secret::new("short").unwrap_err().contains("at least 16"));
        assert_eq!(Secret::generate().len(), 64);
        assert_ne!(Secret::generate(), Secret::generate());
        let mut st = ServerAuth::default();
        let s = secret("0123456789abcdef");
        assert_eq!(st.hello(Some(&s), &[1, 2, 3]), Err(status::EINVAL));
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }
}
