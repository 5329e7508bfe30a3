//! Pointer helpers, written once (the output-length convention is in `crypto`, beside the calls that use it most).
//!
//! Every raw pointer of an exported function goes through one of these:
//! NULL with a non-zero length, a misaligned pointer, an absurd length or a
//! NULL out-parameter is `CKR_ARGUMENTS_BAD`; NULL with a zero length is an
//! empty slice.

use crate::ck::*;
use crate::error::{Error, Result};

/// Data (and buffers) longer than this are refused as absurd.
pub const MAX_DATA: CK_ULONG = 1 << 31;

/// A slice of `n` `T`s at `p`, at most `max` of them.
///
/// # Safety
/// A non-NULL `p` must point at `n` initialised `T`s that stay valid and
/// unaliased by writes for `'a`.
pub unsafe fn slice<'a, T>(p: *const T, n: CK_ULONG, max: CK_ULONG) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::args("NULL pointer with a non-zero length"));
    }
    if n > max {
        return Err(Error::args(format!("absurd length {n}")));
    }
    if !p.is_aligned() {
        return Err(Error::args("misaligned pointer"));
    }
    // SAFETY: non-NULL, aligned, and the caller vouches for `n` elements.
    Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
}

/// A writable slice of `n` `T`s at `p`, at most `max` of them.
///
/// # Safety
/// A non-NULL `p` must point at `n` writable `T`s, not otherwise referenced
/// for `'a`.
pub unsafe fn slice_mut<'a, T>(p: *mut T, n: CK_ULONG, max: CK_ULONG) -> Result<&'a mut [T]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Error::args("NULL buffer with a non-zero length"));
    }
    if n > max {
        return Err(Error::args(format!("absurd length {n}")));
    }
    if !p.is_aligned() {
        return Err(Error::args("misaligned pointer"));
    }
    // SAFETY: non-NULL, aligned, and the caller vouches for `n` elements.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n as usize) })
}

/// Input bytes from a (pointer, length) pair.
///
/// # Safety
/// As [`slice`].
pub unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    // SAFETY: forwarded contract.
    unsafe { slice(p, len, MAX_DATA) }
}

/// A fixed-size output buffer (C_GenerateRandom).
///
/// # Safety
/// As [`slice_mut`].
pub unsafe fn bytes_mut<'a>(p: *mut u8, len: CK_ULONG) -> Result<&'a mut [u8]> {
    // SAFETY: forwarded contract.
    unsafe { slice_mut(p, len, MAX_DATA) }
}

/// An out-parameter: NULL or misaligned is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
/// A non-NULL `p` must point at writable storage for a `T`.
pub unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    if !p.is_aligned() {
        return Err(Error::args("misaligned output pointer"));
    }
    // SAFETY: aligned; non-NULL checked by `as_mut`; writable per the caller.
    unsafe { p.as_mut() }.ok_or_else(|| Error::args("NULL output pointer"))
}

/// An out-parameter checked (NULL, alignment) before a call runs and
/// written after it. No reference to it is formed: a hostile caller may
/// point it into the call's own input or output buffer, and a `&mut`
/// over it would then alias the slices formed over those.
pub struct OutParam<T> {
    p: *mut T,
}

impl<T: Copy> OutParam<T> {
    /// # Safety
    /// A non-NULL `p` must point at writable storage for a `T`.
    pub unsafe fn new(p: *mut T) -> Result<OutParam<T>> {
        if p.is_null() {
            return Err(Error::args("NULL output pointer"));
        }
        if !p.is_aligned() {
            return Err(Error::args("misaligned output pointer"));
        }
        Ok(OutParam { p })
    }

    /// The current value (an in-out parameter such as `*pulLen`).
    pub fn get(&self) -> T {
        // SAFETY: non-NULL and aligned (checked in `new`), readable per the
        // contract of `new`; a plain copy, no reference kept.
        unsafe { self.p.read() }
    }

    /// Writes the answer. Called when no slice over the caller's buffers
    /// is alive any more.
    pub fn set(&self, v: T) {
        // SAFETY: as `get`, and writable per the contract of `new`.
        unsafe { self.p.write(v) }
    }
}

/// A list of `CK_ULONG`s (slot ids, mechanism types) under the same
/// convention: NULL list is a count query; too small writes the count and
/// returns `CKR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// A non-NULL `pcount` must be writable; a non-NULL `p` must point at
/// `*pcount` writable entries.
pub unsafe fn ulong_list(p: *mut CK_ULONG, pcount: *mut CK_ULONG, items: &[CK_ULONG]) -> Result<()> {
    // SAFETY: forwarded contract. No reference to the count is held while
    // the list is borrowed (the caller may point one into the other).
    let count = unsafe { OutParam::new(pcount) }?;
    let n = items.len() as CK_ULONG;
    if p.is_null() {
        count.set(n);
        return Ok(());
    }
    if count.get() < n {
        count.set(n);
        return Err(Error::buffer_too_small(items.len()));
    }
    {
        // SAFETY: the caller's array holds *pcount >= n entries.
        let dst = unsafe { slice_mut(p, n, MAX_DATA) }?;
        dst.copy_from_slice(items);
    }
    count.set(n);
    Ok(())
}

/// A blank-padded fixed-size string field (CK_INFO, CK_SLOT_INFO,
/// CK_TOKEN_INFO), truncated at a character boundary.
pub fn pad<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&s.as_bytes()[..end]);
    out
}

/// A blank-padded fixed-size field read back: trailing blanks and NULs
/// trimmed, lossy UTF-8 (C_InitToken's label).
pub fn unpad(b: &[u8]) -> String {
    let end = b.iter().rposition(|c| *c != b' ' && *c != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

pub fn version(v: (u8, u8)) -> CK_VERSION {
    CK_VERSION { major: v.0, minor: v.1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::crypto::{InOut, output};
    use std::ptr::{null, null_mut};

    #[test]
    fn slices_reject_null_and_absurd_lengths() {
        assert_eq!(unsafe { bytes(null(), 0) }.unwrap(), b"");
        assert_eq!(unsafe { bytes(null(), 1) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        let b = [1u8, 2];
        assert_eq!(unsafe { bytes(b.as_ptr(), 2) }.unwrap(), &b);
        assert_eq!(unsafe { bytes(b.as_ptr(), MAX_DATA + 1) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        assert_eq!(unsafe { out::<CK_ULONG>(null_mut()) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        let words = [0u64; 2];
        let odd = (words.as_ptr() as *const u8).wrapping_add(1) as *const CK_ULONG;
        assert_eq!(unsafe { slice(odd, 1, 10) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
    }

    #[test]
    fn output_convention() {
        // pulLen NULL
        let e = unsafe { output(null_mut(), null_mut(), |_| Ok(1)) }.unwrap_err();
        assert_eq!(e.rv(), CKR_ARGUMENTS_BAD);
        // length query
        let mut len: CK_ULONG = 0;
        unsafe { output(null_mut(), &mut len, |o| Ok(if o.is_none() { 42 } else { 0 })) }.unwrap();
        assert_eq!(len, 42);
        // success: the buffer the closure sees is exactly *pulLen long
        let mut buf = [0u8; 8];
        len = 5;
        unsafe {
            output(buf.as_mut_ptr(), &mut len, |o| {
                let o = o.unwrap();
                assert_eq!(o.len(), 5);
                o[..3].copy_from_slice(b"abc");
                Ok(3)
            })
        }
        .unwrap();
        assert_eq!((len, &buf[..3]), (3, &b"abc"[..]));
        // too small: the needed length is written back
        len = 4;
        let e = unsafe { output(buf.as_mut_ptr(), &mut len, |_| Err(Error::buffer_too_small(9))) }.unwrap_err();
        assert_eq!((e.rv(), len), (CKR_BUFFER_TOO_SMALL, 9));
        // another error leaves *pulLen alone
        len = 4;
        let e = unsafe { output(buf.as_mut_ptr(), &mut len, |_| Err(Error::args("x"))) }.unwrap_err();
        assert_eq!((e.rv(), len), (CKR_ARGUMENTS_BAD, 4));
    }

    #[test]
    fn in_out_disjoint_buffers_are_used_as_they_are() {
        let src: Vec<u8> = (0..32).collect();
        let mut dst = [0u8; 32];
        let mut len: CK_ULONG = 32;
        unsafe {
            InOut::new(src.as_ptr(), 32, dst.as_mut_ptr(), &mut len).unwrap().run(|i, o| {
                // No copy on the hot path: the operation reads the caller's bytes.
                assert_eq!(i.as_ptr(), src.as_ptr());
                let o = o.unwrap();
                o.copy_from_slice(i);
                Ok(32)
            })
        }
        .unwrap();
        assert_eq!((len, &dst[..]), (32, &src[..]));
    }

    #[test]
    fn in_out_identical_and_overlapping_buffers_read_a_copy() {
        // out = in + d for d in -5..=5: the operation writes every output
        // byte before it reads the input and must still see the input intact.
        for d in -5isize..=5 {
            let mut buf: Vec<u8> = (0..64).collect();
            let base = buf.as_mut_ptr();
            let input = unsafe { base.add(16) };
            let output = unsafe { base.add((16 + d) as usize) };
            let want: Vec<u8> = (16..48).collect();
            let mut len: CK_ULONG = 32;
            unsafe {
                InOut::new(input, 32, output, &mut len).unwrap().run(|i, o| {
                    let o = o.unwrap();
                    o.fill(0xee);
                    assert_eq!(i, &want[..], "offset {d}");
                    o.copy_from_slice(i);
                    Ok(32)
                })
            }
            .unwrap();
            let at = (16 + d) as usize;
            assert_eq!(&buf[at..at + 32], &want[..], "offset {d}");
        }
        // A length query over the same buffer needs no copy and writes nothing.
        let mut buf = [7u8; 16];
        let mut len: CK_ULONG = 0;
        unsafe {
            InOut::new(buf.as_ptr(), 16, null_mut(), &mut len).unwrap().run(|_, o| Ok(if o.is_none() { 48 } else { 0 }))
        }
        .unwrap();
        assert_eq!((len, buf), (48, [7u8; 16]));
        let _ = &mut buf;
    }

    #[test]
    fn in_out_checks_every_pointer_before_the_call() {
        let mut buf = [0u8; 16];
        let mut len: CK_ULONG = 16;
        let called = std::cell::Cell::new(false);
        let f = |_: &[u8], _: Option<&mut [u8]>| {
            called.set(true);
            Ok(0)
        };
        assert_eq!(unsafe { InOut::new(null(), 4, buf.as_mut_ptr(), &mut len) }.err().unwrap().rv(), CKR_ARGUMENTS_BAD);
        assert_eq!(
            unsafe { InOut::new(buf.as_ptr(), 4, buf.as_mut_ptr(), null_mut()) }.err().unwrap().rv(),
            CKR_ARGUMENTS_BAD
        );
        assert!(!called.get());
        unsafe { InOut::new(null(), 0, buf.as_mut_ptr(), &mut len) }.unwrap().run(f).unwrap();
        assert!(called.get());
    }

    #[test]
    fn out_params_inside_the_buffer_they_describe() {
        // pulLen inside the output buffer: written after the output, no
        // reference to it while the buffer is borrowed.
        let mut words = [0 as CK_ULONG; 4];
        words[2] = 3 * std::mem::size_of::<CK_ULONG>() as CK_ULONG;
        let p = words.as_mut_ptr();
        unsafe {
            output(p as *mut u8, p.add(2), |o| {
                let o = o.unwrap();
                o[..8].fill(1);
                Ok(8)
            })
        }
        .unwrap();
        assert_eq!(words[2], 8);
        // The count of a list inside the list.
        let mut list = [5 as CK_ULONG, 0, 0];
        let p = list.as_mut_ptr();
        unsafe { ulong_list(p, p, &[9, 8]) }.unwrap();
        assert_eq!(list[0], 2);
        assert_eq!(list[1], 8);
    }

    #[test]
    fn ulong_lists() {
        let items = [3, 4, 5];
        let mut n: CK_ULONG = 0;
        unsafe { ulong_list(null_mut(), &mut n, &items) }.unwrap();
        assert_eq!(n, 3);
        let mut dst = [0 as CK_ULONG; 3];
        n = 2;
        assert_eq!(unsafe { ulong_list(dst.as_mut_ptr(), &mut n, &items) }.unwrap_err().rv(), CKR_BUFFER_TOO_SMALL);
        assert_eq!(n, 3);
        unsafe { ulong_list(dst.as_mut_ptr(), &mut n, &items) }.unwrap();
        assert_eq!(dst, items);
    }

    #[test]
    fn padded_strings() {
        assert_eq!(pad::<4>("abcdef"), *b"abcd");
        assert_eq!(pad::<4>("ab"), *b"ab  ");
        assert_eq!(pad::<3>("aé"), *b"a\xc3\xa9");
        assert_eq!(pad::<2>("aé"), *b"a ");
        assert_eq!(unpad(b"label  \0\0  "), "label");
        assert_eq!(unpad(b"    "), "");
    }
}
