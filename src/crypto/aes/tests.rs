//! Unit tests of the AES primitives: the SP 800-38A vectors for ECB, CBC
//! and CTR (one-shot and streamed in every chunking), padding and counter
//! limits, the GCM spec vectors, and key wrap against the RFC vectors and
//! aws-lc-rs.

use super::*;

fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

fn arr16(v: &[u8]) -> [u8; 16] {
    v.try_into().unwrap()
}

const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const K256: &str = "603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4";
fn k256() -> Vec<u8> {
    h(K256)
}
const PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

/// Runs `s` over `input` in chunks of `chunk` bytes, collecting output.
fn stream_blocks(mut s: BlockStream, input: &[u8], chunk: usize) -> CryptoResult<Vec<u8>> {
    let mut out = Vec::new();
    for c in input.chunks(chunk.max(1)) {
        let mut buf = vec![0u8; s.update_len(c.len())];
        let n = s.update(c, &mut buf)?;
        assert_eq!(n, buf.len(), "update_len exact");
        out.extend_from_slice(&buf);
    }
    let mut buf = vec![0u8; s.finish_len()];
    let n = s.finish(&mut buf)?;
    assert_eq!(n, buf.len(), "finish_len exact");
    out.extend_from_slice(&buf);
    Ok(out)
}

fn oneshot_blocks(mut s: BlockStream, input: &[u8]) -> CryptoResult<Vec<u8>> {
    let mut out = vec![0u8; s.oneshot_len(input.len())];
    let n = s.oneshot(input, &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[test]
fn ecb_sp800_38a() {
    let cases = [
        (
            h(K128),
            "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
        ),
        (
            k256(),
            "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
        ),
    ];
    for (k, ct) in cases {
        let key = Prepared::new(&k).unwrap();
        let (pt, ct) = (h(PT), h(ct));
        assert_eq!(oneshot_blocks(BlockStream::ecb(&key, true), &pt).unwrap(), ct);
        assert_eq!(oneshot_blocks(BlockStream::ecb(&key, false), &ct).unwrap(), pt);
        for chunk in [1, 5, 16, 17, 33, 64] {
            assert_eq!(stream_blocks(BlockStream::ecb(&key, true), &pt, chunk).unwrap(), ct);
            assert_eq!(stream_blocks(BlockStream::ecb(&key, false), &ct, chunk).unwrap(), pt);
        }
        assert_eq!(oneshot_blocks(BlockStream::ecb(&key, true), &pt[..15]), Err(CryptoError::InvalidLength));
        assert_eq!(stream_blocks(BlockStream::ecb(&key, true), &pt[..17], 7), Err(CryptoError::InvalidLength));
    }
}

#[test]
fn cbc_sp800_38a() {
    let iv = arr16(&h("000102030405060708090a0b0c0d0e0f"));
    let cases = [
        (
            h(K128),
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        ),
        (
            k256(),
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        ),
    ];
    for (k, ct) in cases {
        let key = Prepared::new(&k).unwrap();
        let (pt, ct) = (h(PT), h(ct));
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, true, false), &pt).unwrap(), ct);
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, false), &ct).unwrap(), pt);
        for chunk in [1, 3, 15, 16, 17, 40, 64] {
            assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, true, false), &pt, chunk).unwrap(), ct);
            assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, false), &ct, chunk).unwrap(), pt);
        }
    }
}

#[test]
fn cbc_pad_roundtrip_and_bad_padding() {
    let key = Prepared::new(&h(K128)).unwrap();
    let iv = [7u8; 16];
    let data: Vec<u8> = (0..100u8).collect();
    for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 64, 100] {
        let pt = &data[..len];
        let ct = oneshot_blocks(BlockStream::cbc(&key, iv, true, true), pt).unwrap();
        assert_eq!(ct.len(), (len / 16 + 1) * 16);
        // No-padding CBC over the padded text gives the same ciphertext.
        let mut padded = pt.to_vec();
        let p = 16 - len % 16;
        padded.extend(std::iter::repeat_n(p as u8, p));
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, true, false), &padded).unwrap(), ct);
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &ct).unwrap(), pt);
        for chunk in [1, 7, 16, 20, 48] {
            assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, true, true), pt, chunk).unwrap(), ct);
            assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, true), &ct, chunk).unwrap(), pt);
        }
    }
    // A final block that decrypts to bad padding.
    let mut bad = vec![0u8; 32];
    bad[31] = 17;
    let ct = oneshot_blocks(BlockStream::cbc(&key, iv, true, false), &bad).unwrap();
    assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &ct), Err(CryptoError::AuthFailed));
    assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, true), &ct, 5), Err(CryptoError::AuthFailed));
    assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &ct[..31]), Err(CryptoError::InvalidLength));
    assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &[]), Err(CryptoError::InvalidLength));
    assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, true), &[], 5), Err(CryptoError::InvalidLength));
}

fn stream_ctr(key: &Prepared, cb: [u8; 16], bits: u32, input: &[u8], chunk: usize) -> CryptoResult<Vec<u8>> {
    let mut s = CtrStream::new(key, cb, bits)?;
    let mut out = vec![0u8; input.len()];
    let mut off = 0;
    for c in input.chunks(chunk.max(1)) {
        off += s.apply(c, &mut out[off..])?;
    }
    Ok(out)
}

#[test]
fn ctr_sp800_38a() {
    let cb = arr16(&h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
    let cases = [
        (
            h(K128),
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        ),
        (
            k256(),
            "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
        ),
    ];
    for (k, ct) in cases {
        let key = Prepared::new(&k).unwrap();
        let (pt, ct) = (h(PT), h(ct));
        for chunk in [1, 5, 16, 17, 30, 64] {
            assert_eq!(stream_ctr(&key, cb, 128, &pt, chunk).unwrap(), ct);
            assert_eq!(stream_ctr(&key, cb, 128, &ct, chunk).unwrap(), pt);
            // The counter's low 32 bits (0xfcfdfeff) have room for 4 blocks.
            assert_eq!(stream_ctr(&key, cb, 32, &pt, chunk).unwrap(), ct);
        }
        assert_eq!(stream_ctr(&key, cb, 128, &pt[..50], 7).unwrap(), ct[..50]);
    }
}

#[test]
fn ctr_counter_width() {
    let key = Prepared::new(&h(K128)).unwrap();
    // 2-bit counter at value 1: three blocks (1, 2, 3) are allowed.
    let mut cb = [0x55u8; 16];
    cb[15] = 0x55 & !3 | 1;
    let data = [0u8; 64];
    assert!(stream_ctr(&key, cb, 2, &data[..48], 48).is_ok());
    assert!(stream_ctr(&key, cb, 2, &data[..33], 5).is_ok());
    assert_eq!(stream_ctr(&key, cb, 2, &data[..49], 49), Err(CryptoError::InvalidLength));
    let mut s = CtrStream::new(&key, cb, 2).unwrap();
    let mut out = [0u8; 64];
    s.apply(&data[..40], &mut out).unwrap();
    s.apply(&data[..8], &mut out).unwrap(); // uses the buffered keystream
    assert_eq!(s.apply(&data[..1], &mut out), Err(CryptoError::InvalidLength));
    // A keystream that stays within the low bits equals the 128-bit one.
    let ks = stream_ctr(&key, cb, 2, &data[..48], 16).unwrap();
    assert_eq!(ks, stream_ctr(&key, cb, 128, &data[..48], 48).unwrap());
    // Full-width counter at its maximum: exactly one block.
    let max = [0xffu8; 16];
    assert!(stream_ctr(&key, max, 128, &data[..16], 16).is_ok());
    assert_eq!(stream_ctr(&key, max, 128, &data[..17], 17), Err(CryptoError::InvalidLength));
    assert!(CtrStream::new(&key, max, 0).is_err());
    assert!(CtrStream::new(&key, max, 129).is_err());
}

#[test]
fn gcm_vectors() {
    // McGrew & Viega, GCM spec test case 4 (AES-128) and 16 (AES-256).
    let pt = h(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let iv = h("cafebabefacedbaddecaf888");
    let cases = [
        (
            h("feffe9928665731c6d6a8f9467308308"),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
        (
            // Test case 10 (AES-192).
            h("feffe9928665731c6d6a8f9467308308feffe9928665731c"),
            "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
            "2519498e80f1478f37ba55bd6d27618c",
        ),
    ];
    for (k, ct, tag) in cases {
        let key = Prepared::new(&k).unwrap();
        let (ct, tag) = (h(ct), h(tag));
        for tl in 12..=16 {
            let mut buf = pt.clone();
            let mut t = vec![0u8; tl];
            key.gcm_seal(&iv, &aad, &mut buf, &mut t).unwrap();
            assert_eq!(buf, ct);
            assert_eq!(t, tag[..tl]);
            key.gcm_open(&iv, &aad, &mut buf, &t).unwrap();
            assert_eq!(buf, pt);
            // Any flipped bit fails and leaves no plaintext behind.
            let mut bad_t = t.clone();
            bad_t[tl - 1] ^= 1;
            let mut buf = ct.clone();
            assert_eq!(key.gcm_open(&iv, &aad, &mut buf, &bad_t), Err(CryptoError::AuthFailed));
            assert!(buf.iter().all(|&b| b == 0));
            let mut buf = ct.clone();
            buf[3] ^= 0x80;
            assert_eq!(key.gcm_open(&iv, &aad, &mut buf, &t), Err(CryptoError::AuthFailed));
            let mut buf = ct.clone();
            assert_eq!(key.gcm_open(&iv, &aad[1..], &mut buf, &t), Err(CryptoError::AuthFailed));
        }
    }
    let key = Prepared::new(&h(K128)).unwrap();
    let mut t = [0u8; 11];
    assert_eq!(key.gcm_seal(&iv, &aad, &mut [], &mut t), Err(CryptoError::InvalidParam));
    // IVs other than 96 bits take the EVP path: a round trip, and the
    // IV matters; an empty IV is refused.
    let mut t = [0u8; 16];
    let mut data = *b"sixty-four bit iv";
    key.gcm_seal(&iv[..8], &aad, &mut data, &mut t).unwrap();
    let mut back = data;
    key.gcm_open(&iv[..8], &aad, &mut back, &t).unwrap();
    assert_eq!(&back, b"sixty-four bit iv");
    let mut other = data;
    assert_eq!(key.gcm_open(&iv[..7], &aad, &mut other, &t), Err(CryptoError::AuthFailed));
    assert_eq!(other, [0u8; 17], "no unauthenticated plaintext left behind");
    assert_eq!(key.gcm_seal(&[], &aad, &mut [], &mut t), Err(CryptoError::InvalidParam));
    // Empty plaintext with a truncated tag.
    let mut t = [0u8; 12];
    key.gcm_seal(&iv, &aad, &mut [], &mut t).unwrap();
    key.gcm_open(&iv, &aad, &mut [], &t).unwrap();
}

#[test]
fn kw_rfc3394() {
    let kek = h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let cases = [
        // §4.1: 128-bit KEK, 128-bit key data.
        (16, "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"),
        // §4.2: 192-bit KEK, 128-bit key data.
        (24, "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"),
        // §4.4: 192-bit KEK, 192-bit key data.
        (
            24,
            "00112233445566778899AABBCCDDEEFF0001020304050607",
            "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
        ),
        // §4.6: 256-bit KEK, 256-bit key data.
        (
            32,
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
            "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
        ),
    ];
    for (kl, data, wrapped) in cases {
        let key = Prepared::new(&kek[..kl]).unwrap();
        let (data, wrapped) = (h(data), h(wrapped));
        assert_eq!(key.kw_wrap(&data).unwrap(), wrapped);
        assert_eq!(&key.kw_unwrap(&wrapped).unwrap()[..], &data[..]);
        let mut bad = wrapped.clone();
        bad[9] ^= 1;
        assert_eq!(key.kw_unwrap(&bad).map(|_| ()), Err(CryptoError::AuthFailed));
    }
    let key = Prepared::new(&kek[..16]).unwrap();
    assert_eq!(key.kw_wrap(&[0u8; 8]), Err(CryptoError::InvalidLength));
    assert_eq!(key.kw_wrap(&[0u8; 20]), Err(CryptoError::InvalidLength));
    assert_eq!(key.kw_unwrap(&[0u8; 16]).map(|_| ()), Err(CryptoError::InvalidLength));
}

#[test]
fn kwp_rfc5649() {
    let key = Prepared::new(&h("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8")).unwrap();
    let cases = [
        (
            "c37b7e6492584340 bed1220780894115 5068f738",
            "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"),
    ];
    for (data, wrapped) in cases {
        let (data, wrapped) = (h(data), h(wrapped));
        assert_eq!(key.kwp_wrap(&data).unwrap(), wrapped);
        assert_eq!(&key.kwp_unwrap(&wrapped).unwrap()[..], &data[..]);
        let mut bad = wrapped.clone();
        bad[0] ^= 1;
        assert_eq!(key.kwp_unwrap(&bad).map(|_| ()), Err(CryptoError::AuthFailed));
    }
    assert_eq!(key.kwp_wrap(&[]), Err(CryptoError::InvalidLength));
    assert_eq!(key.kwp_unwrap(&[0u8; 8]).map(|_| ()), Err(CryptoError::InvalidLength));
}

/// Our KW/KWP agree with aws-lc-rs's for the KEK sizes it supports.
#[test]
fn kw_matches_aws_lc() {
    use aws_lc_rs::key_wrap::{AES_128, AES_256, AesKek, KeyWrap, KeyWrapPadded};
    for (alg, kl) in [(&AES_128, 16usize), (&AES_256, 32)] {
        let kek: Vec<u8> = (0..kl as u8).map(|i| i.wrapping_mul(37)).collect();
        let key = Prepared::new(&kek).unwrap();
        for len in [1usize, 7, 8, 9, 16, 24, 31, 32, 64, 100] {
            let data: Vec<u8> = (0..len as u8).map(|i| i ^ 0x5a).collect();
            let mut out = vec![0u8; len + 16];
            let theirs = AesKek::new(alg, &kek).unwrap().wrap_with_padding(&data, &mut out).unwrap().to_vec();
            assert_eq!(key.kwp_wrap(&data).unwrap(), theirs);
            if len >= 16 && len % 8 == 0 {
                let theirs = AesKek::new(alg, &kek).unwrap().wrap(&data, &mut out).unwrap().to_vec();
                assert_eq!(key.kw_wrap(&data).unwrap(), theirs);
            }
        }
    }
}
