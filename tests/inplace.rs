//! In-place and overlapping buffers through the raw C ABI (issue 21 item 6).
//!
//! C callers legally pass the same buffer as input and output of C_Encrypt,
//! C_EncryptUpdate, C_Decrypt, C_DecryptUpdate, C_Digest and C_Sign, or
//! buffers that overlap by a few bytes. For every encrypt/decrypt mechanism
//! of the registry, single-part and multi-part (chunks around the block
//! size), the output written over or next to the input must equal the
//! output computed with separate buffers, and that must equal the engine's
//! own answer (aws-lc-rs, called here directly) where the mechanism is
//! deterministic. Everything decrypts back, in place too.

mod common;
#[macro_use]
mod rawc;

use pkcs11_sys::*;
use rawc::Raw;
use std::ptr::null_mut;

const KEY: [u8; 32] = [
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c,
    0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
];
const IV: [u8; 16] = [0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00];
const GCM_IV: [u8; 12] = [0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88];
const AAD: [u8; 5] = *b"hdr-1";
const CKM_KEYWARD_AES_GCM: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | 0x4B57_0001;

/// Output placements relative to the input in one buffer: identical, then
/// overlapping with the output before or after the input.
const SINGLE_OFFSETS: [isize; 7] = [0, -1, -3, -16, 1, 3, 16];
/// Multi-part: the output runs at or behind the input (a caller who writes
/// ahead of what it has not passed in yet overwrites its own input).
const MULTI_OFFSETS: [isize; 4] = [0, -1, -3, -16];
/// Chunk-length patterns (cycled) around the AES block size.
const CHUNKS: [&[usize]; 8] = [&[1], &[15], &[16], &[17], &[31], &[33], &[1, 15, 16, 17, 31, 33], &[64, 3]];

/// Where the input starts in the shared buffer (room for negative offsets).
const AT: usize = 32;

/// A mechanism with its parameter kept alive.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    bytes: Vec<u8>,
    ctr: Box<CK_AES_CTR_PARAMS>,
    gcm: Box<CK_GCM_PARAMS>,
    chacha: Box<CK_SALSA20_CHACHA20_POLY1305_PARAMS>,
}

impl Mech {
    fn new(ty: CK_MECHANISM_TYPE, bytes: &[u8]) -> Mech {
        let ctr = Box::new(CK_AES_CTR_PARAMS { ulCounterBits: 128, cb: IV });
        let gcm = Box::new(CK_GCM_PARAMS {
            pIv: GCM_IV.as_ptr() as *mut _,
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: AAD.as_ptr() as *mut _,
            ulAADLen: AAD.len() as _,
            ulTagBits: 128,
        });
        let chacha = Box::new(CK_SALSA20_CHACHA20_POLY1305_PARAMS {
            pNonce: GCM_IV.as_ptr() as *mut _,
            ulNonceLen: 12,
            pAAD: AAD.as_ptr() as *mut _,
            ulAADLen: AAD.len() as _,
        });
        Mech { ty, bytes: bytes.to_vec(), ctr, gcm, chacha }
    }

    fn ck(&mut self) -> CK_MECHANISM {
        let (p, n): (*mut std::ffi::c_void, usize) = match self.ty {
            CKM_AES_CTR => {
                (&mut *self.ctr as *mut CK_AES_CTR_PARAMS as *mut _, std::mem::size_of::<CK_AES_CTR_PARAMS>())
            }
            CKM_AES_GCM => (&mut *self.gcm as *mut CK_GCM_PARAMS as *mut _, std::mem::size_of::<CK_GCM_PARAMS>()),
            CKM_CHACHA20_POLY1305 => (
                &mut *self.chacha as *mut CK_SALSA20_CHACHA20_POLY1305_PARAMS as *mut _,
                std::mem::size_of::<CK_SALSA20_CHACHA20_POLY1305_PARAMS>(),
            ),
            _ if self.bytes.is_empty() => (null_mut(), 0),
            _ => (self.bytes.as_mut_ptr() as *mut _, self.bytes.len()),
        };
        CK_MECHANISM { mechanism: self.ty, pParameter: p, ulParameterLen: n as _ }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Dir {
    Enc,
    Dec,
}

fn init(r: &Raw, dir: Dir, m: &mut Mech, key: CK_OBJECT_HANDLE) {
    let mut ck = m.ck();
    let rv = match dir {
        Dir::Enc => call!(r, C_EncryptInit, r.h, &mut ck, key),
        Dir::Dec => call!(r, C_DecryptInit, r.h, &mut ck, key),
    };
    assert_eq!(rv, CKR_OK, "{dir:?}Init of 0x{:x}", m.ty);
}

/// Single-part call at raw pointers; returns (rv, *pulLen).
fn single_raw(r: &Raw, dir: Dir, input: *const u8, n: usize, out: *mut u8, cap: usize) -> (CK_RV, usize) {
    let mut len = cap as CK_ULONG;
    let rv = match dir {
        Dir::Enc => call!(r, C_Encrypt, r.h, input as *mut _, n as _, out, &mut len),
        Dir::Dec => call!(r, C_Decrypt, r.h, input as *mut _, n as _, out, &mut len),
    };
    (rv, len as usize)
}

fn update_raw(r: &Raw, dir: Dir, input: *const u8, n: usize, out: *mut u8, cap: usize) -> (CK_RV, usize) {
    let mut len = cap as CK_ULONG;
    let rv = match dir {
        Dir::Enc => call!(r, C_EncryptUpdate, r.h, input as *mut _, n as _, out, &mut len),
        Dir::Dec => call!(r, C_DecryptUpdate, r.h, input as *mut _, n as _, out, &mut len),
    };
    (rv, len as usize)
}

fn final_raw(r: &Raw, dir: Dir, out: *mut u8, cap: usize) -> (CK_RV, usize) {
    let mut len = cap as CK_ULONG;
    let rv = match dir {
        Dir::Enc => call!(r, C_EncryptFinal, r.h, out, &mut len),
        Dir::Dec => call!(r, C_DecryptFinal, r.h, out, &mut len),
    };
    (rv, len as usize)
}

/// The reference: single-part with separate buffers (and a length query).
fn separate(r: &Raw, dir: Dir, m: &mut Mech, key: CK_OBJECT_HANDLE, input: &[u8]) -> Vec<u8> {
    init(r, dir, m, key);
    let (rv, bound) = single_raw(r, dir, input.as_ptr(), input.len(), null_mut(), 0);
    assert_eq!(rv, CKR_OK, "length query");
    let mut out = vec![0u8; bound];
    let (rv, n) = single_raw(r, dir, input.as_ptr(), input.len(), out.as_mut_ptr(), bound);
    assert_eq!(rv, CKR_OK, "{dir:?} 0x{:x} separate buffers", m.ty);
    out.truncate(n);
    out
}

/// A buffer holding `input` at `AT`, with room for `extra` output bytes.
fn shared_buffer(input: &[u8], extra: usize) -> Vec<u8> {
    let mut buf = vec![0xa5u8; AT + input.len() + extra + 64];
    buf[AT..AT + input.len()].copy_from_slice(input);
    buf
}

/// Single-part with the output at `AT + d`, inside the input's buffer.
fn single_placed(r: &Raw, dir: Dir, m: &mut Mech, key: CK_OBJECT_HANDLE, input: &[u8], d: isize) -> Vec<u8> {
    init(r, dir, m, key);
    let mut buf = shared_buffer(input, input.len() + 512);
    let end = buf.len();
    let base = buf.as_mut_ptr();
    let at_out = (AT as isize + d) as usize;
    let (rv, n) = single_raw(r, dir, base.wrapping_add(AT), input.len(), base.wrapping_add(at_out), end - at_out);
    assert_eq!(rv, CKR_OK, "{dir:?} 0x{:x} single-part, output at input{d:+}", m.ty);
    buf[at_out..at_out + n].to_vec()
}

/// Multi-part with the output stream at `AT + d` (`None`: separate buffers),
/// chunk lengths cycling through `chunks`.
fn multi_placed(
    r: &Raw,
    dir: Dir,
    m: &mut Mech,
    key: CK_OBJECT_HANDLE,
    input: &[u8],
    chunks: &[usize],
    d: Option<isize>,
) -> Vec<u8> {
    init(r, dir, m, key);
    let mut buf = shared_buffer(input, input.len() + 512);
    let mut sep = vec![0u8; input.len() + 512];
    let base = buf.as_mut_ptr();
    let (out_base, out_end) = match d {
        Some(d) => (base.wrapping_offset(AT as isize + d), base.wrapping_add(buf.len())),
        None => (sep.as_mut_ptr(), sep.as_mut_ptr().wrapping_add(sep.len())),
    };
    let (mut rp, mut wp) = (AT, 0usize);
    for &c in chunks.iter().cycle() {
        if rp == AT + input.len() {
            break;
        }
        let n = c.min(AT + input.len() - rp);
        let cap = out_end as usize - out_base.wrapping_add(wp) as usize;
        let (rv, w) = update_raw(r, dir, base.wrapping_add(rp), n, out_base.wrapping_add(wp), cap);
        assert_eq!(rv, CKR_OK, "{dir:?}Update 0x{:x} chunks {chunks:?} at {d:?}", m.ty);
        rp += n;
        wp += w;
    }
    let cap = out_end as usize - out_base.wrapping_add(wp) as usize;
    let (rv, w) = final_raw(r, dir, out_base.wrapping_add(wp), cap);
    assert_eq!(rv, CKR_OK, "{dir:?}Final 0x{:x} chunks {chunks:?} at {d:?}", m.ty);
    wp += w;
    match d {
        Some(d) => {
            let s = (AT as isize + d) as usize;
            buf[s..s + wp].to_vec()
        }
        None => sep[..wp].to_vec(),
    }
}

/// Runs every placement for one mechanism. `want` is the engine's
/// ciphertext for deterministic mechanisms; `None` for randomized ones
/// (those are checked by decrypting every ciphertext back).
fn check_cipher(
    r: &Raw,
    m: &mut Mech,
    (ek, dk): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE),
    pt: &[u8],
    want: Option<&[u8]>,
    chunks: &[&[usize]],
) {
    let name = format!("0x{:x}", m.ty);
    let ct = separate(r, Dir::Enc, m, ek, pt);
    if let Some(w) = want {
        assert_eq!(ct, w, "{name}: separate buffers disagree with the engine");
    }
    assert_eq!(separate(r, Dir::Dec, m, dk, &ct), pt, "{name}: decrypt with separate buffers");
    // Either the same bytes as the reference, or (randomized) a ciphertext
    // that decrypts to the plaintext.
    let (ty, param) = (m.ty, m.bytes.clone());
    let same_or_decrypts = |got: &[u8], what: &str| {
        if want.is_some() {
            assert_eq!(got, &ct[..], "{name}: {what}");
        } else {
            let back = separate(r, Dir::Dec, &mut Mech::new(ty, &param), dk, got);
            assert_eq!(back, pt, "{name}: {what} does not decrypt");
        }
    };
    for d in SINGLE_OFFSETS {
        same_or_decrypts(&single_placed(r, Dir::Enc, m, ek, pt, d), &format!("C_Encrypt, output at input{d:+}"));
        assert_eq!(single_placed(r, Dir::Dec, m, dk, &ct, d), pt, "{name}: C_Decrypt, output at input{d:+}");
    }
    for ch in chunks {
        same_or_decrypts(&multi_placed(r, Dir::Enc, m, ek, pt, ch, None), &format!("multi-part {ch:?}, separate"));
        assert_eq!(multi_placed(r, Dir::Dec, m, dk, &ct, ch, None), pt, "{name}: multi-part decrypt {ch:?}");
        for d in MULTI_OFFSETS {
            let what = format!("multi-part encrypt {ch:?}, output at input{d:+}");
            same_or_decrypts(&multi_placed(r, Dir::Enc, m, ek, pt, ch, Some(d)), &what);
            let got = multi_placed(r, Dir::Dec, m, dk, &ct, ch, Some(d));
            assert_eq!(got, pt, "{name}: multi-part decrypt {ch:?}, output at input{d:+}");
        }
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 29 + 7) as u8).collect()
}

// ---- the engine's answers (aws-lc-rs directly) --------------------------

mod engine {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use aws_lc_rs::cipher::{AES_256, EncryptingKey, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
    use aws_lc_rs::key_wrap::{self, AesKek, KeyWrap, KeyWrapPadded};

    fn key() -> UnboundCipherKey {
        UnboundCipherKey::new(&AES_256, &super::KEY).unwrap()
    }
    fn iv() -> EncryptionContext {
        EncryptionContext::Iv128(super::IV.into())
    }

    pub fn ecb(pt: &[u8]) -> Vec<u8> {
        let mut b = pt.to_vec();
        EncryptingKey::ecb(key()).unwrap().less_safe_encrypt(&mut b, EncryptionContext::None).unwrap();
        b
    }
    pub fn cbc(pt: &[u8]) -> Vec<u8> {
        let mut b = pt.to_vec();
        EncryptingKey::cbc(key()).unwrap().less_safe_encrypt(&mut b, iv()).unwrap();
        b
    }
    pub fn cbc_pad(pt: &[u8]) -> Vec<u8> {
        let mut b = pt.to_vec();
        PaddedBlockEncryptingKey::cbc_pkcs7(key()).unwrap().less_safe_encrypt(&mut b, iv()).unwrap();
        b
    }
    pub fn ctr(pt: &[u8]) -> Vec<u8> {
        let mut b = pt.to_vec();
        EncryptingKey::ctr(key()).unwrap().less_safe_encrypt(&mut b, iv()).unwrap();
        b
    }
    pub fn gcm(pt: &[u8]) -> Vec<u8> {
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &super::KEY).unwrap());
        let mut b = pt.to_vec();
        let nonce = Nonce::assume_unique_for_key(super::GCM_IV);
        k.seal_in_place_append_tag(nonce, Aad::from(&super::AAD[..]), &mut b).unwrap();
        b
    }
    pub fn chacha(pt: &[u8]) -> Vec<u8> {
        let k = LessSafeKey::new(UnboundKey::new(&aws_lc_rs::aead::CHACHA20_POLY1305, &super::KEY).unwrap());
        let mut b = pt.to_vec();
        let nonce = Nonce::assume_unique_for_key(super::GCM_IV);
        k.seal_in_place_append_tag(nonce, Aad::from(&super::AAD[..]), &mut b).unwrap();
        b
    }
    pub fn kw(pt: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; pt.len() + 16];
        AesKek::new(&key_wrap::AES_256, &super::KEY).unwrap().wrap(pt, &mut out).unwrap().to_vec()
    }
    pub fn kwp(pt: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; pt.len() + 16];
        AesKek::new(&key_wrap::AES_256, &super::KEY).unwrap().wrap_with_padding(pt, &mut out).unwrap().to_vec()
    }
}

// ---- the tests ------------------------------------------------------------

#[test]
fn aes_block_modes_in_place_and_overlapping() {
    let r = Raw::open();
    let k = r.aes(&KEY);
    let pt = data(96);
    check_cipher(&r, &mut Mech::new(CKM_AES_ECB, &[]), (k, k), &pt, Some(&engine::ecb(&pt)), &CHUNKS);
    check_cipher(&r, &mut Mech::new(CKM_AES_CBC, &IV), (k, k), &pt, Some(&engine::cbc(&pt)), &CHUNKS);
    for n in [0, 1, 15, 16, 17, 100] {
        let pt = data(n);
        let want = engine::cbc_pad(&pt);
        check_cipher(&r, &mut Mech::new(CKM_AES_CBC_PAD, &IV), (k, k), &pt, Some(&want), &CHUNKS);
    }
}

/// 3DES (8-byte blocks) with the CAVP TECBMMT3 / TCBCMMT3 COUNT = 9
/// vectors (80 bytes) as the engine's answer; CBC_PAD against CBC over
/// the PKCS#7-padded input.
#[test]
fn des3_block_modes_in_place_and_overlapping() {
    let r = Raw::open();
    let h = |s: &str| hex::decode(s).unwrap();
    let ecb_key = r.secret(CKK_DES3, &h("df20ae3d54858013514367024f7a7ad529d979f71abfd5f1"));
    let pt = h(
        "f0fa379f7e507d3d97674fc3538b19fd1b1034f0b1410b6e70997de7d63683823f8a136cf354447063ceb2c9b02824346d366c49a6668f0a21f426bde36104f7f62119fa6a9496409a375258b11c6df1",
    );
    let ct = h(
        "ce9233ba7cbbc0f8ff3cf7d6ff70940012ef58aad5c86399fe0a8216c96e4192deff426946b03ae2374d7fd1d9a5933bac7878044ac217649f51fdaaaa915d01125f0dcbe9ed1ca6aba83314f8e861b1",
    );
    check_cipher(&r, &mut Mech::new(CKM_DES3_ECB, &[]), (ecb_key, ecb_key), &pt, Some(&ct), &CHUNKS);
    let cbc_key = r.secret(CKK_DES3, &h("9b162a0df8ad9b61c88676e3d586434570b902f12a2046e0"));
    let iv = h("ebd6fefe029ad54b");
    let pt = h(
        "f4c1c918e77355c8156f0fd778da52bff121ae5f2f44eaf4d2754946d0e10d1f18ce3a0176e69c18b7d20b6e0d0bee5eb5edfe4bd60e4d92adcd86bce72e76f94ee5cbcaa8b01cfddcea2ade575e66ac",
    );
    let ct = h(
        "1ff3c8709f403a8eff291aedf50c010df5c5ff64a8b205f1fce68564798897a390db16ee0d053856b75898009731da290fcc119dad987277aacef694872e880c4bb41471063fae05c89f25e4bd0cad6a",
    );
    check_cipher(&r, &mut Mech::new(CKM_DES3_CBC, &iv), (cbc_key, cbc_key), &pt, Some(&ct), &CHUNKS);
    for n in [0, 1, 7, 8, 9, 61] {
        let pt = data(n);
        let mut padded = pt.clone();
        padded.resize((n / 8 + 1) * 8, (8 - n % 8) as u8);
        let want = separate(&r, Dir::Enc, &mut Mech::new(CKM_DES3_CBC, &iv), cbc_key, &padded);
        check_cipher(&r, &mut Mech::new(CKM_DES3_CBC_PAD, &iv), (cbc_key, cbc_key), &pt, Some(&want), &CHUNKS);
    }
}

#[test]
fn aes_ctr_and_gcm_in_place_and_overlapping() {
    let r = Raw::open();
    let k = r.aes(&KEY);
    for n in [1, 16, 100] {
        let pt = data(n);
        check_cipher(&r, &mut Mech::new(CKM_AES_CTR, &[]), (k, k), &pt, Some(&engine::ctr(&pt)), &CHUNKS);
        check_cipher(&r, &mut Mech::new(CKM_AES_GCM, &[]), (k, k), &pt, Some(&engine::gcm(&pt)), &CHUNKS);
    }
}

#[test]
fn chacha20_poly1305_in_place_and_overlapping() {
    let r = Raw::open();
    let k = r.secret(CKK_CHACHA20, &KEY);
    for n in [0, 1, 16, 100] {
        let pt = data(n);
        let want = engine::chacha(&pt);
        check_cipher(&r, &mut Mech::new(CKM_CHACHA20_POLY1305, &[]), (k, k), &pt, Some(&want), &CHUNKS);
    }
}

#[test]
fn aes_key_wrap_as_ciphers_in_place_and_overlapping() {
    let r = Raw::open();
    let k = r.aes(&KEY);
    let pt = data(96);
    check_cipher(&r, &mut Mech::new(CKM_AES_KEY_WRAP, &[]), (k, k), &pt, Some(&engine::kw(&pt)), &CHUNKS);
    for n in [1, 17, 96] {
        let pt = data(n);
        let want = engine::kwp(&pt);
        check_cipher(&r, &mut Mech::new(CKM_AES_KEY_WRAP_KWP, &[]), (k, k), &pt, Some(&want), &CHUNKS);
        check_cipher(&r, &mut Mech::new(CKM_AES_KEY_WRAP_PAD, &[]), (k, k), &pt, Some(&want), &CHUNKS);
    }
}

#[test]
fn kms_envelope_in_place_and_overlapping() {
    let r = Raw::open();
    let k = r.aes(&KEY);
    let pt = data(100);
    check_cipher(&r, &mut Mech::new(CKM_KEYWARD_AES_GCM, b"aad"), (k, k), &pt, None, &CHUNKS[..3]);
}

#[test]
fn rsa_ciphers_in_place_and_overlapping() {
    let r = Raw::open();
    let keys = r.rsa();
    let few: &[&[usize]] = &[&[17], &[1, 15, 16, 17, 31, 33]];
    let pt = data(100);
    check_cipher(&r, &mut Mech::new(CKM_RSA_PKCS, &[]), keys, &pt, None, few);
    check_cipher(&r, &mut Mech::new(CKM_RSA_PKCS_OAEP, &[]), keys, &pt, None, few);
    // Raw RSA is deterministic: the reference is the separate-buffer answer.
    let mut x = data(256);
    x[0] = 0;
    let mut m = Mech::new(CKM_RSA_X_509, &[]);
    let ct = separate(&r, Dir::Enc, &mut m, keys.0, &x);
    check_cipher(&r, &mut m, keys, &x, Some(&ct), few);
}

/// C_Digest and C_Sign with the output over (or next to) the data.
#[test]
fn digest_and_sign_in_place_and_overlapping() {
    let r = Raw::open();
    let hmac_key = r.secret(CKK_GENERIC_SECRET, &KEY);
    let (_, rsa_priv) = r.rsa();
    let msg = data(100);
    type Init = unsafe extern "C" fn(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) -> CK_RV;
    type One = unsafe extern "C" fn(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) -> CK_RV;
    let cases: Vec<(CK_MECHANISM_TYPE, Option<CK_OBJECT_HANDLE>)> = vec![
        (CKM_SHA_1, None),
        (CKM_SHA256, None),
        (CKM_SHA512, None),
        (CKM_SHA256_HMAC, Some(hmac_key)),
        (CKM_SHA256_RSA_PKCS, Some(rsa_priv)),
        (CKM_RSA_PKCS, Some(rsa_priv)),
    ];
    let sign_init: Init = r.f.C_SignInit.unwrap();
    let sign: One = r.f.C_Sign.unwrap();
    let digest: One = r.f.C_Digest.unwrap();
    for (ty, key) in cases {
        let mut ck = CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 };
        let start = |ck: &mut CK_MECHANISM| match key {
            // SAFETY: a valid mechanism and key handle.
            Some(k) => unsafe { sign_init(r.h, ck, k) },
            None => call!(r, C_DigestInit, r.h, ck),
        };
        let f = if key.is_some() { sign } else { digest };
        assert_eq!(start(&mut ck), CKR_OK);
        let mut want = vec![0u8; 512];
        let mut n: CK_ULONG = 512;
        // SAFETY: separate buffers of the lengths given.
        assert_eq!(unsafe { f(r.h, msg.as_ptr() as *mut _, 100, want.as_mut_ptr(), &mut n) }, CKR_OK);
        want.truncate(n as usize);
        for d in SINGLE_OFFSETS {
            let mut buf = shared_buffer(&msg, 512);
            let base = buf.as_mut_ptr();
            let at_out = (AT as isize + d) as usize;
            let mut n = (buf.len() - at_out) as CK_ULONG;
            assert_eq!(start(&mut ck), CKR_OK);
            // SAFETY: both ranges lie inside `buf`.
            let rv = unsafe { f(r.h, base.wrapping_add(AT), 100, base.wrapping_add(at_out), &mut n) };
            assert_eq!(rv, CKR_OK, "0x{ty:x} output at input{d:+}");
            assert_eq!(&buf[at_out..at_out + n as usize], &want[..], "0x{ty:x} output at input{d:+}");
        }
    }
}

/// Every encrypt/decrypt mechanism the module lists is one of the above.
#[test]
fn every_listed_cipher_mechanism_is_covered() {
    let r = Raw::open();
    let covered = [
        CKM_AES_ECB,
        CKM_AES_CBC,
        CKM_AES_CBC_PAD,
        CKM_AES_CTR,
        CKM_AES_GCM,
        CKM_CHACHA20_POLY1305,
        CKM_AES_KEY_WRAP,
        CKM_AES_KEY_WRAP_KWP,
        CKM_AES_KEY_WRAP_PAD,
        CKM_KEYWARD_AES_GCM,
        CKM_RSA_PKCS,
        CKM_RSA_PKCS_OAEP,
        CKM_RSA_X_509,
        CKM_DES3_ECB,
        CKM_DES3_CBC,
        CKM_DES3_CBC_PAD,
    ];
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetMechanismList, 0, null_mut(), &mut n), CKR_OK);
    let mut list = vec![0 as CK_MECHANISM_TYPE; n as usize];
    assert_eq!(call!(r, C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    let mut ciphers = 0;
    for ty in list {
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(r, C_GetMechanismInfo, 0, ty, &mut info), CKR_OK);
        if info.flags & (CKF_ENCRYPT | CKF_DECRYPT) != 0 {
            assert!(covered.contains(&ty), "cipher mechanism 0x{ty:x} has no in-place test");
            ciphers += 1;
        }
    }
    assert_eq!(ciphers, covered.len());
}
