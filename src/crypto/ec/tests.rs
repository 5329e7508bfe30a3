//! Unit tests of `crypto::ec`: curves, keys, ECDSA and ECDH against
//! published vectors.

use super::*;

const CURVES: [Curve; 5] = [Curve::P224, Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];

#[test]
fn range_check() {
    let n = Curve::P256.order();
    assert!(!scalar_in_range(&[0u8; 32], n));
    assert!(!scalar_in_range(n, n));
    let mut nm1 = n.to_vec();
    nm1[31] -= 1;
    assert!(scalar_in_range(&nm1, n));
    let mut one = [0u8; 32];
    one[31] = 1;
    assert!(scalar_in_range(&one, n));
    assert!(!scalar_in_range(&[0xff; 32], n));
}

#[test]
fn sign_verify_all_curves_and_hash_lengths() {
    for c in CURVES {
        let k = generate(c).unwrap();
        assert_eq!(k.scalar().len(), c.field_len());
        assert_eq!(k.public_point().len(), c.point_len());
        for len in [0usize, 1, 20, 28, 32, 48, 64, 100] {
            let h: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
            let mut sig = [0u8; 132];
            let n = k.sign_prehash(&h, &mut sig).unwrap();
            assert_eq!(n, c.signature_len());
            k.public().verify_prehash(&h, &sig[..n]).unwrap();
            let mut bad = sig;
            bad[3] ^= 1;
            assert_eq!(k.public().verify_prehash(&h, &bad[..n]), Err(CryptoError::AuthFailed));
            assert_eq!(k.public().verify_prehash(&h, &sig[..n - 1]), Err(CryptoError::InvalidLength));
        }
        // Truncation: a longer hash equals its field_len prefix; a
        // shorter one equals itself left-padded with zeros.
        let long = [0xabu8; 100];
        let mut sig = [0u8; 132];
        let n = k.sign_prehash(&long, &mut sig).unwrap();
        k.public().verify_prehash(&long[..c.field_len()], &sig[..n]).unwrap();
        assert!(k.public().verify_prehash(&long[..c.field_len() - 1], &sig[..n]).is_err());
        let short = [0x11u8; 20];
        let n = k.sign_prehash(&short, &mut sig).unwrap();
        // (Up to 64 bytes: a 66-byte P-521 hash is cut to 521 bits.)
        let mut padded = vec![0u8; c.field_len().min(64) - 20];
        padded.extend_from_slice(&short);
        k.public().verify_prehash(&padded, &sig[..n]).unwrap();
    }
}

#[test]
fn secp256k1_cross_checked_with_k256() {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let k = generate(Curve::Secp256k1).unwrap();
    let h = [0x42u8; 32];
    let mut sig = [0u8; 64];
    k.sign_prehash(&h, &mut sig).unwrap();
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(k.public_point()).unwrap();
    let s = k256::ecdsa::Signature::from_slice(&sig).unwrap();
    // k256 refuses high-S signatures; aws-lc-rs does not normalize.
    let s = s.normalize_s();
    vk.verify_prehash(&h, &s).unwrap();
    // And the other way round.
    let sk = k256::ecdsa::SigningKey::from_slice(&k.scalar()).unwrap();
    let (s2, _) = sk.sign_prehash_recoverable(&h);
    k.public().verify_prehash(&h, &s2.to_bytes()).unwrap();
}

#[test]
fn import_scalar_and_point() {
    for c in CURVES {
        let k = generate(c).unwrap();
        let k2 = EcPrivate::from_scalar(c, &k.scalar()).unwrap();
        assert_eq!(k2.public_point(), k.public_point());
        // Leading zeros tolerated both ways.
        let mut padded = vec![0u8; 3];
        padded.extend_from_slice(&k.scalar());
        assert_eq!(EcPrivate::from_scalar(c, &padded).unwrap().public_point(), k.public_point());
        // 0, n, n+1 and too long refused.
        assert_eq!(EcPrivate::from_scalar(c, &[0]).err(), Some(CryptoError::InvalidKey));
        assert_eq!(EcPrivate::from_scalar(c, &[]).err(), Some(CryptoError::InvalidKey));
        assert_eq!(EcPrivate::from_scalar(c, c.order()).err(), Some(CryptoError::InvalidKey));
        assert_eq!(EcPrivate::from_scalar(c, &vec![0xff; c.field_len()]).err(), Some(CryptoError::InvalidKey));
        assert_eq!(EcPrivate::from_scalar(c, &vec![1; c.field_len() + 1]).err(), Some(CryptoError::InvalidKey));
        // n-1 accepted.
        let mut nm1 = c.order().to_vec();
        *nm1.last_mut().unwrap() -= 1;
        EcPrivate::from_scalar(c, &nm1).unwrap();
        // Scalar 1: public point is the generator.
        let one = EcPrivate::from_scalar(c, &[1]).unwrap();
        assert_eq!(one.public_point()[0], 4);

        // Public point: good accepted, off-curve refused.
        let p = EcPublic::from_point(c, k.public_point()).unwrap();
        assert_eq!(p.point(), k.public_point());
        let mut off = k.public_point().to_vec();
        let last = off.len() - 1;
        off[last] ^= 1;
        assert_eq!(EcPublic::from_point(c, &off).err(), Some(CryptoError::InvalidKey));
        assert_eq!(EcPublic::from_point(c, &[4]).err(), Some(CryptoError::InvalidKey));
        assert_eq!(EcPublic::from_point(c, &[0]).err(), Some(CryptoError::InvalidKey));
        // Wrong curve's point refused.
        let other = if c == Curve::P384 { Curve::P256 } else { Curve::P384 };
        assert!(EcPublic::from_point(other, k.public_point()).is_err());
    }
}

#[test]
fn compressed_points() {
    for c in CURVES {
        let k = generate(c).unwrap();
        let p = k.public_point();
        let fl = c.field_len();
        let mut comp = vec![2 | (p[2 * fl] & 1)];
        comp.extend_from_slice(&p[1..1 + fl]);
        assert_eq!(EcPublic::from_point(c, &comp).unwrap().point(), p, "{c:?}");
        assert_eq!(k.ecdh(&comp).unwrap(), k.ecdh(p).unwrap());
        comp[0] ^= 1; // the other y: a valid point, but a different one
        assert_ne!(EcPublic::from_point(c, &comp).unwrap().point(), p);
    }
}

#[test]
fn ecdh_agrees() {
    for c in CURVES {
        let a = generate(c).unwrap();
        let b = generate(c).unwrap();
        let s1 = a.ecdh(b.public_point()).unwrap();
        let s2 = b.ecdh(a.public_point()).unwrap();
        assert_eq!(s1, s2);
        assert_eq!(s1.len(), c.field_len());
        let mut off = b.public_point().to_vec();
        off[5] ^= 1;
        assert_eq!(a.ecdh(&off).err(), Some(CryptoError::InvalidKey));
        assert!(a.ecdh(&[4, 1, 2]).is_err());
    }
}

#[test]
fn pkcs8_and_spki_round_trip() {
    for c in CURVES {
        let k = generate(c).unwrap();
        let der = k.to_pkcs8_der().unwrap();
        let k2 = EcPrivate::from_pkcs8_der(&der).unwrap();
        assert_eq!(k2.scalar(), k.scalar());
        assert_eq!(k2.curve(), c);
        let spki = k.public().to_spki_der().unwrap();
        assert_eq!(EcPublic::from_spki_der(&spki).unwrap().point(), k.public_point());
    }
    // aws-lc-rs's own PKCS#8 (P-256) reads back.
    let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let doc = pair.to_pkcs8v1().unwrap();
    let k = EcPrivate::from_pkcs8_der(doc.as_ref()).unwrap();
    assert_eq!(k.public_point(), pair.public_key().as_ref());
    // Mismatched public key refused.
    let a = generate(Curve::P256).unwrap();
    let b = generate(Curve::P256).unwrap();
    let bad = der::ec_pkcs8(Curve::P256, &a.scalar(), b.public_point()).unwrap();
    assert_eq!(EcPrivate::from_pkcs8_der(&bad).err(), Some(CryptoError::InvalidKey));
}

#[test]
fn prehash_buffer() {
    let mut b = PrehashBuffer::default();
    b.update(&[1; 10]);
    b.update(&[2; 50]);
    assert_eq!(b.total_len(), 60);
    assert_eq!(b.effective(Curve::P256).len(), 32);
    assert_eq!(b.effective(Curve::P384).len(), 48);
    assert_eq!(&b.effective(Curve::P256)[..11], &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
    let mut s = PrehashBuffer::default();
    s.update(&[7; 20]);
    assert_eq!(s.effective(Curve::P384), &[7; 20]);
}

/// The two P-521 engines agree: aws-lc-rs signatures (hash <= 64 bytes)
/// verify on AWS-LC's EC_KEY path and the other way round.
#[test]
fn p521_engines_agree() {
    let k = generate(Curve::P521).unwrap();
    let h = [0x5au8; 64];
    let mut sig = [0u8; 132];
    let n = k.sign_prehash(&h, &mut sig).unwrap();
    ffi::ec_verify(ffi::P521, k.public_point(), &h, &sig[..n]).unwrap();
    let s2 = ffi::ec_sign(ffi::P521, &k.scalar(), &h).unwrap();
    k.public().verify_prehash(&h, &s2).unwrap();
}
