//! Pointer helpers and the output-length convention, written once.
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

/// A caller's output buffer under the output-length convention of every
/// byte-producing call (C_Encrypt*, C_Decrypt*, C_Digest*, C_Sign*,
/// C_WrapKey), checked before the call runs ([`Output::new`]) and used by
/// [`Output::run`]:
/// - `pulLen` NULL: `CKR_ARGUMENTS_BAD`;
/// - `pBuf` NULL: a length query, `f(None)`, the length goes to `*pulLen`;
/// - else `f(Some(&mut buf[..*pulLen]))`; on success `*pulLen` = bytes
///   written; on `CKR_BUFFER_TOO_SMALL` `*pulLen` = the length needed.
pub struct Output {
    p: *mut u8,
    len: OutParam<CK_ULONG>,
    /// The bytes of `p` the call may write (0 for a length query).
    cap: CK_ULONG,
}

impl Output {
    /// # Safety
    /// A non-NULL `plen` must be readable and writable; a non-NULL `p`
    /// must point at `*plen` writable bytes.
    pub unsafe fn new(p: *mut u8, plen: *mut CK_ULONG) -> Result<Output> {
        // SAFETY: forwarded contract.
        let len = unsafe { OutParam::new(plen) }?;
        // A buffer claimed larger than MAX_DATA is at least MAX_DATA long.
        let cap = if p.is_null() { 0 } else { len.get().min(MAX_DATA) };
        Ok(Output { p, len, cap })
    }

    /// Whether the `n` bytes at `q` share an address with the bytes this
    /// call may write.
    fn overlaps(&self, q: *const u8, n: usize) -> bool {
        let (a, m) = (self.p.addr(), self.cap as usize);
        let b = q.addr();
        m > 0 && n > 0 && a < b.saturating_add(n) && b < a.saturating_add(m)
    }

    /// Runs `f` on the buffer (`None`: a length query) and writes `*pulLen`.
    pub fn run(self, f: impl FnOnce(Option<&mut [u8]>) -> Result<usize>) -> Result<()> {
        let r = if self.p.is_null() {
            f(None)
        } else {
            // SAFETY: the caller's buffer holds *plen >= cap bytes (contract
            // of `new`); the slice lives only for the call of `f`.
            let buf = unsafe { bytes_mut(self.p, self.cap) }?;
            f(Some(buf))
        };
        match r {
            Ok(n) => {
                self.len.set(n as CK_ULONG);
                Ok(())
            }
            Err(e) => {
                if e.rv() == CKR_BUFFER_TOO_SMALL
                    && let Some(n) = e.needed()
                {
                    self.len.set(n as CK_ULONG);
                }
                Err(e)
            }
        }
    }
}

/// One call's input buffer and output buffer (C_Encrypt, C_EncryptUpdate,
/// C_Decrypt, C_DecryptUpdate, C_Digest, C_Sign). C callers legally pass the
/// same buffer, or overlapping ones, for both (in-place encryption is a
/// common idiom), so [`InOut::run`] never forms a `&[u8]` and a `&mut [u8]`
/// over the same bytes: when the two ranges share an address, the input is
/// first copied (into zeroized memory: it may be plaintext) and the
/// operation reads the copy. Disjoint buffers (the usual case) are used as
/// they are, without a copy.
pub struct InOut {
    input: *const u8,
    in_len: CK_ULONG,
    out: Output,
}

impl InOut {
    /// Checks both buffers and `pulLen` (every check that can fail is made
    /// here, before the call runs).
    ///
    /// # Safety
    /// As [`slice`] for (`p_in`, `in_len`), as [`Output::new`] for the rest.
    pub unsafe fn new(p_in: *const u8, in_len: CK_ULONG, p_out: *mut u8, plen: *mut CK_ULONG) -> Result<InOut> {
        // SAFETY: forwarded contract; the slice is dropped at once (only
        // its checks are wanted here).
        unsafe { bytes(p_in, in_len) }?;
        // SAFETY: forwarded contract.
        let out = unsafe { Output::new(p_out, plen) }?;
        Ok(InOut { input: p_in, in_len, out })
    }

    /// Runs `f(input, output)` under the output-length convention.
    pub fn run(self, f: impl FnOnce(&[u8], Option<&mut [u8]>) -> Result<usize>) -> Result<()> {
        let (p, n) = (self.input, self.in_len);
        if !self.out.overlaps(p, n as usize) {
            // SAFETY: (p, n) passed the checks of `new` and stays valid for
            // the call (its contract); it shares no byte with the range the
            // writable slice of `Output::run` covers, so they never alias.
            let data = unsafe { bytes(p, n) }?;
            return self.out.run(|o| f(data, o));
        }
        // SAFETY: as above; this shared slice over the caller's bytes ends
        // with the copy, before the writable slice over them is formed.
        let data = zeroize::Zeroizing::new(unsafe { bytes(p, n) }?.to_vec());
        self.out.run(|o| f(&data, o))
    }
}

/// [`Output::new`] then [`Output::run`]: a call with an output buffer and no
/// input buffer (C_*Final, C_WrapKey).
///
/// # Safety
/// As [`Output::new`].
pub unsafe fn output(
    p: *mut u8,
    plen: *mut CK_ULONG,
    f: impl FnOnce(Option<&mut [u8]>) -> Result<usize>,
) -> Result<()> {
    // SAFETY: forwarded contract.
    unsafe { Output::new(p, plen) }?.run(f)
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
