//! Byte-exact reply fixtures for the codec tests: a zeroed body with each
//! field written at the offset read off FastDFS's structs, as FastDFS
//! fills its send buffer (memset, then each field in place).

/// Bytes of a hex literal; spaces are ignored.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex literal {s:?}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A `len`-byte body of zeros with each `(offset, hex)` written in;
/// fields may not overlap or run past the end.
pub fn fixture(len: usize, fields: &[(usize, &str)]) -> Vec<u8> {
    let mut b = vec![0u8; len];
    let mut end = 0;
    for &(at, h) in fields {
        assert!(
            at >= end,
            "field at {at} overlaps the one before (ends at {end})"
        );
        let v = hex(h);
        b[at..at + v.len()].copy_from_slice(&v);
        end = at + v.len();
    }
    b
}
