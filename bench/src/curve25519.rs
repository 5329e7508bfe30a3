//! Curve25519 rows: Ed25519 sign and verify (CKM_EDDSA, pure, over a
//! 32-byte message) and X25519 derive (CKM_ECDH1_DERIVE, CKD_NULL, a
//! 32-byte generic secret session object destroyed after each run), on
//! keyward, SoftHSMv2 (2.6 has CKM_EDDSA; a token that lacks a mechanism
//! reports n/a) and the raw engine (aws-lc-rs in this process).

use super::{Row, Unit, measure, want};
use aws_lc_rs::agreement::{self, X25519};
use aws_lc_rs::signature::{self as sig, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// PKCS#11 3.0 printable curve names (SoftHSMv2 and keyward take both
/// these and the RFC 8410 OIDs).
const EDWARDS25519: &[u8] = b"\x13\x0cedwards25519";
const CURVE25519: &[u8] = b"\x13\x0acurve25519";

fn pair(s: &Session, keygen: &Mechanism, params: &[u8], what: &str) -> Option<(ObjectHandle, ObjectHandle)> {
    s.generate_key_pair(
        keygen,
        &[Attribute::EcParams(params.to_vec()), Attribute::Token(false), Attribute::Verify(true)],
        &[Attribute::Token(false), Attribute::Sign(what == "ed25519"), Attribute::Derive(what == "x25519")],
    )
    .map_err(|e| eprintln!("  n/a: {what} keygen: {e}"))
    .ok()
}

/// The raw 32-byte public key from CKA_EC_POINT (a DER OCTET STRING).
fn raw_point(s: &Session, h: ObjectHandle) -> Option<Vec<u8>> {
    match s.get_attributes(h, &[AttributeType::EcPoint]).ok()?.pop()? {
        Attribute::EcPoint(p) if p.len() == 34 && p[0] == 4 && p[1] == 32 => Some(p[2..].to_vec()),
        Attribute::EcPoint(p) if p.len() == 32 => Some(p),
        _ => None,
    }
}

pub fn rows(sessions: &[Session], rows: &mut Vec<Row>) {
    let mut push = |name: &str, vals: [Option<f64>; 2], raw: Option<f64>| {
        rows.push(Row { name: name.into(), unit: Unit::Ops, kw: vals[0], sh: vals[1], raw });
    };
    let pure = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
    let msg = [0x17u8; 32];
    let ed: Vec<_> =
        sessions.iter().map(|s| pair(s, &Mechanism::EccEdwardsKeyPairGen, EDWARDS25519, "ed25519")).collect();
    let raw_ed = Ed25519KeyPair::generate().unwrap();
    if want("Ed25519 sign") {
        eprintln!("row: Ed25519 sign");
        let mut vals = [None, None];
        for (i, s) in sessions.iter().enumerate() {
            vals[i] = ed[i].and_then(|(_, pv)| measure("ed25519 sign", || s.sign(&pure, pv, &msg).map(|_| ())));
        }
        push("Ed25519 sign", vals, measure("raw", || raw_ed.try_sign(&msg).map(|_| ())));
    }
    if want("Ed25519 verify") {
        eprintln!("row: Ed25519 verify");
        let mut vals = [None, None];
        for (i, s) in sessions.iter().enumerate() {
            vals[i] = ed[i].and_then(|(pb, pv)| {
                let sg = s.sign(&pure, pv, &msg).ok()?;
                measure("ed25519 verify", || s.verify(&pure, pb, &msg, &sg))
            });
        }
        let sg = raw_ed.sign(&msg);
        let pk = UnparsedPublicKey::new(&sig::ED25519, raw_ed.public_key().as_ref().to_vec());
        push("Ed25519 verify", vals, measure("raw", || pk.verify(&msg, sg.as_ref())));
    }
    if want("X25519 derive") {
        eprintln!("row: X25519 derive");
        let mut vals = [None, None];
        for (i, s) in sessions.iter().enumerate() {
            let a = pair(s, &Mechanism::EccMontgomeryKeyPairGen, CURVE25519, "x25519");
            let b = pair(s, &Mechanism::EccMontgomeryKeyPairGen, CURVE25519, "x25519");
            vals[i] = (|| {
                let ((_, av), (bp, _)) = (a?, b?);
                let peer = raw_point(s, bp)?;
                let tmpl = [
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(false),
                ];
                let mut hs = Vec::new();
                let r = measure("x25519 derive", || {
                    let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &peer));
                    s.derive_key(&m, av, &tmpl).map(|h| hs.push(h))
                });
                for h in hs {
                    let _ = s.destroy_object(h);
                }
                r
            })();
        }
        let me = agreement::PrivateKey::generate(&X25519).unwrap();
        let peer = agreement::PrivateKey::generate(&X25519).unwrap().compute_public_key().unwrap();
        let raw = measure("raw", || {
            agreement::agree(&me, agreement::UnparsedPublicKey::new(&X25519, peer.as_ref()), (), |k| Ok(k[0]))
                .map(|_| ())
        });
        push("X25519 derive", vals, raw);
    }
}
