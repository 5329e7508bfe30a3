//! Message digests and HMAC through AWS-LC directly: the digest names of
//! the EVP parameters ([`Md`]), the SHA-1/SHA-2/MD5 digests over their
//! plain-data context structs ([`RawDigest`]: `SHA_CTX`, `SHA256_CTX`,
//! `SHA512_CTX`, `MD5_CTX`, whose state can be exported and re-imported
//! for C_GetOperationState), SHA-3 over an `EVP_MD_CTX` ([`EvpDigest`]),
//! and HMAC over an `HMAC_CTX` ([`EvpHmac`], for the hashes aws-lc-rs's
//! HMAC lacks: SHA-3 and MD5).
//!
//! Failures: with the static `EVP_MD` tables used here, the only way these
//! calls fail is an allocation failure; they are handled as Rust handles
//! one (`handle_alloc_error`), so the constructors stay infallible like
//! aws-lc-rs's own digest contexts.

use aws_lc_sys as sys;
use std::os::raw::c_void;
use std::ptr::NonNull;

/// A message digest for the EVP parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Md5,
}

impl Md {
    pub(super) fn evp(self) -> *const sys::EVP_MD {
        // SAFETY: the EVP_* digest functions return pointers to static tables.
        unsafe {
            match self {
                Md::Sha1 => sys::EVP_sha1(),
                Md::Sha224 => sys::EVP_sha224(),
                Md::Sha256 => sys::EVP_sha256(),
                Md::Sha384 => sys::EVP_sha384(),
                Md::Sha512 => sys::EVP_sha512(),
                Md::Sha3_224 => sys::EVP_sha3_224(),
                Md::Sha3_256 => sys::EVP_sha3_256(),
                Md::Sha3_384 => sys::EVP_sha3_384(),
                Md::Sha3_512 => sys::EVP_sha3_512(),
                Md::Md5 => sys::EVP_md5(),
            }
        }
    }

    /// The digest length in bytes.
    pub fn size(self) -> usize {
        // SAFETY: a static EVP_MD table.
        unsafe { sys::EVP_MD_size(self.evp()) }
    }
}

fn oom() -> ! {
    std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 256]>())
}

fn must(rc: std::os::raw::c_int) {
    if rc != 1 {
        super::clear_errors();
        oom()
    }
}

// ---------------------------------------------------------------------------
// SHA-1, SHA-2, MD5 over their plain context structs

#[derive(Clone, Copy)]
enum RawState {
    Sha1(sys::SHA_CTX),
    Sha256(sys::SHA256_CTX),
    Sha512(sys::SHA512_CTX),
    Md5(sys::MD5_CTX),
}

/// A running SHA-1, SHA-224/256/384/512 or MD5 digest whose state is plain
/// data (exported by [`RawDigest::export`], checked and re-imported by
/// [`RawDigest::import`]). The context is wiped when dropped (it may hold
/// the last partial block of the message).
#[derive(Clone)]
pub struct RawDigest {
    md: Md,
    st: RawState,
}

impl Drop for RawDigest {
    fn drop(&mut self) {
        // SAFETY: wipes this value's own memory, which stays valid.
        unsafe { sys::OPENSSL_cleanse(std::ptr::from_mut(&mut self.st).cast::<c_void>(), size_of::<RawState>()) }
    }
}

impl RawDigest {
    /// Starts a digest; `None` for a SHA-3 `md` (see [`EvpDigest`]).
    pub fn new(md: Md) -> Option<RawDigest> {
        // SAFETY: each *_Init fully initializes the zeroed struct it is
        // given (they cannot fail: they return 1).
        unsafe {
            let st = match md {
                Md::Sha1 => {
                    let mut c: sys::SHA_CTX = std::mem::zeroed();
                    sys::SHA1_Init(&mut c);
                    RawState::Sha1(c)
                }
                Md::Sha224 | Md::Sha256 => {
                    let mut c: sys::SHA256_CTX = std::mem::zeroed();
                    if md == Md::Sha224 {
                        sys::SHA224_Init(&mut c)
                    } else {
                        sys::SHA256_Init(&mut c)
                    };
                    RawState::Sha256(c)
                }
                Md::Sha384 | Md::Sha512 => {
                    let mut c: sys::SHA512_CTX = std::mem::zeroed();
                    if md == Md::Sha384 {
                        sys::SHA384_Init(&mut c)
                    } else {
                        sys::SHA512_Init(&mut c)
                    };
                    RawState::Sha512(c)
                }
                Md::Md5 => {
                    let mut c: sys::MD5_CTX = std::mem::zeroed();
                    sys::MD5_Init(&mut c);
                    RawState::Md5(c)
                }
                Md::Sha3_224 | Md::Sha3_256 | Md::Sha3_384 | Md::Sha3_512 => return None,
            };
            Some(RawDigest { md, st })
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let (p, n) = (data.as_ptr().cast::<c_void>(), data.len());
        // SAFETY: the context was initialized by `new` or checked by
        // `import`; `p` points at `n` readable bytes. *_Update return 1.
        unsafe {
            match &mut self.st {
                RawState::Sha1(c) => sys::SHA1_Update(c, p, n),
                RawState::Sha256(c) => sys::SHA256_Update(c, p, n),
                RawState::Sha512(c) => sys::SHA512_Update(c, p, n),
                RawState::Md5(c) => sys::MD5_Update(c, p, n),
            };
        }
    }

    /// Writes the digest into `out[..md.size()]` (`out` must be at least
    /// that long) and returns its length; the digest starts over.
    pub fn finish_into(&mut self, out: &mut [u8]) -> usize {
        let n = self.md.size();
        let mut buf = [0u8; 64];
        // SAFETY: `buf` holds 64 bytes, the largest digest; the context is
        // initialized. *_Final return 1.
        unsafe {
            let o = buf.as_mut_ptr();
            match (&mut self.st, self.md) {
                (RawState::Sha1(c), _) => sys::SHA1_Final(o, c),
                (RawState::Sha256(c), Md::Sha224) => sys::SHA224_Final(o, c),
                (RawState::Sha256(c), _) => sys::SHA256_Final(o, c),
                (RawState::Sha512(c), Md::Sha384) => sys::SHA384_Final(o, c),
                (RawState::Sha512(c), _) => sys::SHA512_Final(o, c),
                (RawState::Md5(c), _) => sys::MD5_Final(o, c),
            };
        }
        out[..n].copy_from_slice(&buf[..n]);
        zeroize::Zeroize::zeroize(&mut buf);
        if let Some(fresh) = RawDigest::new(self.md) {
            *self = fresh;
        }
        n
    }

    /// The context as bytes: the chaining words and counters little-endian,
    /// the pending block, its fill and (SHA-2) the output length.
    pub fn export(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(216);
        match &self.st {
            RawState::Sha1(c) => {
                c.h.iter().for_each(|w| v.extend_from_slice(&w.to_le_bytes()));
                v.extend_from_slice(&c.Nl.to_le_bytes());
                v.extend_from_slice(&c.Nh.to_le_bytes());
                v.extend_from_slice(&c.data);
                v.extend_from_slice(&c.num.to_le_bytes());
            }
            RawState::Md5(c) => {
                c.h.iter().for_each(|w| v.extend_from_slice(&w.to_le_bytes()));
                v.extend_from_slice(&c.Nl.to_le_bytes());
                v.extend_from_slice(&c.Nh.to_le_bytes());
                v.extend_from_slice(&c.data);
                v.extend_from_slice(&c.num.to_le_bytes());
            }
            RawState::Sha256(c) => {
                c.h.iter().for_each(|w| v.extend_from_slice(&w.to_le_bytes()));
                v.extend_from_slice(&c.Nl.to_le_bytes());
                v.extend_from_slice(&c.Nh.to_le_bytes());
                v.extend_from_slice(&c.data);
                v.extend_from_slice(&c.num.to_le_bytes());
                v.extend_from_slice(&c.md_len.to_le_bytes());
            }
            RawState::Sha512(c) => {
                c.h.iter().for_each(|w| v.extend_from_slice(&w.to_le_bytes()));
                v.extend_from_slice(&c.Nl.to_le_bytes());
                v.extend_from_slice(&c.Nh.to_le_bytes());
                v.extend_from_slice(&c.p);
                v.extend_from_slice(&c.num.to_le_bytes());
                v.extend_from_slice(&c.md_len.to_le_bytes());
            }
        }
        v
    }

    /// Rebuilds a digest of `md` from [`export`](Self::export)'s bytes.
    /// `None` unless the length is exact, the fill is below the block
    /// size and agrees with the bit counter, and the output length is the
    /// digest's: the engine never sees a context it could not have made.
    pub fn import(md: Md, b: &[u8]) -> Option<RawDigest> {
        let mut r = Reader(b);
        let mut d = RawDigest::new(md)?;
        match &mut d.st {
            RawState::Sha1(c) => {
                c.h.iter_mut().try_for_each(|w| r.u32().map(|x| *w = x))?;
                (c.Nl, c.Nh) = (r.u32()?, r.u32()?);
                c.data.copy_from_slice(r.take(64)?);
                c.num = r.u32()?;
                (c.num < 64 && (c.Nl >> 3) % 64 == c.num).then_some(())?;
            }
            RawState::Md5(c) => {
                c.h.iter_mut().try_for_each(|w| r.u32().map(|x| *w = x))?;
                (c.Nl, c.Nh) = (r.u32()?, r.u32()?);
                c.data.copy_from_slice(r.take(64)?);
                c.num = r.u32()?;
                (c.num < 64 && (c.Nl >> 3) % 64 == c.num).then_some(())?;
            }
            RawState::Sha256(c) => {
                let want = c.md_len;
                c.h.iter_mut().try_for_each(|w| r.u32().map(|x| *w = x))?;
                (c.Nl, c.Nh) = (r.u32()?, r.u32()?);
                c.data.copy_from_slice(r.take(64)?);
                (c.num, c.md_len) = (r.u32()?, r.u32()?);
                (c.num < 64 && (c.Nl >> 3) % 64 == c.num && c.md_len == want).then_some(())?;
            }
            RawState::Sha512(c) => {
                let want = c.md_len;
                c.h.iter_mut().try_for_each(|w| r.u64().map(|x| *w = x))?;
                (c.Nl, c.Nh) = (r.u64()?, r.u64()?);
                c.p.copy_from_slice(r.take(128)?);
                (c.num, c.md_len) = (r.u32()?, r.u32()?);
                (c.num < 128 && u32::try_from((c.Nl >> 3) % 128).ok()? == c.num && c.md_len == want).then_some(())?;
            }
        }
        r.0.is_empty().then_some(d)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
}

// ---------------------------------------------------------------------------
// SHA-3 over EVP_MD_CTX

/// A running digest over an `EVP_MD_CTX` (SHA-3; its state is opaque).
pub struct EvpDigest {
    md: Md,
    ctx: NonNull<sys::EVP_MD_CTX>,
}

// SAFETY: the context is owned by this value and only used through `&mut`.
unsafe impl Send for EvpDigest {}
// SAFETY: `&EvpDigest` gives no access to the context but `Clone`, which
// only reads it (EVP_MD_CTX_copy_ex takes a const source).
unsafe impl Sync for EvpDigest {}

impl Drop for EvpDigest {
    fn drop(&mut self) {
        // SAFETY: we own the context; EVP_MD_CTX_free wipes and frees it.
        unsafe { sys::EVP_MD_CTX_free(self.ctx.as_ptr()) }
    }
}

fn new_md_ctx() -> NonNull<sys::EVP_MD_CTX> {
    // SAFETY: allocates a fresh context (NULL only on allocation failure).
    NonNull::new(unsafe { sys::EVP_MD_CTX_new() }).unwrap_or_else(|| oom())
}

impl EvpDigest {
    pub fn new(md: Md) -> EvpDigest {
        let ctx = new_md_ctx();
        let d = EvpDigest { md, ctx };
        // SAFETY: a fresh context and a static EVP_MD.
        must(unsafe { sys::EVP_DigestInit_ex(d.ctx.as_ptr(), md.evp(), std::ptr::null_mut()) });
        d
    }

    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: an initialized context; `data` is readable.
        must(unsafe { sys::EVP_DigestUpdate(self.ctx.as_ptr(), data.as_ptr().cast(), data.len()) });
    }

    /// As [`RawDigest::finish_into`].
    pub fn finish_into(&mut self, out: &mut [u8]) -> usize {
        let mut buf = [0u8; 64];
        let mut n: std::os::raw::c_uint = 0;
        // SAFETY: an initialized context; `buf` holds EVP_MAX_MD_SIZE (64).
        must(unsafe { sys::EVP_DigestFinal_ex(self.ctx.as_ptr(), buf.as_mut_ptr(), &mut n) });
        let n = (n as usize).min(64);
        out[..n].copy_from_slice(&buf[..n]);
        // SAFETY: restarts the (finalized) context with the same digest.
        must(unsafe { sys::EVP_DigestInit_ex(self.ctx.as_ptr(), self.md.evp(), std::ptr::null_mut()) });
        n
    }
}

impl Clone for EvpDigest {
    fn clone(&self) -> Self {
        let ctx = new_md_ctx();
        let d = EvpDigest { md: self.md, ctx };
        // SAFETY: a fresh destination and an initialized source.
        must(unsafe { sys::EVP_MD_CTX_copy_ex(d.ctx.as_ptr(), self.ctx.as_ptr()) });
        d
    }
}

// ---------------------------------------------------------------------------
// HMAC over HMAC_CTX

/// A running HMAC over an `HMAC_CTX` (holds the key's pads; wiped when
/// dropped).
pub struct EvpHmac {
    md: Md,
    ctx: NonNull<sys::HMAC_CTX>,
}

// SAFETY: as `EvpDigest`.
unsafe impl Send for EvpHmac {}
// SAFETY: as `EvpDigest` (HMAC_CTX_copy_ex takes a const source).
unsafe impl Sync for EvpHmac {}

impl Drop for EvpHmac {
    fn drop(&mut self) {
        // SAFETY: we own the context; HMAC_CTX_free cleanses and frees it.
        unsafe { sys::HMAC_CTX_free(self.ctx.as_ptr()) }
    }
}

fn new_hmac_ctx() -> NonNull<sys::HMAC_CTX> {
    // SAFETY: allocates a fresh, initialized context (NULL only on
    // allocation failure).
    NonNull::new(unsafe { sys::HMAC_CTX_new() }).unwrap_or_else(|| oom())
}

impl EvpHmac {
    /// Starts an HMAC of `md` under `key` (any length).
    pub fn new(md: Md, key: &[u8]) -> EvpHmac {
        let h = EvpHmac { md, ctx: new_hmac_ctx() };
        // A NULL key pointer would mean "reuse the key": the empty key is
        // passed as a valid pointer with length 0.
        let dummy = [0u8; 1];
        let kp = if key.is_empty() { dummy.as_ptr() } else { key.as_ptr() };
        // SAFETY: a fresh context, `kp` readable for `key.len()` bytes, a
        // static EVP_MD.
        must(unsafe { sys::HMAC_Init_ex(h.ctx.as_ptr(), kp.cast(), key.len(), md.evp(), std::ptr::null_mut()) });
        h
    }

    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: an initialized context; `data` is readable.
        must(unsafe { sys::HMAC_Update(self.ctx.as_ptr(), data.as_ptr(), data.len()) });
    }

    /// The full tag.
    pub fn finish(self) -> ([u8; 64], usize) {
        let mut buf = [0u8; 64];
        let mut n: std::os::raw::c_uint = 0;
        // SAFETY: an initialized context; `buf` holds EVP_MAX_MD_SIZE.
        must(unsafe { sys::HMAC_Final(self.ctx.as_ptr(), buf.as_mut_ptr(), &mut n) });
        (buf, (n as usize).min(64))
    }
}

impl Clone for EvpHmac {
    fn clone(&self) -> Self {
        let h = EvpHmac { md: self.md, ctx: new_hmac_ctx() };
        // SAFETY: a fresh destination and an initialized source.
        must(unsafe { sys::HMAC_CTX_copy_ex(h.ctx.as_ptr(), self.ctx.as_ptr()) });
        h
    }
}
