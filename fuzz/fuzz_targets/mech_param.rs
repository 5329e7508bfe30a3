//! Mechanism parameters (GCM, CTR, CBC IVs, key wrap, OAEP, PSS, ECDH,
//! HMAC general lengths) as the ABI decodes them into `MechParam`, through
//! the mechanism layer's validation and one operation with fixed keys:
//! an error or a result, never a panic.
#![no_main]
use keyward::crypto::SecretKey;
use keyward::crypto::ec::{self, Curve, EcPrivate};
use keyward::crypto::rsa::{self, RsaPrivate};
use keyward::mechanism::{aes, ec as mec, hmac, rsa as mrsa};
use keyward::types::{MechParam, Mechanism};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use zeroize::Zeroizing;

static AES: LazyLock<SecretKey> = LazyLock::new(|| SecretKey::new(Zeroizing::new(vec![0x42; 32])));
static RSA: LazyLock<RsaPrivate> = LazyLock::new(|| rsa::generate(2048).expect("rsa"));
static EC: LazyLock<EcPrivate> = LazyLock::new(|| ec::generate(Curve::P256).expect("ec"));

const MECHS: [u64; 24] = [
    0x1081, 0x1082, 0x1085, 0x1086, 0x1087, 0x2109, 0x210A,
    0x210B, // AES ECB/CBC/CBC_PAD/CTR/GCM, KW, KW_PAD, KWP
    0x0001, 0x0003, 0x0009, 0x000D, 0x0040, 0x0043, 0x0046, 0x0047, // RSA PKCS/X509/OAEP/PSS, SHA*-RSA(-PSS)
    0x1041, 0x1044, 0x1050, 0x0251, 0x0252, 0x0261, 0x0272,
    0x0221, // ECDSA, ECDSA_SHA256, ECDH1, HMACs, SHA_1_HMAC
];

fn u64_at(d: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn param(d: &[u8]) -> MechParam {
    let sel = d.first().copied().unwrap_or(0);
    let rest = d.get(1..).unwrap_or(&[]);
    let (a, b) = rest.split_at(rest.len() / 2);
    match sel % 9 {
        0 => MechParam::None,
        1 => MechParam::Bytes(rest.to_vec()),
        2 => MechParam::Ulong(u64_at(rest, 0)),
        3 => MechParam::Gcm { iv: a.to_vec(), aad: b.to_vec(), tag_bits: u64_at(d, 1) % 200 },
        4 => {
            let mut cb = [0u8; 16];
            for (k, x) in cb.iter_mut().enumerate() {
                *x = rest.get(k + 1).copied().unwrap_or(0);
            }
            MechParam::Ctr { counter_bits: rest.first().copied().unwrap_or(0) as u64, cb }
        }
        5 => MechParam::Oaep {
            hash: [0x220, 0x255, 0x250, 0x260, 0x270, 0x210][rest.first().copied().unwrap_or(0) as usize % 6],
            mgf: rest.get(1).copied().unwrap_or(0) as u64 % 7,
            source: rest.get(2).copied().unwrap_or(0) as u64 % 3,
            source_data: rest.get(3..).unwrap_or(&[]).to_vec(),
        },
        6 => MechParam::Pss {
            hash: [0x220, 0x255, 0x250, 0x260, 0x270, 0x210][rest.first().copied().unwrap_or(0) as usize % 6],
            mgf: rest.get(1).copied().unwrap_or(0) as u64 % 7,
            salt_len: u64_at(rest, 2) % 600,
        },
        7 => MechParam::Ecdh {
            kdf: rest.first().copied().unwrap_or(1) as u64 % 4,
            shared_data: a.to_vec(),
            public_data: b.to_vec(),
        },
        _ => MechParam::Bytes(Vec::new()),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let ty = MECHS[data[0] as usize % MECHS.len()];
    let mech = Mechanism { ty, param: param(&data[1..]) };
    let input = &data[data.len() / 2..];
    for enc in [true, false] {
        if let Ok(mut c) = aes::cipher(&mech, &AES, enc) {
            let mut out = vec![0u8; c.oneshot_bound(input.len())];
            let _ = c.oneshot(input, &mut out);
        }
    }
    if let Ok(mut e) = mrsa::encryptor(&mech, RSA.public()) {
        let mut out = vec![0u8; e.oneshot_bound(input.len())];
        let _ = e.oneshot(input, &mut out);
    }
    if let Ok(mut d) = mrsa::decryptor(&mech, &RSA) {
        let mut out = vec![0u8; d.oneshot_bound(input.len())];
        let _ = d.oneshot(input, &mut out);
    }
    if let Ok(mut s) = mrsa::signer(&mech, &RSA) {
        let _ = s.update(input);
        let mut out = vec![0u8; s.sig_len()];
        let _ = s.sign_final(&mut out);
    }
    if let Ok(mut v) = mrsa::verifier(&mech, RSA.public()) {
        let _ = v.update(input);
        let _ = v.verify_final(input);
    }
    if let Ok(mut s) = mec::signer(&mech, &EC) {
        let _ = s.update(input);
        let mut out = vec![0u8; s.sig_len()];
        let _ = s.sign_final(&mut out);
    }
    if let Ok(mut s) = hmac::signer(&mech, &AES) {
        let _ = s.update(input);
        let mut out = vec![0u8; s.sig_len()];
        let _ = s.sign_final(&mut out);
    }
    let _ = mrsa::wrap(&mech, RSA.public(), input);
    // Without and with a CKA_VALUE_LEN (the fixed-length implicit rejection path).
    for want_len in [None, Some(32)] {
        let _ = mrsa::unwrap(&mech, &RSA, input, want_len);
    }
});
