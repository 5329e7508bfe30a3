//! PKCS#11 3.0 §2.43 "Miscellaneous simple key derivation mechanisms":
//! concatenation of two keys or of a key and data, XOR of a key with data,
//! extraction of a bit range. Each returns the mechanism's full output; the
//! token truncates it to the derived key's CKA_VALUE_LEN (and refuses the
//! truncation when it would expose part of a protected key, see
//! `token::derive`).

use crate::ck::*;
use crate::err;
use crate::error::Result;
use zeroize::Zeroizing;

/// `a || b`.
pub fn concatenate(a: &[u8], b: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(a.len() + b.len()));
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

/// `base XOR data`, as long as the shorter of the two (the spec's length).
pub fn xor(base: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(base.iter().zip(data).map(|(a, b)| a ^ b).collect())
}

/// CKM_EXTRACT_KEY_FROM_KEY: `len` bytes taken from the base key's bits
/// starting at bit `first` (bit 0 is the most significant bit of the first
/// byte), wrapping around to the start of the key when they run out, as the
/// spec's example does.
pub fn extract(base: &[u8], first: CK_ULONG, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let nbits = base.len() * 8;
    let first = usize::try_from(first).unwrap_or(usize::MAX);
    if first >= nbits {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "bit index {first} is beyond the {nbits}-bit base key"));
    }
    let bit = |i: usize| (base[(i / 8) % base.len()] >> (7 - i % 8)) & 1;
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (j, byte) in out.iter_mut().enumerate() {
        for k in 0..8 {
            *byte = (*byte << 1) | bit((first + j * 8 + k) % nbits);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        // The spec's example: 0x329F84A9, 2 bytes from bit 21: bits 21-31
        // (1001 0101 001) then, wrapping, bits 0-4 (00110).
        let base = [0x32, 0x9f, 0x84, 0xa9];
        assert_eq!(*extract(&base, 21, 2).unwrap(), vec![0x95, 0x26]);
        // The cryptoki crate's test: 12345678 9001, 2 bytes from bit 3.
        let v = [0x12, 0x34, 0x56, 0x78, 0x90, 0x01];
        let want = ((u32::from_be_bytes([0x12, 0x34, 0x56, 0x78]) << 3) >> 16) as u16;
        assert_eq!(*extract(&v, 3, 2).unwrap(), want.to_be_bytes().to_vec());
        assert_eq!(extract(&v, 48, 1).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(*xor(&[0xff, 0x0f, 1], &[0x0f, 0x0f]), vec![0xf0, 0]);
        assert_eq!(*concatenate(&[1], &[2, 3]), vec![1, 2, 3]);
    }
}
