//! Unit tests of the RSA primitives: every scheme on both engine paths
//! (aws-lc-rs and EVP), import validation, key sizes and exponents, and
//! known answers from OpenSSL.

use super::*;
use crate::crypto::ffi::SigPad;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, RsaEncoding, RsaKeyPair};
use std::sync::LazyLock;

static KEY: LazyLock<RsaPrivate> = LazyLock::new(|| generate(2048).unwrap());

const SHA2: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

fn hash(alg: Algorithm, data: &[u8]) -> Vec<u8> {
    super::super::digest::digest(alg, data)
}

#[test]
fn pkcs1_sign_verify() {
    let k = &*KEY;
    let mut sig = vec![0u8; k.modulus_len()];
    for h in SHA2 {
        let s = RsaSignScheme::pkcs1(h);
        let d = hash(h, b"hello");
        k.check_sign(&s).unwrap();
        assert_eq!(k.sign_digest(&s, &d, &mut sig).unwrap(), 256);
        k.public().verify_digest(&s, &d, &sig).unwrap();
        // Deterministic: the engine's one-shot sign agrees.
        let enc: &'static dyn RsaEncoding = match h {
            Algorithm::Sha256 => &signature::RSA_PKCS1_SHA256,
            Algorithm::Sha384 => &signature::RSA_PKCS1_SHA384,
            _ => &signature::RSA_PKCS1_SHA512,
        };
        let mut sig2 = vec![0u8; 256];
        k.0.pair.as_ref().unwrap().sign(enc, &aws_lc_rs::rand::SystemRandom::new(), b"hello", &mut sig2).unwrap();
        assert_eq!(sig, sig2);
        // Raw DigestInfo signing gives the same signature.
        let mut sig3 = vec![0u8; 256];
        k.sign_digest_info(&digest_info(h, &d), &mut sig3).unwrap();
        assert_eq!(sig, sig3);
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert_eq!(k.public().verify_digest(&s, &d, &bad), Err(CryptoError::AuthFailed));
        assert_eq!(k.public().verify_digest(&s, &d, &sig[1..]), Err(CryptoError::InvalidLength));
        assert_eq!(k.sign_digest(&s, &d[1..], &mut sig), Err(CryptoError::InvalidLength));
    }
    // SHA-1 and SHA-224 (EVP path): round trips, and a wrong digest fails.
    for h in [Algorithm::Sha1, Algorithm::Sha224] {
        let s = RsaSignScheme::pkcs1(h);
        let d = vec![0x33u8; h.output_len()];
        let mut sig = vec![0u8; 256];
        assert_eq!(k.sign_digest(&s, &d, &mut sig).unwrap(), 256);
        k.public().verify_digest(&s, &d, &sig).unwrap();
        let mut d2 = d.clone();
        d2[0] ^= 1;
        assert_eq!(k.public().verify_digest(&s, &d2, &sig), Err(CryptoError::AuthFailed));
        // Deterministic padding: the raw PKCS#1 signature of the same
        // DigestInfo is the same signature.
        let mut raw = vec![0u8; 256];
        k.sign_raw_pkcs1(&digest_info(h, &d), &mut raw).unwrap();
        assert_eq!(raw, sig);
    }
    // The EVP path agrees with aws-lc-rs where both exist.
    let d = [0x44u8; 32];
    let mut fast = vec![0u8; 256];
    k.sign_digest(&RsaSignScheme::pkcs1(Algorithm::Sha256), &d, &mut fast).unwrap();
    let mut evp = vec![0u8; 256];
    k.evp().unwrap().sign(SigPad::Pkcs1(Md::Sha256), &d, &mut evp).unwrap();
    assert_eq!(fast, evp);
    // Raw PKCS#1 of arbitrary data (TLS 1.0 MD5+SHA-1 is 36 bytes).
    let data = [1u8; 36];
    k.sign_raw_pkcs1(&data, &mut sig).unwrap();
    k.public().verify_raw_pkcs1(&data, &sig).unwrap();
    assert_eq!(k.public().verify_raw_pkcs1(&[2u8; 36], &sig), Err(CryptoError::AuthFailed));
    assert_eq!(k.sign_raw_pkcs1(&[1u8; 246], &mut sig), Err(CryptoError::InvalidLength));
    k.sign_raw_pkcs1(&[1u8; 245], &mut sig).unwrap();
    // Raw RSA: sign = decrypt, verify = encrypt; values >= n refused.
    let m = [0x42u8; 100];
    k.sign_raw(&m, &mut sig).unwrap();
    k.public().verify_raw(&m, &sig).unwrap();
    let mut ct = vec![0u8; 256];
    k.public().encrypt_raw(&m, &mut ct).unwrap();
    let mut pt = vec![0u8; 256];
    assert_eq!(k.decrypt_raw(&ct, &mut pt).unwrap(), 256);
    assert!(pt[..156].iter().all(|b| *b == 0) && pt[156..] == m[..]);
    assert_eq!(k.sign_raw(&[0xffu8; 256], &mut sig), Err(CryptoError::InvalidParam));
    assert_eq!(k.public().encrypt_raw(&[0xffu8; 256], &mut ct), Err(CryptoError::InvalidParam));
}

#[test]
fn pss_sign_verify_salts() {
    let k = &*KEY;
    let mut sig = vec![0u8; 256];
    for h in SHA2 {
        let d = hash(h, b"pss");
        let max = 256 - h.output_len() - 2;
        for salt in [0, 20, h.output_len(), max] {
            let s = RsaSignScheme::pss(h, h, salt).unwrap();
            k.check_sign(&s).unwrap();
            k.sign_digest(&s, &d, &mut sig).unwrap();
            k.public().verify_digest(&s, &d, &sig).unwrap();
            // A different salt length does not verify.
            let other = RsaSignScheme::pss(h, h, if salt == 0 { 1 } else { salt - 1 }).unwrap();
            assert_eq!(k.public().verify_digest(&other, &d, &sig), Err(CryptoError::AuthFailed));
            // Randomized: two signatures differ when salted.
            if salt > 0 {
                let mut sig2 = vec![0u8; 256];
                k.sign_digest(&s, &d, &mut sig2).unwrap();
                assert_ne!(sig, sig2);
            }
        }
        let s = RsaSignScheme::pss(h, h, max + 1).unwrap();
        assert_eq!(k.check_sign(&s), Err(CryptoError::InvalidParam));
        assert_eq!(k.public().check_verify(&s), Err(CryptoError::InvalidParam));
    }
    for (h, m) in [
        (Algorithm::Sha256, Algorithm::Sha1),
        (Algorithm::Sha1, Algorithm::Sha1),
        (Algorithm::Sha224, Algorithm::Sha224),
        (Algorithm::Sha512, Algorithm::Sha256),
    ] {
        // The EVP path: round trip; the MGF1 hash matters.
        let s = RsaSignScheme::pss(h, m, 20).unwrap();
        let d = vec![0x21u8; h.output_len()];
        k.sign_digest(&s, &d, &mut sig).unwrap();
        k.public().verify_digest(&s, &d, &sig).unwrap();
        let m2 = if m == Algorithm::Sha1 { Algorithm::Sha256 } else { Algorithm::Sha1 };
        let other = RsaSignScheme::pss(h, m2, 20).unwrap();
        assert_eq!(k.public().verify_digest(&other, &d, &sig), Err(CryptoError::AuthFailed));
    }
    assert_eq!(
        RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 100_000).err(),
        Some(CryptoError::InvalidParam)
    );
}

#[test]
fn oaep_and_pkcs1_encryption() {
    let k = &*KEY;
    let mut ct = vec![0u8; 256];
    let mut pt = vec![0u8; 256];
    for h in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512] {
        let p = Oaep::new(h, h).unwrap();
        let max = p.max_message_len(256);
        assert_eq!(max, 256 - 2 * h.output_len() - 2);
        for label in [&b""[..], b"label"] {
            let msg = vec![0x5au8; max];
            assert_eq!(k.public().encrypt_oaep(&p, label, &msg, &mut ct).unwrap(), 256);
            let n = k.decrypt_oaep(&p, label, &ct, &mut pt).unwrap();
            assert_eq!(&pt[..n], &msg[..]);
            // Wrong label or tampered ciphertext.
            assert_eq!(k.decrypt_oaep(&p, b"other", &ct, &mut pt), Err(CryptoError::AuthFailed));
            let mut bad = ct.clone();
            bad[7] ^= 1;
            assert_eq!(k.decrypt_oaep(&p, label, &bad, &mut pt), Err(CryptoError::AuthFailed));
        }
        assert_eq!(k.public().encrypt_oaep(&p, b"", &vec![0u8; max + 1], &mut ct), Err(CryptoError::InvalidLength));
    }
    // SHA-224 and mixed MGF1 hashes (EVP path).
    for (h, m) in [
        (Algorithm::Sha224, Algorithm::Sha224),
        (Algorithm::Sha256, Algorithm::Sha1),
        (Algorithm::Sha1, Algorithm::Sha512),
    ] {
        let p = Oaep::new(h, m).unwrap();
        let msg = vec![0x17u8; p.max_message_len(256)];
        assert_eq!(k.public().encrypt_oaep(&p, b"lbl", &msg, &mut ct).unwrap(), 256);
        let n = k.decrypt_oaep(&p, b"lbl", &ct, &mut pt).unwrap();
        assert_eq!(&pt[..n], &msg[..]);
        assert_eq!(k.decrypt_oaep(&p, b"", &ct, &mut pt), Err(CryptoError::AuthFailed));
        let other = Oaep::new(h, if m == Algorithm::Sha1 { Algorithm::Sha256 } else { Algorithm::Sha1 }).unwrap();
        assert_eq!(k.decrypt_oaep(&other, b"lbl", &ct, &mut pt), Err(CryptoError::AuthFailed));
    }

    let msg = [7u8; 245];
    k.public().encrypt_pkcs1(&msg, &mut ct).unwrap();
    let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
    assert_eq!(&pt[..n], &msg[..]);
    k.public().encrypt_pkcs1(b"", &mut ct).unwrap();
    assert_eq!(k.decrypt_pkcs1(&ct, &mut pt).unwrap(), 0);
    assert_eq!(k.public().encrypt_pkcs1(&[0u8; 246], &mut ct), Err(CryptoError::InvalidLength));
    assert_eq!(k.decrypt_pkcs1(&ct[1..], &mut pt), Err(CryptoError::InvalidLength));
    // Tampered: implicit rejection, a deterministic synthetic message
    // rather than an error (known answers in `implicit`).
    ct[100] ^= 1;
    let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
    let first = pt[..n].to_vec();
    assert_eq!(k.decrypt_pkcs1(&ct, &mut pt).unwrap(), n);
    assert_eq!(pt[..n], first[..]);
    // Output too small for the message.
    k.public().encrypt_pkcs1(&[1u8; 10], &mut ct).unwrap();
    assert_eq!(k.decrypt_pkcs1(&ct, &mut pt[..9]), Err(CryptoError::InvalidLength));
}

#[test]
fn import_validation() {
    let k = &*KEY;
    let c = k.components().clone();
    assert_eq!(c.e, vec![1, 0, 1]);
    assert_eq!(k.bits(), 2048);
    let k2 = RsaPrivate::from_components(&c).unwrap();
    assert_eq!(k2.public().n(), k.public().n());
    // Leading zeros are fine.
    let mut cz = c.clone();
    cz.n.insert(0, 0);
    cz.d.insert(0, 0);
    RsaPrivate::from_components(&cz).unwrap();

    // A wrong d (off by two, still odd) is refused.
    let mut bad = c.clone();
    let last = bad.d.len() - 1;
    bad.d[last] ^= 2;
    assert_eq!(RsaPrivate::from_components(&bad).err(), Some(CryptoError::InvalidKey));
    // Wrong CRT values, swapped q, wrong n.
    for f in [
        |c: &mut RsaComponents| c.dp[0] ^= 1,
        |c: &mut RsaComponents| c.dq[0] ^= 1,
        |c: &mut RsaComponents| c.qinv[0] ^= 1,
        |c: &mut RsaComponents| c.q[5] ^= 1,
        |c: &mut RsaComponents| c.n[5] ^= 1,
        |c: &mut RsaComponents| c.e = vec![3],
    ] {
        let mut b = c.clone();
        f(&mut b);
        assert_eq!(RsaPrivate::from_components(&b).err(), Some(CryptoError::InvalidKey));
    }
    // n, e, d without primes: refused.
    let mut nodp = c.clone();
    for v in [&mut nodp.p, &mut nodp.q, &mut nodp.dp, &mut nodp.dq, &mut nodp.qinv] {
        v.clear();
    }
    assert_eq!(RsaPrivate::from_components(&nodp).err(), Some(CryptoError::InvalidKey));

    // PKCS#8 round trip; PKCS#8 with a wrong d refused.
    let der = k.to_pkcs8_der();
    let k3 = RsaPrivate::from_pkcs8_der(&der).unwrap();
    assert_eq!(k3.components().d, c.d);
    let bad8 = super::der::rsa_pkcs8(&bad.n, &bad.e, &bad.d, &bad.p, &bad.q, &bad.dp, &bad.dq, &bad.qinv).unwrap();
    assert_eq!(RsaPrivate::from_pkcs8_der(&bad8).err(), Some(CryptoError::InvalidKey));
    // aws-lc-rs's own loader also rejects it (RSA_check_key on parse).
    assert!(RsaKeyPair::from_pkcs8(&bad8).is_err());
    assert_eq!(RsaPrivate::from_pkcs8_der(b"junk").err(), Some(CryptoError::InvalidKey));

    // Sizes: multiples of 128 from 512 to 8192; odd exponents >= 3.
    assert_eq!(generate(1000).err(), Some(CryptoError::InvalidParam));
    assert_eq!(generate(2047).err(), Some(CryptoError::InvalidParam));
    assert_eq!(generate(384).err(), Some(CryptoError::InvalidParam));
    assert_eq!(generate(8320).err(), Some(CryptoError::InvalidParam));
    for e in [0, 1, 2, 65536] {
        assert_eq!(generate_with_exponent(1024, e).err(), Some(CryptoError::InvalidParam));
    }
}

#[test]
fn public_keys() {
    let k = &*KEY;
    let p = RsaPublic::from_n_e(k.public().n(), &[1, 0, 1]).unwrap();
    assert_eq!(p.bits(), 2048);
    let spki = p.to_spki_der().unwrap();
    assert_eq!(RsaPublic::from_spki_der(&spki).unwrap().n(), p.n());
    // The engine's SPKI encoding matches ours.
    let lc = aws_lc_rs::signature::KeyPair::public_key(k.0.pair.as_ref().unwrap()).as_der().unwrap();
    assert_eq!(lc.as_ref(), &spki[..]);
    // Even modulus, even/one exponent, tiny modulus: refused.
    let mut even = p.n().to_vec();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(RsaPublic::from_n_e(&even, &[1, 0, 1]).is_err());
    assert!(RsaPublic::from_n_e(p.n(), &[1, 0, 0]).is_err());
    assert!(RsaPublic::from_n_e(p.n(), &[1]).is_err());
    let mut tiny = p.n()[..63].to_vec();
    tiny[62] |= 1;
    assert!(RsaPublic::from_n_e(&tiny, &[1, 0, 1]).is_err());
}

/// Keys under 2048 bits and exponents other than 65537 run on the EVP
/// path: every scheme round-trips, and a 512-bit public key verifies.
#[test]
fn small_keys_and_other_exponents() {
    for (bits, e) in [(1024, 3u32), (1536, 0x0100_0001), (512, 65537)] {
        let k = generate_with_exponent(bits, e).unwrap();
        assert_eq!(k.bits(), bits);
        assert_eq!(k.public().e(), &e.to_be_bytes()[(e.leading_zeros() / 8) as usize..]);
        let klen = bits / 8;
        let mut sig = vec![0u8; klen];
        for h in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512] {
            let d = hash(h, b"small");
            let s = RsaSignScheme::pkcs1(h);
            if bits == 512 && matches!(h, Algorithm::Sha384 | Algorithm::Sha512) {
                // 19 + 48/64 bytes of DigestInfo do not fit a 64-byte block.
                assert!(k.sign_digest(&s, &d, &mut sig).is_err());
                continue;
            }
            k.sign_digest(&s, &d, &mut sig).unwrap();
            k.public().verify_digest(&s, &d, &sig).unwrap();
            let mut bad = sig.clone();
            bad[3] ^= 1;
            assert_eq!(k.public().verify_digest(&s, &d, &bad), Err(CryptoError::AuthFailed));
            // The public half alone (as imported from a certificate).
            let p = RsaPublic::from_n_e(k.public().n(), k.public().e()).unwrap();
            p.verify_digest(&s, &d, &sig).unwrap();
        }
        let s = RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 20).unwrap();
        let d = hash(Algorithm::Sha256, b"pss");
        k.sign_digest(&s, &d, &mut sig).unwrap();
        k.public().verify_digest(&s, &d, &sig).unwrap();
        let mut ct = vec![0u8; klen];
        let mut pt = vec![0u8; klen];
        let o = Oaep::new(Algorithm::Sha1, Algorithm::Sha1).unwrap();
        k.public().encrypt_oaep(&o, b"l", b"msg", &mut ct).unwrap();
        let n = k.decrypt_oaep(&o, b"l", &ct, &mut pt).unwrap();
        assert_eq!(&pt[..n], b"msg");
        assert_eq!(k.decrypt_oaep(&o, b"x", &ct, &mut pt), Err(CryptoError::AuthFailed));
        k.public().encrypt_pkcs1(b"v15", &mut ct).unwrap();
        let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
        assert_eq!(&pt[..n], b"v15");
        ct[5] ^= 1;
        // Implicit rejection: a synthetic message, the same every time.
        let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
        let synthetic = pt[..n].to_vec();
        assert_ne!(synthetic, b"v15");
        assert_eq!(k.decrypt_pkcs1(&ct, &mut pt).map(|n| pt[..n].to_vec()), Ok(synthetic));
        // Import of the components: consistent, and a broken d refused.
        let c = k.components().clone();
        RsaPrivate::from_components(&c).unwrap();
        let mut bad = c.clone();
        let last = bad.d.len() - 1;
        bad.d[last] ^= 2;
        assert_eq!(RsaPrivate::from_components(&bad).err(), Some(CryptoError::InvalidKey));
    }
    // Under 512 bits: refused.
    let tiny = [0xc5u8; 32];
    assert_eq!(RsaPublic::from_n_e(&tiny, &[3]).err(), Some(CryptoError::InvalidKey));
}

#[test]
fn larger_keys() {
    let k = generate(3072).unwrap();
    assert_eq!(k.bits(), 3072);
    let s = RsaSignScheme::pss(Algorithm::Sha384, Algorithm::Sha384, 48).unwrap();
    let d = hash(Algorithm::Sha384, b"m");
    let mut sig = vec![0u8; 384];
    k.sign_digest(&s, &d, &mut sig).unwrap();
    k.public().verify_digest(&s, &d, &sig).unwrap();
    // Another key's public half refuses.
    assert_eq!(KEY.public().verify_digest(&s, &d, &sig[..256]), Err(CryptoError::AuthFailed));
}

/// Interoperability with a second implementation: a key, signatures and
/// a ciphertext made by OpenSSL 3 (`openssl genrsa 2048`, `dgst -sha1
/// -sign`, `dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt
/// rsa_pss_saltlen:20`, `pkeyutl -encrypt` OAEP-SHA256 label "L").
#[test]
fn openssl_known_answers() {
    let h = |s: &str| hex::decode(s).unwrap();
    let key = RsaPrivate::from_pkcs8_der(&h(concat!(
        "308204bc020100300d06092a864886f70d0101010500048204a6308204a20201000282010100d515daa8c78d269d8cc3",
        "3f75fd3836eb3d6ad964336327be507353856f23a324acc15228b623d2ff66f3537f11d9a21febdc57ad0931655b9860",
        "4a8dc5edbe6b3376b4e6ad01292d272afcb3f398d9402982dc8171743c205448d66e038a8e0fbe4c3f34a7d5643d1c48",
        "ef8b75b8c441a72328097f21a4047c9ff159814998e90a77a4d52cd8485fff1fd1e66e0255497af94c4163e735ce083d",
        "938085bf84d7c8a4ea70fae58f08b2a783f240e1ef5fc15cc00905150843bf1aa23f8fdce8fb8fe5c80ad8b209502159",
        "d2c5311287fdcb8aa58df3288ff240e2df2aedb9bba06077b3474a23cdaaa0a86af591ea6d62795a48e39be830a85353",
        "6b5c9b1f274502030100010282010004a56e5821c9c51ec853f58d481132b95c64790b0347d53504220f9f283639b772",
        "00e11ebc21f9d6d1d2da6e39e069f5923a02bb6628ea91ddb7b3c87599627e89e7bbb80feba78f317c717827069d2e15",
        "f9a17f3d0f10c48fb1eae30936bb3442acfcefd3fd062b82f3602dc54a5b152764cfd9ad28f99f936c1562233c8c95f6",
        "0ef36456854a624c29dee2692ffb8a4d2f5d450f1b775c78ec03f8c4e12f5ae623dcdb7521b83a5ab6d27d9a70c39999",
        "b4f9675fc2e1bd7a4b95a6abef7bacc897122e75df469d2c3a8eaab0303f6d853037e142f1855ae57911f62e9550d767",
        "60dcfb0170e910dc15c7b8769c149140c14ecca970a94fcd225fe29aa1c03d02818100f521465d260975cd077e79ea17",
        "e365406af8d2fdab90f4444df4a0b6946c1efe64f0f9662513802cc3771a10d755c8ce0cb5653705468b48a44b105c46",
        "fca843835d6f9c030d65f20f914c19714d75f2a41f82ca1ff40547344e434a8391aa1b32546c7f4708c8d340a4324d93",
        "34d5df395813ade4808fdcf018555be77542cb02818100de88cebde8c722e7c8d7cba9ea90071828f68a0747bd2e615e",
        "79841d7392c60921ffb88dcb0a3edb6842a65b10a007551968fdf5cc8661afad853bda0b0af59be0216094165cb6a288",
        "117512114af6236850f7dcefe859dd99653c869095736262f027cfff89a3f6e0b540ac97f60d82a7a243e7beb11f5e35",
        "28a161e2b72c2f02818016248b569eb8fc0b2942238121e7489e290b9103991bdef4cc95ec6e91b9b293084b3c3c1ddd",
        "4516c6115c29694a3679666c7c581c01e3530c843b561a93781fa11e2f96c82fcda5b0024ffd7c5ea2e8e82a7086119c",
        "d95d353c5c97be8ac9f2eaf8f55409f6a12d74096101e0ea44e785268fa085a3975b3dd4f4e0f8677f410281800465b1",
        "a8210466552c2bcf7371161d7dc5b9716ac9691c9481f866baea40b9370efbed9aa7ab712886bbe26ba43d7547a233e7",
        "e8c67cd54b5263729651678b08e479e45da8bf764069ede66150042a2ef2edbea817f980651795df874d2e16d497dde4",
        "fb8032291244c87019b8fafcb35b3aa29adeb2c34aea43fe445fe57cb302818021a2880b406fbb4f85e4e2ad9288285e",
        "5a438f4d9dbcc878cdc3a67fe429b77f77614bb146cbcfcdc1891cfe7db252927e3af6208ba6a2b835e349e79462c6bf",
        "9ce8f51a9f4d90b57834390f0b7981c1c4a5d8a38f9edddf1a1261bb4f8a7d927ba632168a05bf962f9310c8dbe1b285",
        "033a9ff87e8b8f21238575d397b3a7d9",
    )))
    .unwrap();
    let p = key.public();
    let msg = b"abc";
    // SHA-1 PKCS#1 v1.5 (verify-only here).
    let sha1 = h(concat!(
        "7360ed31cd023168b2ed4ae9303752ab6c61e2bbfad614397de3b0a028a3b762ad9474c616134e1061ed84e2daa47d5d",
        "1d484b90c7bc32e9677526c2966c0ac6e6489b366f52ff6a8725d18eb319546776bf49726eb91849cdf837c1b46afcc6",
        "a0e30a8630738aa331aed58550f5d103ae2dee929ebdea5252efd6fbf5aea791cca0e7feff98b4f13c8baa48d36be5a5",
        "036f50aa3dbf85c30d6b7d7c7599bc4a74c61933bf3ca47095f0bbcfc4c6d77a86f273f4d00bed69b201d4d9b8b91534",
        "32ba56e6af635e72d12bd199ebb883ad9e08f9e16ae89e4f0844879f70780f614434d909de7b2d66f87f293f77d57f72",
        "fefe2cdbb3724582309455c8822059fc",
    ));
    let s = RsaSignScheme::pkcs1(Algorithm::Sha1);
    p.verify_digest(&s, &hash(Algorithm::Sha1, msg), &sha1).unwrap();
    assert_eq!(p.verify_digest(&s, &hash(Algorithm::Sha1, b"abd"), &sha1), Err(CryptoError::AuthFailed));
    // PSS SHA-256, salt 20.
    let pss = h(concat!(
        "8b793d12aa9ce157a413c8cb2353b1eb77686d2a7f703e9b1bd77b3ed166c5b44f1d5e80f7af975dabe3e8e594dd2bf3",
        "2fdffa130cc441b3277cff638d8e7fa740632ed06b35fa0d55a21cc3ed8f58c807af6fd86acb0f1b3783b11726ec5616",
        "a6915c4096599026a4d67f6ba187f719b409380d9fe26177f49cd86c7759ace7defc0264e432d2d26879bcda2ddf7dce",
        "e4178dcbb6960a6331c6d34e98bcfc375e040d4b7b6d9e3405896dea1ae48c7da28c3b1dbee724675047b829a96d64dc",
        "318868fd6132cba5c4b7bb991a5e63166524b9ce0458eed14b78141187d2a17ae11bfe85bd18a52855a9441bd8ccfd6c",
        "3a259c546e8604a99404c3fab161d4cc",
    ));
    let s = RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 20).unwrap();
    p.verify_digest(&s, &hash(Algorithm::Sha256, msg), &pss).unwrap();
    let s32 = RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 32).unwrap();
    assert_eq!(p.verify_digest(&s32, &hash(Algorithm::Sha256, msg), &pss), Err(CryptoError::AuthFailed));
    // OAEP SHA-256 with label "L".
    let ct = h(concat!(
        "baef22c923e6fa31b8f882cc9452fefac34ef1942256ca1a1811ee72f1eb85056caaa8d8eee268def773f7dc96281d66",
        "cf31df52048daa3063dcaadc6139c46a61152c5307b091c98b4a6007d69bf0cebe8379b3dab179dd52e3e96581227099",
        "de500e3a0beb936f2bcaac65c14114046ab7e767fd9681f3bcb6552e7580da1e0c242ab294dc95e43ea819ab90643a5b",
        "e8ed9e59d61b73978ff8d452240472869be83977f689a704f9534b07c4394381515ea4c4d56a56ea94b4b0428d2a37f9",
        "f6e4f29b38551dd14909ea660ae0f8a74e6c4e5f30433388b1520d1d4737aaedb5105272193ecdf8433998041a8352f9",
        "fd766de6560b12b4bd9415c80cbe232a",
    ));
    let o = Oaep::new(Algorithm::Sha256, Algorithm::Sha256).unwrap();
    let mut pt = [0u8; 256];
    let n = key.decrypt_oaep(&o, b"L", &ct, &mut pt).unwrap();
    assert_eq!(&pt[..n], b"secret");
    assert_eq!(key.decrypt_oaep(&o, b"", &ct, &mut pt), Err(CryptoError::AuthFailed));
}
