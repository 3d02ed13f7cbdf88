//! The anti-steal token of fastdfs-nginx-module (`fdfs_http_check_token`):
//! `token = lower_hex(md5(<file ID without the group> ‖ <secret> ‖ <ts as
//! decimal text>))`, rejected once `now - ts > ttl`; `ts = 0` never
//! expires. The group is left out because that is what the module checks
//! (FastDFS's own test programs hash it in, and fail against the module).
//! Pure, so the storage's HTTP port and the lb's edge cache check alike.

use md5::{Digest, Md5};

/// Why a request's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// No `token` or no `ts` in the query.
    Missing,
    /// The token does not match the path, secret and ts.
    Mismatch,
    /// The ts is older than the TTL.
    Expired,
}

impl TokenError {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenError::Missing => "missing token or ts",
            TokenError::Mismatch => "wrong token",
            TokenError::Expired => "expired token",
        }
    }
}

/// The token for `name` (`Mxx/HH/HH/file`, no group) valid from `ts`.
pub fn sign(name: &str, secret: &[u8], ts: i64) -> String {
    let mut h = Md5::new();
    h.update(name.as_bytes());
    h.update(secret);
    h.update(ts.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the `token` and `ts` query values of a request for `name`.
pub fn check(
    name: &str,
    secret: &[u8],
    ttl: u64,
    token: Option<&str>,
    ts: Option<&str>,
    now: i64,
) -> Result<(), TokenError> {
    let (Some(token), Some(ts)) = (token, ts) else {
        return Err(TokenError::Missing);
    };
    let ts: i64 = ts.parse().map_err(|_| TokenError::Mismatch)?;
    let expected = sign(name, secret, ts);
    // Compared without an early exit, so timing tells nothing about the token.
    let same = token.len() == expected.len()
        && token
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(TokenError::Mismatch);
    }
    if ts != 0 && now.saturating_sub(ts) > ttl as i64 {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";
    const SECRET: &[u8] = b"FastDFS1234567890";

    #[test]
    fn the_token_is_md5_of_name_secret_and_ts() {
        // md5("M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gzFastDFS12345678901700000000")
        assert_eq!(
            sign(NAME, SECRET, 1_700_000_000),
            "cdb1ea4f499764182a019bff55883e20"
        );
        assert_eq!(
            sign("", b"", 0),
            "cfcd208495d565ef66e7dff9f98764da",
            "md5(\"0\")"
        );
    }

    #[test]
    fn a_fresh_token_passes_until_the_ttl() {
        let ts = 1_700_000_000;
        let t = sign(NAME, SECRET, ts);
        let ok = |now| check(NAME, SECRET, 600, Some(&t), Some(&ts.to_string()), now);
        assert_eq!(ok(ts), Ok(()));
        assert_eq!(ok(ts + 600), Ok(()));
        assert_eq!(ok(ts + 601), Err(TokenError::Expired));
    }

    #[test]
    fn ts_zero_never_expires() {
        let t = sign(NAME, SECRET, 0);
        assert_eq!(
            check(NAME, SECRET, 1, Some(&t), Some("0"), i64::MAX),
            Ok(())
        );
    }

    #[test]
    fn wrong_tokens_are_refused() {
        let t = sign(NAME, SECRET, 5);
        let other = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.jpg";
        assert_eq!(
            check(other, SECRET, 600, Some(&t), Some("5"), 5),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            check(NAME, b"x", 600, Some(&t), Some("5"), 5),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            check(NAME, SECRET, 600, Some(&t), Some("6"), 6),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            check(NAME, SECRET, 600, Some(&t.to_uppercase()), Some("5"), 5),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            check(NAME, SECRET, 600, Some(&t), Some("x"), 5),
            Err(TokenError::Mismatch)
        );
        let with_group = sign(&format!("group1/{NAME}"), SECRET, 5);
        assert_eq!(
            check(NAME, SECRET, 600, Some(&with_group), Some("5"), 5),
            Err(TokenError::Mismatch)
        );
    }

    #[test]
    fn a_missing_part_is_its_own_error() {
        assert_eq!(
            check(NAME, SECRET, 600, None, Some("5"), 5),
            Err(TokenError::Missing)
        );
        assert_eq!(
            check(NAME, SECRET, 600, Some("ab"), None, 5),
            Err(TokenError::Missing)
        );
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_query_values_are_checked_without_panicking(
            name in ".{0,60}",
            secret in proptest::collection::vec(any::<u8>(), 0..20),
            ttl: u64,
            token in proptest::option::of("[0-9a-f]{32}|.{0,40}"),
            ts in proptest::option::of("-?[0-9]{1,20}|.{0,12}"),
            now: i64,
        ) {
            let r = check(&name, &secret, ttl, token.as_deref(), ts.as_deref(), now);
            if r.is_ok() {
                let ts: i64 = ts.unwrap().parse().unwrap();
                prop_assert_eq!(token.unwrap(), sign(&name, &secret, ts));
            }
        }

        #[test]
        fn a_signed_token_passes_within_its_ttl_and_not_after(
            name in "M[0-9A-F]{2}/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_.-]{27,40}",
            secret in proptest::collection::vec(any::<u8>(), 1..20),
            ts in 1i64..=i64::MAX / 2,
            ttl in 0u64..=i64::MAX as u64 / 4,
            age in 0u64..=i64::MAX as u64 / 4,
        ) {
            let token = sign(&name, &secret, ts);
            let now = ts + age as i64;
            let want = if age <= ttl { Ok(()) } else { Err(TokenError::Expired) };
            prop_assert_eq!(
                check(&name, &secret, ttl, Some(&token), Some(&ts.to_string()), now),
                want
            );
            prop_assert_eq!(
                check(&name, b"other", ttl, Some(&token), Some(&ts.to_string()), ts),
                Err(TokenError::Mismatch)
            );
        }
    }
}
