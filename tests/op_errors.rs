//! Errors end the active operation (issue 14 item 2; PKCS#11 2.40 for each function,
//! DESIGN.md §3), however they arise: an argument the C boundary refuses
//! (NULL pulLen, NULL data with a non-zero length, NULL signature) as well
//! as an error of the mechanism or the session. Only `CKR_BUFFER_TOO_SMALL`
//! and length queries keep the operation: the next call with a big enough
//! buffer succeeds. For encrypt, decrypt, digest, sign and verify, each of
//! single-part, Update and Final. An Init with a NULL mechanism cancels the
//! operation of its kind; the find operation is not touched by any of this.

mod common;
#[macro_use]
mod rawc;

use pkcs11_sys::*;
use rawc::Raw;
use std::ptr::{null, null_mut};

const KEY: [u8; 32] = *b"op-errors test key, 32 bytes ok!";
const IV: [u8; 16] = [9; 16];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Encrypt,
    Decrypt,
    Digest,
    Sign,
    Verify,
}

struct T {
    r: Raw,
    aes: CK_OBJECT_HANDLE,
    hmac: CK_OBJECT_HANDLE,
}

fn setup() -> T {
    let r = Raw::open();
    let aes = r.aes(&KEY);
    let hmac = r.secret(CKK_GENERIC_SECRET, &KEY);
    T { r, aes, hmac }
}

/// A mechanism pointer for `kind` (`ty` for the ciphers: CBC or CBC_PAD).
fn mech(kind: Kind, ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    match kind {
        Kind::Encrypt | Kind::Decrypt => {
            CK_MECHANISM { mechanism: ty, pParameter: IV.as_ptr() as *mut _, ulParameterLen: 16 }
        }
        Kind::Digest => CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 },
        Kind::Sign | Kind::Verify => {
            CK_MECHANISM { mechanism: CKM_SHA256_HMAC, pParameter: null_mut(), ulParameterLen: 0 }
        }
    }
}

impl T {
    fn init_with(&self, kind: Kind, m: *mut CK_MECHANISM) -> CK_RV {
        let r = &self.r;
        match kind {
            Kind::Encrypt => call!(r, C_EncryptInit, r.h, m, self.aes),
            Kind::Decrypt => call!(r, C_DecryptInit, r.h, m, self.aes),
            Kind::Digest => call!(r, C_DigestInit, r.h, m),
            Kind::Sign => call!(r, C_SignInit, r.h, m, self.hmac),
            Kind::Verify => call!(r, C_VerifyInit, r.h, m, self.hmac),
        }
    }

    /// Starts an operation of `kind` (ciphers: `ty`).
    fn start(&self, kind: Kind, ty: CK_MECHANISM_TYPE) {
        let mut m = mech(kind, ty);
        assert_eq!(self.init_with(kind, &mut m), CKR_OK, "{kind:?}Init");
    }

    /// The operation of `kind` has ended: a new Init succeeds (and is
    /// cancelled again, leaving the session clean).
    fn assert_ended(&self, kind: Kind, what: &str) {
        let mut m = mech(kind, CKM_AES_CBC_PAD);
        assert_eq!(self.init_with(kind, &mut m), CKR_OK, "{kind:?}: {what} did not end the operation");
        assert_eq!(self.init_with(kind, null_mut()), CKR_OK, "{kind:?}Init(NULL) cancels");
    }

    /// The operation of `kind` is still active.
    fn assert_active(&self, kind: Kind, what: &str) {
        let mut m = mech(kind, CKM_AES_CBC_PAD);
        assert_eq!(self.init_with(kind, &mut m), CKR_OPERATION_ACTIVE, "{kind:?}: {what} ended the operation");
    }

    /// The single-part call of `kind`: (data, out, pulLen) as given.
    fn single(&self, kind: Kind, data: *const u8, n: usize, out: *mut u8, plen: *mut CK_ULONG) -> CK_RV {
        let r = &self.r;
        let d = data as *mut u8;
        match kind {
            Kind::Encrypt => call!(r, C_Encrypt, r.h, d, n as _, out, plen),
            Kind::Decrypt => call!(r, C_Decrypt, r.h, d, n as _, out, plen),
            Kind::Digest => call!(r, C_Digest, r.h, d, n as _, out, plen),
            Kind::Sign => call!(r, C_Sign, r.h, d, n as _, out, plen),
            Kind::Verify => unreachable!("C_Verify has no output"),
        }
    }

    /// The Update call of `kind` (ciphers write into `out`/`plen`).
    fn update(&self, kind: Kind, data: *const u8, n: usize, out: *mut u8, plen: *mut CK_ULONG) -> CK_RV {
        let r = &self.r;
        let d = data as *mut u8;
        match kind {
            Kind::Encrypt => call!(r, C_EncryptUpdate, r.h, d, n as _, out, plen),
            Kind::Decrypt => call!(r, C_DecryptUpdate, r.h, d, n as _, out, plen),
            Kind::Digest => call!(r, C_DigestUpdate, r.h, d, n as _),
            Kind::Sign => call!(r, C_SignUpdate, r.h, d, n as _),
            Kind::Verify => call!(r, C_VerifyUpdate, r.h, d, n as _),
        }
    }

    fn final_(&self, kind: Kind, out: *mut u8, plen: *mut CK_ULONG) -> CK_RV {
        let r = &self.r;
        match kind {
            Kind::Encrypt => call!(r, C_EncryptFinal, r.h, out, plen),
            Kind::Decrypt => call!(r, C_DecryptFinal, r.h, out, plen),
            Kind::Digest => call!(r, C_DigestFinal, r.h, out, plen),
            Kind::Sign => call!(r, C_SignFinal, r.h, out, plen),
            Kind::Verify => unreachable!("C_VerifyFinal takes a signature"),
        }
    }

    /// 48 bytes of CBC-PAD ciphertext of 40 bytes (for the decrypt cases).
    fn ciphertext(&self) -> Vec<u8> {
        self.start(Kind::Encrypt, CKM_AES_CBC_PAD);
        let mut out = vec![0u8; 64];
        let mut n: CK_ULONG = 64;
        assert_eq!(self.single(Kind::Encrypt, [1u8; 40].as_ptr(), 40, out.as_mut_ptr(), &mut n), CKR_OK);
        out.truncate(n as usize);
        out
    }

    /// The HMAC of `data` (for the verify cases).
    fn mac(&self, data: &[u8]) -> Vec<u8> {
        self.start(Kind::Sign, 0);
        let mut out = vec![0u8; 32];
        let mut n: CK_ULONG = 32;
        assert_eq!(self.single(Kind::Sign, data.as_ptr(), data.len(), out.as_mut_ptr(), &mut n), CKR_OK);
        out
    }
}

/// Errors of single-part, Update and Final calls that the C boundary finds
/// (NULL pointers) and that the library finds, for the four kinds with an
/// output buffer.
#[test]
fn errors_end_encrypt_decrypt_digest_and_sign() {
    let t = setup();
    let ct = t.ciphertext();
    let mut out = [0u8; 128];
    let o = out.as_mut_ptr();
    for kind in [Kind::Encrypt, Kind::Decrypt, Kind::Digest, Kind::Sign] {
        let data: &[u8] = if kind == Kind::Decrypt { &ct } else { &[3u8; 48] };
        let (d, n) = (data.as_ptr(), data.len());
        let mut len: CK_ULONG;
        let has_update_output = matches!(kind, Kind::Encrypt | Kind::Decrypt);

        // Single-part: NULL pulLen; NULL data with a non-zero length.
        t.start(kind, CKM_AES_CBC_PAD);
        assert_eq!(t.single(kind, null(), 0, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
        t.assert_ended(kind, "single-part with NULL pulLen");
        t.start(kind, CKM_AES_CBC_PAD);
        assert_eq!(t.single(kind, d, n, o, null_mut()), CKR_ARGUMENTS_BAD);
        t.assert_ended(kind, "single-part with data and NULL pulLen");
        t.start(kind, CKM_AES_CBC_PAD);
        len = 128;
        assert_eq!(t.single(kind, null(), 5, o, &mut len), CKR_ARGUMENTS_BAD);
        t.assert_ended(kind, "single-part with NULL data and a length");
        // The call after the error sees no operation at all.
        len = 128;
        assert_eq!(t.single(kind, d, n, o, &mut len), CKR_OPERATION_NOT_INITIALIZED);

        // Update: NULL data with a length; for ciphers NULL pulLen too.
        t.start(kind, CKM_AES_CBC_PAD);
        len = 128;
        assert_eq!(t.update(kind, null(), 16, o, &mut len), CKR_ARGUMENTS_BAD);
        t.assert_ended(kind, "Update with NULL data and a length");
        if has_update_output {
            t.start(kind, CKM_AES_CBC_PAD);
            assert_eq!(t.update(kind, d, 16, o, null_mut()), CKR_ARGUMENTS_BAD);
            t.assert_ended(kind, "Update with NULL pulLen");
        }

        // Final: NULL pulLen after a successful Update.
        t.start(kind, CKM_AES_CBC_PAD);
        len = 128;
        assert_eq!(t.update(kind, d, 16, o, &mut len), CKR_OK);
        assert_eq!(t.final_(kind, o, null_mut()), CKR_ARGUMENTS_BAD);
        t.assert_ended(kind, "Final with NULL pulLen");

        // A single-part call during a multi-part operation (the library's
        // own refusal) ends it too.
        t.start(kind, CKM_AES_CBC_PAD);
        len = 128;
        assert_eq!(t.update(kind, d, 16, o, &mut len), CKR_OK);
        len = 128;
        assert_eq!(t.single(kind, d, n, o, &mut len), CKR_OPERATION_ACTIVE);
        t.assert_ended(kind, "single-part during multi-part");
    }

    // Mechanism errors: unpadded CBC of 5 bytes (single-part and at Final),
    // a ciphertext of 5 bytes, bad padding at DecryptFinal.
    let mut len: CK_ULONG;
    for kind in [Kind::Encrypt, Kind::Decrypt] {
        t.start(kind, CKM_AES_CBC);
        len = 128;
        assert!(matches!(
            t.single(kind, [0u8; 5].as_ptr(), 5, o, &mut len),
            CKR_DATA_LEN_RANGE | CKR_ENCRYPTED_DATA_LEN_RANGE
        ));
        t.assert_ended(kind, "a length error");
        t.start(kind, CKM_AES_CBC);
        len = 128;
        assert_eq!(t.update(kind, [0u8; 5].as_ptr(), 5, o, &mut len), CKR_OK);
        len = 128;
        assert!(matches!(t.final_(kind, o, &mut len), CKR_DATA_LEN_RANGE | CKR_ENCRYPTED_DATA_LEN_RANGE));
        t.assert_ended(kind, "a length error at Final");
    }
    t.start(Kind::Decrypt, CKM_AES_CBC_PAD);
    let mut bad = ct.clone();
    let at = bad.len() - 17;
    bad[at] ^= 0x55; // the padding of the last block
    len = 128;
    assert_eq!(t.update(Kind::Decrypt, bad.as_ptr(), bad.len(), o, &mut len), CKR_OK);
    len = 128;
    assert_eq!(t.final_(Kind::Decrypt, o, &mut len), CKR_ENCRYPTED_DATA_INVALID);
    t.assert_ended(Kind::Decrypt, "bad padding at Final");
    // C_DigestKey with a bad key handle ends the digest.
    t.start(Kind::Digest, 0);
    assert_eq!(call!(t.r, C_DigestKey, t.r.h, 0xdead), CKR_KEY_HANDLE_INVALID);
    t.assert_ended(Kind::Digest, "C_DigestKey with a bad handle");
}

/// Length queries and CKR_BUFFER_TOO_SMALL keep the operation: the next
/// call with a big enough buffer succeeds.
#[test]
fn length_queries_and_short_buffers_keep_the_operation() {
    let t = setup();
    let ct = t.ciphertext();
    let mut out = [0u8; 128];
    let o = out.as_mut_ptr();
    let mut small = [0u8; 1];
    let s = small.as_mut_ptr();
    for kind in [Kind::Encrypt, Kind::Decrypt, Kind::Digest, Kind::Sign] {
        let data: &[u8] = if kind == Kind::Decrypt { &ct } else { &[3u8; 48] };
        let (d, n) = (data.as_ptr(), data.len());
        // Single-part: query, too small, then the real call.
        t.start(kind, CKM_AES_CBC_PAD);
        let mut len: CK_ULONG = 0;
        assert_eq!(t.single(kind, d, n, null_mut(), &mut len), CKR_OK);
        assert!(len > 0);
        t.assert_active(kind, "a length query");
        let need = len;
        len = 1;
        assert_eq!(t.single(kind, d, n, s, &mut len), CKR_BUFFER_TOO_SMALL);
        assert_eq!(len, need, "{kind:?}: the needed length is written back");
        t.assert_active(kind, "CKR_BUFFER_TOO_SMALL");
        len = 128;
        assert_eq!(t.single(kind, d, n, o, &mut len), CKR_OK, "{kind:?} after a short buffer");
        t.assert_ended(kind, "a successful single-part call");

        // Multi-part: Update (ciphers: query and too small), Final (query, too small).
        t.start(kind, CKM_AES_CBC_PAD);
        if matches!(kind, Kind::Encrypt | Kind::Decrypt) {
            len = 0;
            assert_eq!(t.update(kind, d, 32, null_mut(), &mut len), CKR_OK);
            // CBC-PAD decryption holds its last block back.
            assert_eq!(len, if kind == Kind::Encrypt { 32 } else { 16 }, "{kind:?}Update length query");
            len = 1;
            assert_eq!(t.update(kind, d, 32, s, &mut len), CKR_BUFFER_TOO_SMALL);
            t.assert_active(kind, "CKR_BUFFER_TOO_SMALL at Update");
        }
        len = 128;
        assert_eq!(t.update(kind, d, n, o, &mut len), CKR_OK);
        len = 0;
        assert_eq!(t.final_(kind, null_mut(), &mut len), CKR_OK);
        t.assert_active(kind, "a length query at Final");
        if len > 1 {
            len = 1;
            assert_eq!(t.final_(kind, s, &mut len), CKR_BUFFER_TOO_SMALL);
            t.assert_active(kind, "CKR_BUFFER_TOO_SMALL at Final");
        }
        len = 128;
        assert_eq!(t.final_(kind, o, &mut len), CKR_OK, "{kind:?}Final after a short buffer");
        t.assert_ended(kind, "a successful Final");
    }
}

#[test]
fn errors_end_verify() {
    let t = setup();
    let data = [5u8; 40];
    let mac = t.mac(&data);
    let r = &t.r;
    let d = data.as_ptr() as *mut u8;
    let m = mac.as_ptr() as *mut u8;
    let v = Kind::Verify;
    // Single-part: NULL data with a length, NULL signature with a length,
    // a wrong signature, a short signature.
    t.start(v, 0);
    assert_eq!(call!(r, C_Verify, r.h, null_mut(), 40, m, 32), CKR_ARGUMENTS_BAD);
    t.assert_ended(v, "C_Verify with NULL data and a length");
    t.start(v, 0);
    assert_eq!(call!(r, C_Verify, r.h, d, 40, null_mut(), 32), CKR_ARGUMENTS_BAD);
    t.assert_ended(v, "C_Verify with a NULL signature and a length");
    assert_eq!(call!(r, C_Verify, r.h, d, 40, m, 32), CKR_OPERATION_NOT_INITIALIZED);
    let mut wrong = mac.clone();
    wrong[0] ^= 1;
    t.start(v, 0);
    assert_eq!(call!(r, C_Verify, r.h, d, 40, wrong.as_mut_ptr(), 32), CKR_SIGNATURE_INVALID);
    t.assert_ended(v, "a wrong signature");
    t.start(v, 0);
    assert!(matches!(call!(r, C_Verify, r.h, d, 40, m, 3), CKR_SIGNATURE_LEN_RANGE | CKR_SIGNATURE_INVALID));
    t.assert_ended(v, "a short signature");
    // Update and Final.
    t.start(v, 0);
    assert_eq!(call!(r, C_VerifyUpdate, r.h, null_mut(), 40), CKR_ARGUMENTS_BAD);
    t.assert_ended(v, "C_VerifyUpdate with NULL data and a length");
    t.start(v, 0);
    assert_eq!(call!(r, C_VerifyUpdate, r.h, d, 40), CKR_OK);
    assert_eq!(call!(r, C_VerifyFinal, r.h, null_mut(), 32), CKR_ARGUMENTS_BAD);
    t.assert_ended(v, "C_VerifyFinal with a NULL signature and a length");
    t.start(v, 0);
    assert_eq!(call!(r, C_VerifyUpdate, r.h, d, 40), CKR_OK);
    assert_eq!(call!(r, C_VerifyFinal, r.h, wrong.as_mut_ptr(), 32), CKR_SIGNATURE_INVALID);
    t.assert_ended(v, "a wrong signature at Final");
    // And the right one still verifies.
    t.start(v, 0);
    assert_eq!(call!(r, C_VerifyUpdate, r.h, d, 40), CKR_OK);
    assert_eq!(call!(r, C_VerifyFinal, r.h, m, 32), CKR_OK);
    t.assert_ended(v, "a successful C_VerifyFinal");
}

/// Init with a NULL mechanism cancels the active operation of its kind and
/// only that one; with none active it is a bad argument.
#[test]
fn init_with_null_mechanism_cancels() {
    let t = setup();
    let kinds = [Kind::Encrypt, Kind::Decrypt, Kind::Digest, Kind::Sign, Kind::Verify];
    for kind in kinds {
        assert_eq!(t.init_with(kind, null_mut()), CKR_ARGUMENTS_BAD, "{kind:?}Init(NULL) with nothing active");
        t.start(kind, CKM_AES_CBC_PAD);
        for other in kinds.iter().filter(|k| **k != kind) {
            t.start(*other, CKM_AES_CBC_PAD);
        }
        assert_eq!(t.init_with(kind, null_mut()), CKR_OK, "{kind:?}Init(NULL) cancels");
        for other in kinds.iter().filter(|k| **k != kind) {
            t.assert_active(*other, "another kind's Init(NULL)");
            assert_eq!(t.init_with(*other, null_mut()), CKR_OK);
        }
        t.assert_ended(kind, "Init(NULL)");
    }
}

/// Errors of crypto operations do not end a find operation, and find
/// errors are not operation errors.
#[test]
fn the_find_operation_is_not_affected() {
    let t = setup();
    let r = &t.r;
    assert_eq!(call!(r, C_FindObjectsInit, r.h, null_mut(), 0), CKR_OK);
    for kind in [Kind::Encrypt, Kind::Digest, Kind::Sign] {
        t.start(kind, CKM_AES_CBC_PAD);
        assert_eq!(t.single(kind, null(), 0, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
        t.assert_ended(kind, "single-part with NULL pulLen");
    }
    assert_eq!(call!(r, C_FindObjectsInit, r.h, null_mut(), 0), CKR_OPERATION_ACTIVE);
    let mut found = [0 as CK_OBJECT_HANDLE; 8];
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_FindObjects, r.h, found.as_mut_ptr(), 8, &mut n), CKR_OK);
    assert_eq!(n, 2, "the two keys of the test");
    assert_eq!(call!(r, C_FindObjectsFinal, r.h), CKR_OK);
}
