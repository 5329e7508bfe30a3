//! The attribute-blob codec: how a list of `(attribute type, bytes)` pairs is
//! laid out in the `public` and `sealed` columns of the `objects` table.
//!
//! Format (all integers little-endian):
//!
//! ```text
//! magic/version (1 byte, 0xA1) || count (u32)
//!   || count x ( type (u64) || len (u32) || len bytes )
//! ```
//!
//! The decoder reads bytes that may have been damaged or forged on disk (and
//! is a fuzz target): it never panics, never allocates more than the input
//! can describe, and rejects trailing bytes. Duplicate types are preserved in
//! order (the encoder writes what it is given; callers pass maps).

use crate::ck::CKR_DEVICE_ERROR;
use crate::error::{Error, Result};

/// The first byte of every blob: format version 1.
const MAGIC_V1: u8 = 0xA1;
/// Magic byte plus the count.
const HEADER_LEN: usize = 1 + 4;
/// Type plus length of one entry, before its bytes.
const ENTRY_HEADER_LEN: usize = 8 + 4;

/// Encodes attributes in the order given.
///
/// A value longer than `u32::MAX` bytes (or more than `u32::MAX` entries)
/// cannot be represented; its length field saturates, so the blob fails to
/// decode ("corrupt attribute blob") instead of being misread. No caller can
/// reach that size: PKCS#11 attribute values live in memory.
pub fn encode_attrs<'a>(attrs: impl IntoIterator<Item = (u64, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(MAGIC_V1);
    out.extend_from_slice(&[0u8; 4]);
    let mut count: u64 = 0;
    for (ty, value) in attrs {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(value);
        count += 1;
    }
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    out[1..HEADER_LEN].copy_from_slice(&count.to_le_bytes());
    out
}

fn corrupt() -> Error {
    Error::new(CKR_DEVICE_ERROR, "corrupt attribute blob")
}

/// A cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(corrupt());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| corrupt())
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

/// Decodes what [`encode_attrs`] produced; anything else is
/// `CKR_DEVICE_ERROR` "corrupt attribute blob".
pub fn decode_attrs(b: &[u8]) -> Result<Vec<(u64, Vec<u8>)>> {
    Ok(decode_attrs_ref(b)?.into_iter().map(|(t, v)| (t, v.to_vec())).collect())
}

/// [`decode_attrs`] without copying the values out of `b`.
pub fn decode_attrs_ref(b: &[u8]) -> Result<Vec<(u64, &[u8])>> {
    let mut r = Reader { rest: b };
    if r.array::<1>()? != [MAGIC_V1] {
        return Err(corrupt());
    }
    let count = usize::try_from(r.u32()?).map_err(|_| corrupt())?;
    // Each entry needs at least its header, so the input bounds the count
    // (and the allocation below) whatever the count field claims.
    if count > r.rest.len() / ENTRY_HEADER_LEN {
        return Err(corrupt());
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let ty = r.u64()?;
        let len = usize::try_from(r.u32()?).map_err(|_| corrupt())?;
        out.push((ty, r.take(len)?));
    }
    if !r.rest.is_empty() {
        return Err(corrupt());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let attrs: Vec<(u64, Vec<u8>)> = vec![
            (0, vec![]),
            (1, vec![1]),
            (0x8000_0000_4B57_0001, vec![7; 300]),
            (u64::MAX, b"label".to_vec()),
            (1, vec![2]),
        ];
        let blob = encode_attrs(attrs.iter().map(|(t, v)| (*t, v.as_slice())));
        assert_eq!(blob[0], MAGIC_V1);
        assert_eq!(&blob[1..5], &5u32.to_le_bytes());
        assert_eq!(decode_attrs(&blob).unwrap(), attrs);
    }

    #[test]
    fn empty_round_trip() {
        let blob = encode_attrs(std::iter::empty());
        assert_eq!(blob, [MAGIC_V1, 0, 0, 0, 0]);
        assert!(decode_attrs(&blob).unwrap().is_empty());
    }

    fn is_corrupt(b: &[u8]) -> bool {
        match decode_attrs(b) {
            Err(e) => e.rv() == CKR_DEVICE_ERROR && e.reason() == "corrupt attribute blob",
            Ok(_) => false,
        }
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(is_corrupt(b""));
        assert!(is_corrupt(&[MAGIC_V1]));
        assert!(is_corrupt(&[MAGIC_V1, 0, 0, 0]));
        assert!(is_corrupt(&[0x00, 0, 0, 0, 0]));
        // A huge count with no entries must not allocate or panic.
        assert!(is_corrupt(&[MAGIC_V1, 0xff, 0xff, 0xff, 0xff]));
        let mut b = vec![MAGIC_V1, 0xff, 0xff, 0xff, 0xff];
        b.extend_from_slice(&[0u8; 24]);
        assert!(is_corrupt(&b));
        // A length running past the end.
        let mut b = vec![MAGIC_V1, 1, 0, 0, 0];
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(b"abc");
        assert!(is_corrupt(&b));
        // Trailing bytes.
        let mut b = encode_attrs([(3u64, &b"x"[..])]);
        b.push(0);
        assert!(is_corrupt(&b));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_safe() {
        let blob = encode_attrs([(1u64, &b"abc"[..]), (2, &[9u8; 20][..]), (3, &[][..])]);
        for n in 0..blob.len() {
            assert!(is_corrupt(&blob[..n]), "truncation to {n} accepted");
        }
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut b = blob.clone();
                b[i] ^= 1 << bit;
                let _ = decode_attrs(&b); // must not panic
            }
        }
    }

    #[test]
    fn pseudo_random_garbage_never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..2000usize {
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.push(x as u8);
            }
            if let Some(first) = b.first_mut() {
                *first = MAGIC_V1;
            }
            let _ = decode_attrs(&b);
        }
    }
}
