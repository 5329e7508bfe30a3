//! Round trips of every `store::wrap` format, and that each one moved to
//! another binding, opened with another key, or changed in any byte fails.

use super::*;
use crate::store::seal::MasterKey;

const SERIAL: &str = "0123456789abcdef";
const KEY_ID: &[u8] = b"5f0c2a7e9b1d4c3a8e6f0b2d4a6c8e0f";
const CKO_SECRET_KEY: u64 = 4;
const CKK_AES: u64 = 0x1f;
const CKA_VALUE: u64 = 0x11;

fn is_device(r: Result<impl Sized>, reason: &str) -> bool {
    matches!(r, Err(e) if e.rv() == CKR_DEVICE_ERROR && e.reason() == reason)
}

const ATTR_FAIL: &str = "sealed attribute failed authentication";
const WRAP_FAIL: &str = "data key wrap failed authentication";
const SECRET_FAIL: &str = "principal secret failed authentication";

#[test]
fn dek_attr_round_trip_and_bindings() {
    let dek = Dek::generate().unwrap();
    let s = dek.seal_attr(KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, b"key bytes").unwrap();
    assert_eq!(s[0], ATTR_FORMAT);
    assert_eq!(s.len(), 1 + NONCE_LEN + 9 + TAG_LEN);
    let open = |d: &Dek, k: &[u8], u: &str, t: u64, c: u64, kt: u64, s: &[u8]| d.open_attr(k, u, t, c, kt, s);
    assert_eq!(&open(&dek, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &s).unwrap()[..], b"key bytes");
    assert_ne!(dek.seal_attr(KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, b"key bytes").unwrap(), s);
    // Moved to another key id, uid, attribute type, class or key type.
    assert!(is_device(open(&dek, b"other key id", "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &s), ATTR_FAIL));
    assert!(is_device(open(&dek, KEY_ID, "uid-2", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &s), ATTR_FAIL));
    assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE + 1, CKO_SECRET_KEY, CKK_AES, &s), ATTR_FAIL));
    assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE, 3, CKK_AES, &s), ATTR_FAIL));
    assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, 0, &s), ATTR_FAIL));
    // Length prefixes: a byte moved from the key id to the uid.
    let (k, u) = KEY_ID.split_at(KEY_ID.len() - 1);
    let moved = format!("{}uid-1", char::from(u[0]));
    assert!(is_device(open(&dek, k, &moved, CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &s), ATTR_FAIL));
    // Another DEK; every flipped bit; every truncation.
    let other = Dek::generate().unwrap();
    assert!(is_device(open(&other, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &s), ATTR_FAIL));
    for i in 0..s.len() {
        let mut t = s.clone();
        t[i] ^= 0x01;
        assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &t), ATTR_FAIL), "bit {i}");
    }
    for n in 0..s.len() {
        assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &s[..n]), ATTR_FAIL));
    }
    // A master-key (0x01) seal under the same bytes is not a DEK seal.
    let mut as_v1 = s.clone();
    as_v1[0] = 0x01;
    assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &as_v1), ATTR_FAIL));
    let m = MasterKey::generate().unwrap();
    let v1 = m.seal("uid-1", CKA_VALUE, b"key bytes").unwrap();
    assert!(is_device(open(&dek, KEY_ID, "uid-1", CKA_VALUE, CKO_SECRET_KEY, CKK_AES, &v1), ATTR_FAIL));
    assert!(m.unseal("uid-1", CKA_VALUE, &s).is_err());
    // Empty plaintext.
    let e = dek.seal_attr(KEY_ID, "u", 0, 0, 0, b"").unwrap();
    assert!(dek.open_attr(KEY_ID, "u", 0, 0, 0, &e).unwrap().is_empty());
    assert_eq!(format!("{dek:?}"), "Dek(..)");
}

#[test]
fn dek_row_key_is_per_dek_and_not_the_master_row_keys() {
    let dek = Dek::generate().unwrap();
    let r = dek.row_key().unwrap();
    assert_eq!(r.bytes(), dek.row_key().unwrap().bytes(), "deterministic");
    assert_ne!(r.bytes(), &dek.0[..], "not the DEK itself");
    assert_ne!(r.bytes(), Dek::generate().unwrap().row_key().unwrap().bytes());
    let mac = r.mac(7, "uid-7", b"pub", b"sec");
    assert!(r.verify(7, "uid-7", b"pub", b"sec", &mac));
    assert!(!Dek::generate().unwrap().row_key().unwrap().verify(7, "uid-7", b"pub", b"sec", &mac));
    // Same 32 bytes as a master key: the row keys still differ (info).
    let m = MasterKey::generate().unwrap();
    let keys = m.row_keys().unwrap();
    assert_ne!(keys.secret.bytes(), r.bytes());
    assert_ne!(keys.public.bytes(), r.bytes());
}

#[test]
fn grant_wrap_round_trip_and_bindings() {
    let dek = Dek::generate().unwrap();
    let b = okp::generate(Okp::X25519).unwrap();
    let w = wrap_dek(&dek, b.public().bytes(), SERIAL, KEY_ID, 5).unwrap();
    assert_eq!(w.len(), GRANT_WRAP_LEN);
    assert_eq!(w[0], GRANT_FORMAT);
    let got = unwrap_dek(&w, &b.secret(), SERIAL, KEY_ID, 5).unwrap();
    assert_eq!(got.0[..], dek.0[..]);
    assert_ne!(wrap_dek(&dek, b.public().bytes(), SERIAL, KEY_ID, 5).unwrap(), w, "fresh ephemeral key");
    // Moved to another principal, key or token; opened by another principal.
    assert!(is_device(unwrap_dek(&w, &b.secret(), SERIAL, KEY_ID, 6), WRAP_FAIL));
    assert!(is_device(unwrap_dek(&w, &b.secret(), SERIAL, b"another key", 5), WRAP_FAIL));
    assert!(is_device(unwrap_dek(&w, &b.secret(), "fedcba9876543210", KEY_ID, 5), WRAP_FAIL));
    let c = okp::generate(Okp::X25519).unwrap();
    assert!(is_device(unwrap_dek(&w, &c.secret(), SERIAL, KEY_ID, 5), WRAP_FAIL));
    // Length prefixes: a byte moved from the serial into the key id.
    let mut kid = vec![b'f'];
    kid.extend_from_slice(KEY_ID);
    assert!(is_device(unwrap_dek(&w, &b.secret(), &SERIAL[..15], &kid, 5), WRAP_FAIL));
    for i in 0..w.len() {
        let mut t = w.clone();
        t[i] ^= 0x10;
        assert!(is_device(unwrap_dek(&t, &b.secret(), SERIAL, KEY_ID, 5), WRAP_FAIL), "bit {i}");
    }
    for n in 0..w.len() {
        assert!(is_device(unwrap_dek(&w[..n], &b.secret(), SERIAL, KEY_ID, 5), WRAP_FAIL));
    }
    let mut long = w.clone();
    long.push(0);
    assert!(is_device(unwrap_dek(&long, &b.secret(), SERIAL, KEY_ID, 5), WRAP_FAIL));
    // A wrap to a small-order point or a short key is refused.
    assert!(wrap_dek(&dek, &[0u8; 32], SERIAL, KEY_ID, 5).is_err());
    assert!(wrap_dek(&dek, &[9u8; 31], SERIAL, KEY_ID, 5).is_err());
    assert!(is_device(unwrap_dek(&w, &b.secret()[..31], SERIAL, KEY_ID, 5), WRAP_FAIL));
}

fn sample_secret(totp: bool) -> PrincipalSecret {
    let authority = *okp::generate(Okp::Ed25519).unwrap().public().bytes().first_chunk::<32>().unwrap();
    let row = MasterKey::generate().unwrap().row_keys().unwrap().public;
    let t = totp.then(|| crate::crypto::totp::generate_secret().unwrap());
    PrincipalSecret::generate(authority, row, t).unwrap()
}

fn same(a: &PrincipalSecret, b: &PrincipalSecret) -> bool {
    a.x25519[..] == b.x25519[..]
        && a.ed25519_seed[..] == b.ed25519_seed[..]
        && a.authority == b.authority
        && a.public_row_key.bytes() == b.public_row_key.bytes()
        && a.totp.as_ref().map(|t| t.to_vec()) == b.totp.as_ref().map(|t| t.to_vec())
}

#[test]
fn principal_secret_codec() {
    for totp in [false, true] {
        let p = sample_secret(totp);
        let enc = p.encode();
        let back = PrincipalSecret::decode(&enc).unwrap();
        assert!(same(&p, &back));
        assert_eq!(p.x25519_key().unwrap().public().bytes(), back.x25519_key().unwrap().public().bytes());
        assert_eq!(p.ed25519_key().unwrap().alg(), Okp::Ed25519);
        // Truncations and any field of the wrong length are corrupt.
        for n in 0..enc.len() {
            assert!(is_device(PrincipalSecret::decode(&enc[..n]), "corrupt principal secret"));
        }
    }
    let p = sample_secret(true);
    let x = p.x25519.to_vec();
    let short = encode_attrs([(T_X25519, &x[..31]), (T_ED25519, &x[..]), (T_AUTHORITY, &x[..]), (T_ROW_KEY, &x[..])]);
    assert!(is_device(PrincipalSecret::decode(&short), "corrupt principal secret"));
    let swapped = encode_attrs([(T_ED25519, &x[..]), (T_X25519, &x[..]), (T_AUTHORITY, &x[..]), (T_ROW_KEY, &x[..])]);
    assert!(is_device(PrincipalSecret::decode(&swapped), "corrupt principal secret"));
    let extra = encode_attrs([
        (T_X25519, &x[..]),
        (T_ED25519, &x[..]),
        (T_AUTHORITY, &x[..]),
        (T_ROW_KEY, &x[..]),
        (T_TOTP, &x[..20]),
        (6, &x[..1]),
    ]);
    assert!(is_device(PrincipalSecret::decode(&extra), "corrupt principal secret"));
    let missing = encode_attrs([(T_X25519, &x[..]), (T_ED25519, &x[..]), (T_AUTHORITY, &x[..])]);
    assert!(is_device(PrincipalSecret::decode(&missing), "corrupt principal secret"));
    assert_eq!(format!("{p:?}"), "PrincipalSecret(..)");
}

#[test]
fn principal_secret_seal_round_trip_and_bindings() {
    let p = sample_secret(true);
    let kek = crate::store::seal::Kek::derive(b"pin", b"salt", 1000).unwrap();
    let key = kek.subkey(b"keyward principal secret v1").unwrap();
    let s = p.seal(&key, SERIAL, 7, "alice").unwrap();
    assert_eq!(s[0], PRINCIPAL_FORMAT);
    assert!(same(&p, &PrincipalSecret::open(&s, &key, SERIAL, 7, "alice").unwrap()));
    // Another principal id, name or token; another key (wrong PIN).
    assert!(is_device(PrincipalSecret::open(&s, &key, SERIAL, 8, "alice"), SECRET_FAIL));
    assert!(is_device(PrincipalSecret::open(&s, &key, SERIAL, 7, "alicf"), SECRET_FAIL));
    assert!(is_device(PrincipalSecret::open(&s, &key, "fedcba9876543210", 7, "alice"), SECRET_FAIL));
    let wrong = crate::store::seal::Kek::derive(b"pim", b"salt", 1000).unwrap().subkey(b"keyward principal secret v1");
    assert!(is_device(PrincipalSecret::open(&s, &wrong.unwrap(), SERIAL, 7, "alice"), SECRET_FAIL));
    assert!(is_device(PrincipalSecret::open(&s, &kek.subkey(b"other").unwrap(), SERIAL, 7, "alice"), SECRET_FAIL));
    for i in 0..s.len() {
        let mut t = s.clone();
        t[i] ^= 0x02;
        assert!(is_device(PrincipalSecret::open(&t, &key, SERIAL, 7, "alice"), SECRET_FAIL), "bit {i}");
    }
    assert!(is_device(PrincipalSecret::open(&s[..s.len() - 1], &key, SERIAL, 7, "alice"), SECRET_FAIL));
    // A DEK attribute seal under the same key bytes is not a principal secret.
    let as_dek = Dek(key.clone());
    let a = as_dek.seal_attr(b"", "", 0, 0, 0, &p.encode()).unwrap();
    assert!(is_device(PrincipalSecret::open(&a, &key, SERIAL, 7, "alice"), SECRET_FAIL));
}

fn sample_record() -> PrincipalRecord {
    PrincipalRecord {
        id: 7,
        name: "alice".into(),
        roles: 0b011,
        flags: 1,
        x25519: [1; 32],
        ed25519: [2; 32],
        serial: SERIAL.into(),
        os_users: vec!["alice".into(), "svc-app".into()],
        os_groups: vec!["hsm".into()],
    }
}

#[test]
fn record_payload_round_trip_and_fields() {
    let r = sample_record();
    let p = r.payload();
    assert!(p.starts_with(b"keyward-principal-record-v1"));
    assert_eq!(PrincipalRecord::from_payload(&p).unwrap(), r);
    let empty = PrincipalRecord { os_users: vec![], os_groups: vec![], ..r.clone() };
    assert_eq!(PrincipalRecord::from_payload(&empty.payload()).unwrap(), empty);
    // Every field changes the payload, and the list boundary is encoded.
    let variants = [
        PrincipalRecord { id: 8, ..r.clone() },
        PrincipalRecord { name: "alicf".into(), ..r.clone() },
        PrincipalRecord { roles: 0b111, ..r.clone() },
        PrincipalRecord { flags: 3, ..r.clone() },
        PrincipalRecord { x25519: [3; 32], ..r.clone() },
        PrincipalRecord { ed25519: [3; 32], ..r.clone() },
        PrincipalRecord { serial: "fedcba9876543210".into(), ..r.clone() },
        PrincipalRecord { os_users: vec!["alice".into()], ..r.clone() },
        PrincipalRecord {
            os_users: vec!["alice".into(), "svc-app".into(), "hsm".into()],
            os_groups: vec![],
            ..r.clone()
        },
    ];
    for v in &variants {
        assert_ne!(v.payload(), p, "{v:?}");
    }
    for n in 0..p.len() {
        assert!(is_device(PrincipalRecord::from_payload(&p[..n]), "corrupt principal record"));
    }
    let mut long = p.clone();
    long.push(0);
    assert!(is_device(PrincipalRecord::from_payload(&long), "corrupt principal record"));
    let g = grant_payload(SERIAL, KEY_ID, 7, 3, b"wrap", 1);
    assert!(is_device(PrincipalRecord::from_payload(&g), "corrupt principal record"));
}

#[test]
fn grant_payload_binds_every_field() {
    let g = grant_payload(SERIAL, KEY_ID, 7, 3, b"wrap", 1);
    assert!(g.starts_with(b"keyward-grant-v1"));
    assert_eq!(g.len(), 16 + 4 + 16 + 4 + KEY_ID.len() + 4 + 4 + 32 + 4);
    for other in [
        grant_payload("fedcba9876543210", KEY_ID, 7, 3, b"wrap", 1),
        grant_payload(SERIAL, b"other", 7, 3, b"wrap", 1),
        grant_payload(SERIAL, KEY_ID, 8, 3, b"wrap", 1),
        grant_payload(SERIAL, KEY_ID, 7, 1, b"wrap", 1),
        grant_payload(SERIAL, KEY_ID, 7, 3, b"wrap!", 1),
        grant_payload(SERIAL, KEY_ID, 7, 3, b"wrap", 0),
        grant_payload(&SERIAL[..15], &[b"f", KEY_ID].concat(), 7, 3, b"wrap", 1),
    ] {
        assert_ne!(other, g);
    }
}

#[test]
fn signatures_over_payloads() {
    let authority = okp::generate(Okp::Ed25519).unwrap();
    let r = sample_record();
    let sig = sign(&authority, &r.payload()).unwrap();
    verify(authority.public().bytes(), &r.payload(), &sig).unwrap();
    let fail = "signature failed verification";
    let edited = PrincipalRecord { roles: 0b111, ..r.clone() };
    assert!(is_device(verify(authority.public().bytes(), &edited.payload(), &sig), fail));
    let other = okp::generate(Okp::Ed25519).unwrap();
    assert!(is_device(verify(other.public().bytes(), &r.payload(), &sig), fail));
    assert!(is_device(verify(authority.public().bytes(), &r.payload(), &sig[..63]), fail));
    assert!(is_device(verify(&[0u8; 31], &r.payload(), &sig), fail));
    let mut bad = sig;
    bad[10] ^= 1;
    assert!(is_device(verify(authority.public().bytes(), &r.payload(), &bad), fail));
    // A grant signature is not a record signature, and X25519 keys do not sign.
    let g = grant_payload(SERIAL, KEY_ID, 7, 3, b"wrap", 1);
    let gs = sign(&authority, &g).unwrap();
    verify(authority.public().bytes(), &g, &gs).unwrap();
    assert!(is_device(verify(authority.public().bytes(), &r.payload(), &gs), fail));
    assert!(sign(&okp::generate(Okp::X25519).unwrap(), &g).is_err());
    // The keys of a principal secret sign and wrap end to end.
    let p = sample_secret(false);
    let me = PrincipalRecord {
        x25519: *p.x25519_key().unwrap().public().bytes().first_chunk::<32>().unwrap(),
        ed25519: *p.ed25519_key().unwrap().public().bytes().first_chunk::<32>().unwrap(),
        ..r
    };
    let dek = Dek::generate().unwrap();
    let w = wrap_dek(&dek, &me.x25519, SERIAL, KEY_ID, me.id).unwrap();
    let gp = grant_payload(SERIAL, KEY_ID, me.id, 3, &w, me.id);
    let s = sign(&p.ed25519_key().unwrap(), &gp).unwrap();
    verify(&me.ed25519, &gp, &s).unwrap();
    assert_eq!(unwrap_dek(&w, &p.x25519[..], SERIAL, KEY_ID, me.id).unwrap().0[..], dek.0[..]);
}
