//! Post-quantum primitives: ML-DSA (FIPS 204) signatures and ML-KEM
//! (FIPS 203) key encapsulation, over the engine (`ffi::pq`, AWS-LC), with
//! their key encodings: the raw FIPS encodings (the PKCS#11 3.2 CKA_VALUE),
//! SubjectPublicKeyInfo and PKCS#8 (the IETF LAMPS forms: seed, expanded
//! key, or both). Knows nothing of PKCS#11; DER goes through the `der`,
//! `spki` and `pkcs8` crates. Private keys live in `Zeroizing` buffers; the
//! engine keeps no key objects (every call takes the encoded key).
//!
//! SLH-DSA is not here: the AWS-LC of aws-lc-sys 0.47 does not implement it.

use super::ffi::{self, MlDsaFns, MlKemFns};
use super::{CryptoError, CryptoResult};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Tag, TagNumber};
use zeroize::Zeroizing;

pub use ffi::PreHash;

/// The three ML-DSA parameter sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlDsa {
    P44,
    P65,
    P87,
}

/// The three ML-KEM parameter sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlKem {
    P512,
    P768,
    P1024,
}

/// The ML-DSA key-generation seed ξ (FIPS 204) length.
pub const ML_DSA_SEED_LEN: usize = 32;
/// The ML-KEM key-generation seed d || z (FIPS 203) length.
pub const ML_KEM_SEED_LEN: usize = 64;
/// The ML-KEM shared secret length.
pub const ML_KEM_SHARED_LEN: usize = 32;
/// The longest ML-DSA context string (FIPS 204).
pub const MAX_CONTEXT_LEN: usize = 255;

impl MlDsa {
    pub const ALL: [MlDsa; 3] = [MlDsa::P44, MlDsa::P65, MlDsa::P87];

    fn fns(self) -> &'static MlDsaFns {
        match self {
            MlDsa::P44 => &ffi::ML_DSA_44,
            MlDsa::P65 => &ffi::ML_DSA_65,
            MlDsa::P87 => &ffi::ML_DSA_87,
        }
    }
    pub fn public_len(self) -> usize {
        self.fns().pk_len
    }
    pub fn private_len(self) -> usize {
        self.fns().sk_len
    }
    pub fn signature_len(self) -> usize {
        self.fns().sig_len
    }
    /// "ML-DSA-44" ...
    pub fn name(self) -> &'static str {
        match self {
            MlDsa::P44 => "ML-DSA-44",
            MlDsa::P65 => "ML-DSA-65",
            MlDsa::P87 => "ML-DSA-87",
        }
    }
    /// id-ml-dsa-44/65/87 (NIST CSOR).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            MlDsa::P44 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.17"),
            MlDsa::P65 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18"),
            MlDsa::P87 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19"),
        }
    }
    fn from_oid(oid: &ObjectIdentifier) -> Option<MlDsa> {
        MlDsa::ALL.into_iter().find(|a| a.oid() == *oid)
    }
}

impl MlKem {
    pub const ALL: [MlKem; 3] = [MlKem::P512, MlKem::P768, MlKem::P1024];

    fn fns(self) -> &'static MlKemFns {
        match self {
            MlKem::P512 => &ffi::ML_KEM_512,
            MlKem::P768 => &ffi::ML_KEM_768,
            MlKem::P1024 => &ffi::ML_KEM_1024,
        }
    }
    pub fn public_len(self) -> usize {
        self.fns().ek_len
    }
    pub fn private_len(self) -> usize {
        self.fns().dk_len
    }
    pub fn ciphertext_len(self) -> usize {
        self.fns().ct_len
    }
    /// "ML-KEM-768" ...
    pub fn name(self) -> &'static str {
        match self {
            MlKem::P512 => "ML-KEM-512",
            MlKem::P768 => "ML-KEM-768",
            MlKem::P1024 => "ML-KEM-1024",
        }
    }
    /// id-alg-ml-kem-512/768/1024 (NIST CSOR).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            MlKem::P512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.1"),
            MlKem::P768 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.2"),
            MlKem::P1024 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.3"),
        }
    }
    fn from_oid(oid: &ObjectIdentifier) -> Option<MlKem> {
        MlKem::ALL.into_iter().find(|a| a.oid() == *oid)
    }
}

fn enc_err(_: der::Error) -> CryptoError {
    CryptoError::Internal
}

fn engine_err(_: ffi::Failed) -> CryptoError {
    CryptoError::Internal
}

fn spki_der(oid: ObjectIdentifier, key: &[u8]) -> Vec<u8> {
    let bits = match BitStringRef::from_bytes(key) {
        Ok(b) => b,
        Err(_) => return Vec::new(),
    };
    let info = spki::SubjectPublicKeyInfo {
        algorithm: spki::AlgorithmIdentifier::<AnyRef<'_>> { oid, parameters: None },
        subject_public_key: bits,
    };
    info.to_der().unwrap_or_default()
}

/// The private key of a PKCS#8 ML-DSA / ML-KEM key (draft-ietf-lamps-
/// dilithium-certificates / kyber-certificates): `seed [0] OCTET STRING`,
/// `expandedKey OCTET STRING`, or `both SEQUENCE { seed, expandedKey }`.
struct Pkcs8Key {
    oid: ObjectIdentifier,
    seed: Option<Zeroizing<Vec<u8>>>,
    expanded: Option<Zeroizing<Vec<u8>>>,
}

fn parse_pkcs8(der: &[u8]) -> CryptoResult<Pkcs8Key> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| CryptoError::InvalidKey)?;
    if info.algorithm.parameters.is_some() {
        return Err(CryptoError::InvalidKey);
    }
    let oid = info.algorithm.oid;
    let payload = info.private_key.as_bytes();
    let any = AnyRef::from_der(payload).map_err(|_| CryptoError::InvalidKey)?;
    let z = |b: &[u8]| Some(Zeroizing::new(b.to_vec()));
    let (seed, expanded) = match der::Tagged::tag(&any) {
        Tag::ContextSpecific { constructed: false, number: TagNumber(0) } => (z(any.value()), None),
        Tag::OctetString => (None, z(any.value())),
        Tag::Sequence => {
            let mut r = der::SliceReader::new(any.value()).map_err(|_| CryptoError::InvalidKey)?;
            let s = <&OctetStringRef>::decode(&mut r).map_err(|_| CryptoError::InvalidKey)?;
            let e = <&OctetStringRef>::decode(&mut r).map_err(|_| CryptoError::InvalidKey)?;
            if !der::Reader::is_finished(&r) {
                return Err(CryptoError::InvalidKey);
            }
            (z(s.as_bytes()), z(e.as_bytes()))
        }
        _ => return Err(CryptoError::InvalidKey),
    };
    Ok(Pkcs8Key { oid, seed, expanded })
}

/// PKCS#8 v1 with the seed form when the seed is known, else the expanded key.
fn pkcs8_der(oid: ObjectIdentifier, seed: Option<&[u8]>, expanded: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
    let inner = Zeroizing::new(match seed {
        Some(s) => AnyRef::new(Tag::ContextSpecific { constructed: false, number: TagNumber(0) }, s)
            .and_then(|a| a.to_der())
            .map_err(enc_err)?,
        None => OctetStringRef::new(expanded).and_then(|o| o.to_der()).map_err(enc_err)?,
    });
    let info = pkcs8::PrivateKeyInfo {
        algorithm: spki::AlgorithmIdentifier::<AnyRef<'_>> { oid, parameters: None },
        private_key: OctetStringRef::new(&inner).map_err(enc_err)?,
        public_key: None::<BitStringRef<'_>>,
    };
    Ok(Zeroizing::new(info.to_der().map_err(enc_err)?))
}

// ---- ML-DSA -------------------------------------------------------------------

/// An ML-DSA public key (FIPS 204 pkEncode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlDsaPublic {
    alg: MlDsa,
    pk: Vec<u8>,
}

/// An ML-DSA private key: the expanded key (skEncode), the seed when known,
/// and the public key.
#[derive(Clone)]
pub struct MlDsaPrivate {
    seed: Option<Zeroizing<[u8; ML_DSA_SEED_LEN]>>,
    sk: Zeroizing<Vec<u8>>,
    public: MlDsaPublic,
}

/// How ML-DSA signing draws its 32-byte `rnd` (FIPS 204 Algorithm 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rnd {
    /// Fresh random bytes (hedged).
    Hedged,
    /// All zero (deterministic).
    Deterministic,
    /// Given (known-answer tests).
    Given([u8; 32]),
}

/// What is signed: the message itself (ML-DSA) or its hash (HashML-DSA),
/// with the context string.
#[derive(Clone, Copy, Debug)]
pub enum Domain<'a> {
    Pure {
        context: &'a [u8],
    },
    PreHashed {
        context: &'a [u8],
        hash: PreHash,
    },
    /// The FIPS 204 internal interface (the message is M' itself): the
    /// ACVP sigGen/sigVer vectors only; no PKCS#11 mechanism builds it.
    Internal,
}

/// The DER of the hash OIDs FIPS 204 §5.4 names, as M' carries them.
fn hash_oid(h: PreHash) -> ObjectIdentifier {
    let arc = match h {
        PreHash::Sha256 => "1",
        PreHash::Sha384 => "2",
        PreHash::Sha512 => "3",
        PreHash::Sha224 => "4",
        PreHash::Sha3_224 => "7",
        PreHash::Sha3_256 => "8",
        PreHash::Sha3_384 => "9",
        PreHash::Sha3_512 => "10",
        PreHash::Shake128 => "11",
        PreHash::Shake256 => "12",
    };
    ObjectIdentifier::new_unwrap(&format!("2.16.840.1.101.3.4.2.{arc}"))
}

impl Domain<'_> {
    /// The FIPS 204 prefix of M': 0 or 1, |ctx|, ctx and, pre-hashed, the
    /// hash's OID (the message part is M or PH(M)).
    fn prefix(&self) -> CryptoResult<Vec<u8>> {
        let (tag, ctx) = match self {
            Domain::Pure { context } => (0u8, *context),
            Domain::PreHashed { context, .. } => (1u8, *context),
            Domain::Internal => return Ok(Vec::new()),
        };
        if ctx.len() > MAX_CONTEXT_LEN {
            return Err(CryptoError::InvalidParam);
        }
        let mut pre = vec![tag, ctx.len() as u8];
        pre.extend_from_slice(ctx);
        if let Domain::PreHashed { hash, .. } = self {
            pre.extend_from_slice(&hash_oid(*hash).to_der().map_err(enc_err)?);
        }
        Ok(pre)
    }
}

impl MlDsaPublic {
    pub fn from_bytes(alg: MlDsa, pk: &[u8]) -> CryptoResult<MlDsaPublic> {
        if pk.len() != alg.public_len() {
            return Err(CryptoError::InvalidKey);
        }
        Ok(MlDsaPublic { alg, pk: pk.to_vec() })
    }
    pub fn alg(&self) -> MlDsa {
        self.alg
    }
    pub fn bytes(&self) -> &[u8] {
        &self.pk
    }
    pub fn to_spki_der(&self) -> Vec<u8> {
        spki_der(self.alg.oid(), &self.pk)
    }
    /// Verifies `sig` over `msg` (for HashML-DSA: the hash of the message).
    pub fn verify(&self, domain: Domain<'_>, msg: &[u8], sig: &[u8]) -> CryptoResult<()> {
        if sig.len() != self.alg.signature_len() {
            return Err(CryptoError::InvalidLength);
        }
        let pre = domain.prefix()?;
        self.alg.fns().verify(&self.pk, &pre, msg, sig).map_err(|_| CryptoError::AuthFailed)
    }
}

impl MlDsaPrivate {
    /// ML-DSA.KeyGen from a fresh random seed.
    pub fn generate(alg: MlDsa) -> CryptoResult<MlDsaPrivate> {
        let mut seed = Zeroizing::new([0u8; ML_DSA_SEED_LEN]);
        super::random_fill(seed.as_mut())?;
        MlDsaPrivate::from_seed(alg, &seed[..])
    }

    /// ML-DSA.KeyGen_internal(ξ).
    pub fn from_seed(alg: MlDsa, seed: &[u8]) -> CryptoResult<MlDsaPrivate> {
        let seed: [u8; ML_DSA_SEED_LEN] = seed.try_into().map_err(|_| CryptoError::InvalidKey)?;
        let seed = Zeroizing::new(seed);
        let f = alg.fns();
        let mut pk = vec![0u8; f.pk_len];
        let mut sk = Zeroizing::new(vec![0u8; f.sk_len]);
        f.keypair_from_seed(&seed, &mut pk, &mut sk).map_err(engine_err)?;
        Ok(MlDsaPrivate { seed: Some(seed), sk, public: MlDsaPublic { alg, pk } })
    }

    /// From the expanded private key (skEncode); the public key is derived.
    pub fn from_expanded(alg: MlDsa, sk: &[u8]) -> CryptoResult<MlDsaPrivate> {
        let f = alg.fns();
        if sk.len() != f.sk_len {
            return Err(CryptoError::InvalidKey);
        }
        let mut pk = vec![0u8; f.pk_len];
        f.public_from_private(sk, &mut pk).map_err(|_| CryptoError::InvalidKey)?;
        Ok(MlDsaPrivate { seed: None, sk: Zeroizing::new(sk.to_vec()), public: MlDsaPublic { alg, pk } })
    }

    /// From a seed and/or an expanded key; both given must agree.
    pub fn from_parts(alg: MlDsa, seed: Option<&[u8]>, expanded: Option<&[u8]>) -> CryptoResult<MlDsaPrivate> {
        match (seed, expanded) {
            (Some(s), e) => {
                let k = MlDsaPrivate::from_seed(alg, s)?;
                match e {
                    Some(e) if aws_lc_rs::constant_time::verify_slices_are_equal(e, &k.sk).is_err() => {
                        Err(CryptoError::InvalidKey)
                    }
                    _ => Ok(k),
                }
            }
            (None, Some(e)) => MlDsaPrivate::from_expanded(alg, e),
            (None, None) => Err(CryptoError::InvalidKey),
        }
    }

    /// PKCS#8: the seed form, or the expanded form for a key imported
    /// without its seed.
    pub fn to_pkcs8_der(&self) -> CryptoResult<Zeroizing<Vec<u8>>> {
        pkcs8_der(self.public.alg.oid(), self.seed.as_ref().map(|s| &s[..]), &self.sk)
    }

    /// Reads PKCS#8 (any of the three forms); `alg` must match its OID.
    pub fn from_pkcs8_der(der: &[u8]) -> CryptoResult<MlDsaPrivate> {
        let k = parse_pkcs8(der)?;
        let alg = MlDsa::from_oid(&k.oid).ok_or(CryptoError::InvalidKey)?;
        MlDsaPrivate::from_parts(alg, k.seed.as_deref().map(|v| &v[..]), k.expanded.as_deref().map(|v| &v[..]))
    }

    pub fn alg(&self) -> MlDsa {
        self.public.alg
    }
    pub fn public(&self) -> &MlDsaPublic {
        &self.public
    }
    pub fn seed(&self) -> Option<&[u8]> {
        self.seed.as_ref().map(|s| &s[..])
    }
    pub fn expanded(&self) -> &[u8] {
        &self.sk
    }

    /// Signs `msg` (for HashML-DSA: the message's hash); writes the
    /// signature (`out` at least `signature_len()`), returns its length.
    pub fn sign(&self, domain: Domain<'_>, msg: &[u8], rnd: Rnd, out: &mut [u8]) -> CryptoResult<usize> {
        if out.len() < self.alg().signature_len() {
            return Err(CryptoError::InvalidLength);
        }
        let pre = domain.prefix()?;
        let mut r = Zeroizing::new([0u8; 32]);
        match rnd {
            Rnd::Hedged => super::random_fill(r.as_mut())?,
            Rnd::Deterministic => {}
            Rnd::Given(g) => *r = g,
        }
        self.alg().fns().sign(&self.sk, &pre, msg, &r, out).map_err(engine_err)
    }
}

/// The HashML-DSA pre-hash of `data`.
pub fn prehash(hash: PreHash, data: &[u8]) -> CryptoResult<Vec<u8>> {
    hash.digest(data).map_err(engine_err)
}

// ---- ML-KEM -------------------------------------------------------------------

/// An ML-KEM encapsulation key (FIPS 203 ek).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlKemPublic {
    alg: MlKem,
    ek: Vec<u8>,
}

/// An ML-KEM decapsulation key (dk), the seed d || z when known, and ek.
#[derive(Clone)]
pub struct MlKemPrivate {
    seed: Option<Zeroizing<[u8; ML_KEM_SEED_LEN]>>,
    dk: Zeroizing<Vec<u8>>,
    public: MlKemPublic,
}

impl MlKemPublic {
    /// With the FIPS 203 §7.2 input check.
    pub fn from_bytes(alg: MlKem, ek: &[u8]) -> CryptoResult<MlKemPublic> {
        alg.fns().check_public(ek).map_err(|_| CryptoError::InvalidKey)?;
        Ok(MlKemPublic { alg, ek: ek.to_vec() })
    }
    pub fn alg(&self) -> MlKem {
        self.alg
    }
    pub fn bytes(&self) -> &[u8] {
        &self.ek
    }
    pub fn to_spki_der(&self) -> Vec<u8> {
        spki_der(self.alg.oid(), &self.ek)
    }
    /// ML-KEM.Encaps: (ciphertext, shared secret). `m` fixes the
    /// encapsulation randomness (known-answer tests only).
    pub fn encapsulate(&self, m: Option<&[u8; 32]>) -> CryptoResult<(Vec<u8>, Zeroizing<[u8; 32]>)> {
        let mut ct = vec![0u8; self.alg.ciphertext_len()];
        let ss = self.encapsulate_into(m, &mut ct)?;
        Ok((ct, ss))
    }
    /// [`Self::encapsulate`] writing the ciphertext into `ct` (exactly
    /// [`MlKem::ciphertext_len`] bytes): no buffer of its own.
    pub fn encapsulate_into(&self, m: Option<&[u8; 32]>, ct: &mut [u8]) -> CryptoResult<Zeroizing<[u8; 32]>> {
        let mut ss = Zeroizing::new([0u8; 32]);
        self.alg.fns().encapsulate(&self.ek, m, ct, &mut ss).map_err(engine_err)?;
        Ok(ss)
    }
}

impl MlKemPrivate {
    pub fn generate(alg: MlKem) -> CryptoResult<MlKemPrivate> {
        let mut seed = Zeroizing::new([0u8; ML_KEM_SEED_LEN]);
        super::random_fill(seed.as_mut())?;
        MlKemPrivate::from_seed(alg, &seed[..])
    }

    /// ML-KEM.KeyGen_internal(d, z) from d || z.
    pub fn from_seed(alg: MlKem, seed: &[u8]) -> CryptoResult<MlKemPrivate> {
        let seed: [u8; ML_KEM_SEED_LEN] = seed.try_into().map_err(|_| CryptoError::InvalidKey)?;
        let seed = Zeroizing::new(seed);
        let f = alg.fns();
        let mut ek = vec![0u8; f.ek_len];
        let mut dk = Zeroizing::new(vec![0u8; f.dk_len]);
        f.keypair_from_seed(&seed, &mut ek, &mut dk).map_err(engine_err)?;
        Ok(MlKemPrivate { seed: Some(seed), dk, public: MlKemPublic { alg, ek } })
    }

    /// From dk (with the FIPS 203 §7.3 hash check); ek is inside dk.
    pub fn from_expanded(alg: MlKem, dk: &[u8]) -> CryptoResult<MlKemPrivate> {
        let f = alg.fns();
        f.check_private(dk).map_err(|_| CryptoError::InvalidKey)?;
        // dk = dk_PKE (384k bytes) || ek || H(ek) || z.
        let start = f.dk_len - f.ek_len - 64;
        let ek = dk.get(start..start + f.ek_len).ok_or(CryptoError::InvalidKey)?;
        let public = MlKemPublic::from_bytes(alg, ek)?;
        Ok(MlKemPrivate { seed: None, dk: Zeroizing::new(dk.to_vec()), public })
    }

    pub fn from_parts(alg: MlKem, seed: Option<&[u8]>, expanded: Option<&[u8]>) -> CryptoResult<MlKemPrivate> {
        match (seed, expanded) {
            (Some(s), e) => {
                let k = MlKemPrivate::from_seed(alg, s)?;
                match e {
                    Some(e) if aws_lc_rs::constant_time::verify_slices_are_equal(e, &k.dk).is_err() => {
                        Err(CryptoError::InvalidKey)
                    }
                    _ => Ok(k),
                }
            }
            (None, Some(e)) => MlKemPrivate::from_expanded(alg, e),
            (None, None) => Err(CryptoError::InvalidKey),
        }
    }

    pub fn to_pkcs8_der(&self) -> CryptoResult<Zeroizing<Vec<u8>>> {
        pkcs8_der(self.public.alg.oid(), self.seed.as_ref().map(|s| &s[..]), &self.dk)
    }

    pub fn from_pkcs8_der(der: &[u8]) -> CryptoResult<MlKemPrivate> {
        let k = parse_pkcs8(der)?;
        let alg = MlKem::from_oid(&k.oid).ok_or(CryptoError::InvalidKey)?;
        MlKemPrivate::from_parts(alg, k.seed.as_deref().map(|v| &v[..]), k.expanded.as_deref().map(|v| &v[..]))
    }

    pub fn alg(&self) -> MlKem {
        self.public.alg
    }
    pub fn public(&self) -> &MlKemPublic {
        &self.public
    }
    pub fn seed(&self) -> Option<&[u8]> {
        self.seed.as_ref().map(|s| &s[..])
    }
    pub fn expanded(&self) -> &[u8] {
        &self.dk
    }

    /// ML-KEM.Decaps: a ciphertext of the wrong length is refused; a
    /// tampered one gives the implicit-rejection secret.
    pub fn decapsulate(&self, ct: &[u8]) -> CryptoResult<Zeroizing<[u8; 32]>> {
        if ct.len() != self.alg().ciphertext_len() {
            return Err(CryptoError::InvalidLength);
        }
        let mut ss = Zeroizing::new([0u8; 32]);
        self.alg().fns().decapsulate(&self.dk, ct, &mut ss).map_err(engine_err)?;
        Ok(ss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ml_dsa_sign_verify_and_forms() {
        for alg in MlDsa::ALL {
            let k = MlDsaPrivate::generate(alg).unwrap();
            let mut sig = vec![0u8; alg.signature_len()];
            let ctx = Domain::Pure { context: b"ctx" };
            assert_eq!(k.sign(ctx, b"msg", Rnd::Hedged, &mut sig).unwrap(), alg.signature_len());
            k.public().verify(ctx, b"msg", &sig).unwrap();
            assert_eq!(k.public().verify(Domain::Pure { context: b"" }, b"msg", &sig), Err(CryptoError::AuthFailed));
            let mut a = vec![0u8; alg.signature_len()];
            let mut b = vec![0u8; alg.signature_len()];
            k.sign(ctx, b"m", Rnd::Deterministic, &mut a).unwrap();
            k.sign(ctx, b"m", Rnd::Deterministic, &mut b).unwrap();
            assert_eq!(a, b);
            let ph = Domain::PreHashed { context: b"", hash: PreHash::Sha3_224 };
            let h = prehash(PreHash::Sha3_224, b"m").unwrap();
            k.sign(ph, &h, Rnd::Hedged, &mut a).unwrap();
            k.public().verify(ph, &h, &a).unwrap();
            assert!(k.public().verify(Domain::Pure { context: b"" }, &h, &a).is_err());
            // PKCS#8 seed form round trip; expanded import derives the same public key.
            let back = MlDsaPrivate::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(back.public(), k.public());
            let e = MlDsaPrivate::from_expanded(alg, k.expanded()).unwrap();
            assert_eq!(e.public(), k.public());
            assert!(e.seed().is_none());
            let e8 = MlDsaPrivate::from_pkcs8_der(&e.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(e8.expanded(), k.expanded());
            assert!(MlDsaPrivate::from_parts(alg, k.seed(), Some(&vec![0u8; alg.private_len()])).is_err());
        }
    }

    fn acvp() -> serde_json::Value {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/acvp_pqc.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn hx(v: &serde_json::Value, k: &str) -> Vec<u8> {
        hex::decode(v[k].as_str().unwrap()).unwrap()
    }

    fn dsa(v: &serde_json::Value) -> MlDsa {
        match v["parameterSet"].as_str().unwrap() {
            "ML-DSA-44" => MlDsa::P44,
            "ML-DSA-65" => MlDsa::P65,
            _ => MlDsa::P87,
        }
    }

    fn kem(v: &serde_json::Value) -> MlKem {
        match v["parameterSet"].as_str().unwrap() {
            "ML-KEM-512" => MlKem::P512,
            "ML-KEM-768" => MlKem::P768,
            _ => MlKem::P1024,
        }
    }

    /// The ACVP cases PKCS#11 cannot reach (tests/pqc.rs runs the others
    /// through the C ABI): sigGen/sigVer of the internal interface (with
    /// the vectors' `rnd`) and encapsulation with the vectors' `m`.
    #[test]
    fn acvp_internal_interface_and_encapsulation() {
        let v = acvp();
        let mut n = 0;
        for t in v["ml_dsa_siggen"].as_array().unwrap() {
            let k = MlDsaPrivate::from_expanded(dsa(t), &hx(t, "sk")).unwrap();
            let rnd = match t.get("rnd") {
                Some(_) => Rnd::Given(hx(t, "rnd").try_into().unwrap()),
                None => Rnd::Deterministic,
            };
            let mut sig = vec![0u8; k.alg().signature_len()];
            k.sign(Domain::Internal, &hx(t, "message"), rnd, &mut sig).unwrap();
            assert_eq!(sig, hx(t, "signature"), "sigGen tcId {}", t["tcId"]);
            n += 1;
        }
        for t in v["ml_dsa_sigver"].as_array().unwrap() {
            let pk = MlDsaPublic::from_bytes(dsa(t), &hx(t, "pk")).unwrap();
            let r = pk.verify(Domain::Internal, &hx(t, "message"), &hx(t, "signature"));
            assert_eq!(r.is_ok(), t["testPassed"].as_bool().unwrap(), "sigVer tcId {}", t["tcId"]);
            n += 1;
        }
        for t in v["ml_kem_encap"].as_array().unwrap() {
            let ek = MlKemPublic::from_bytes(kem(t), &hx(t, "ek")).unwrap();
            let m: [u8; 32] = hx(t, "m").try_into().unwrap();
            let (c, k) = ek.encapsulate(Some(&m)).unwrap();
            assert_eq!((c, k.to_vec()), (hx(t, "c"), hx(t, "k")), "encapsulation tcId {}", t["tcId"]);
            n += 1;
        }
        assert_eq!(n, 6 + 6 + 3);
    }

    #[test]
    fn ml_kem_round_trip_and_checks() {
        for alg in MlKem::ALL {
            let k = MlKemPrivate::generate(alg).unwrap();
            let (ct, ss) = k.public().encapsulate(None).unwrap();
            assert_eq!(*k.decapsulate(&ct).unwrap(), *ss);
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_ne!(*k.decapsulate(&bad).unwrap(), *ss);
            assert_eq!(k.decapsulate(&ct[1..]).err(), Some(CryptoError::InvalidLength));
            let e = MlKemPrivate::from_expanded(alg, k.expanded()).unwrap();
            assert_eq!(e.public(), k.public());
            let mut dk = k.expanded().to_vec();
            let n = dk.len();
            dk[n - 40] ^= 1; // inside H(ek)
            assert!(MlKemPrivate::from_expanded(alg, &dk).is_err());
            let back = MlKemPrivate::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(back.expanded(), k.expanded());
            assert!(MlKemPublic::from_bytes(alg, &vec![0xffu8; alg.public_len()]).is_err());
        }
    }
}
