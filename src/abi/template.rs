//! CK_ATTRIBUTE arrays in (templates -> `Vec<Attr>`) and out
//! (C_GetAttributeValue answers written back per PKCS#11 2.40 §5.7).
//!
//! Array attributes (`CKA_WRAP_TEMPLATE`, `CKA_UNWRAP_TEMPLATE`,
//! `CKA_DERIVE_TEMPLATE`) carry a nested CK_ATTRIBUTE array; below `abi/`
//! they travel as [`encode_template`] bytes. One level of nesting is read;
//! an array attribute inside a nested template is refused.

use super::util::{MAX_DATA, bytes, slice};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::types::{Attr, AttrValue, decode_template, encode_template};

/// At most this many attributes in one template.
pub const MAX_ATTRS: CK_ULONG = 4096;
/// At most this many bytes in one attribute value.
pub const MAX_VALUE: CK_ULONG = 64 << 20;

const ATTR_SIZE: usize = std::mem::size_of::<CK_ATTRIBUTE>();

/// Attributes whose value is a nested CK_ATTRIBUTE array.
/// (`CKA_ALLOWED_MECHANISMS` also has the CKF_ARRAY_ATTRIBUTE bit but holds a
/// flat CK_MECHANISM_TYPE array, copied as bytes.)
pub fn is_array_attr(ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(ty, CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE)
}

/// The caller's CK_ATTRIBUTE array, checked.
///
/// # Safety
/// A non-NULL `p` must point at `n` CK_ATTRIBUTEs.
unsafe fn raw<'a>(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<&'a [CK_ATTRIBUTE]> {
    // SAFETY: forwarded contract.
    unsafe { slice(p, n, MAX_ATTRS) }
}

/// The checks and (`keep`) the copy of a caller's template: without
/// `keep`, every check runs (the same errors) and nothing is copied.
///
/// # Safety
/// As [`template`].
unsafe fn convert(p: *const CK_ATTRIBUTE, n: CK_ULONG, nested: bool, keep: bool) -> Result<Vec<Attr>> {
    // SAFETY: forwarded contract.
    let raw = unsafe { raw(p, n) }?;
    let mut out = Vec::with_capacity(if keep { raw.len() } else { 0 });
    for a in raw {
        if a.ulValueLen > MAX_VALUE {
            return Err(Error::args(format!("attribute 0x{:x}: value of {} bytes", a.type_, a.ulValueLen)));
        }
        let value = if is_array_attr(a.type_) {
            if nested {
                return Err(crate::err!(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "attribute 0x{:x}: templates nest one level deep",
                    a.type_
                ));
            }
            if !a.ulValueLen.is_multiple_of(ATTR_SIZE as CK_ULONG) {
                return Err(crate::err!(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "attribute 0x{:x}: length is not a multiple of sizeof(CK_ATTRIBUTE)",
                    a.type_
                ));
            }
            let count = a.ulValueLen / ATTR_SIZE as CK_ULONG;
            // SAFETY: pValue holds ulValueLen bytes of CK_ATTRIBUTEs, per
            // the array-attribute contract.
            let inner = unsafe { convert(a.pValue as *const CK_ATTRIBUTE, count, true, keep) }?;
            if !keep {
                continue;
            }
            encode_template(&inner)
        } else {
            // SAFETY: pValue holds ulValueLen bytes, per the caller.
            let v = unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }?;
            if !keep {
                continue;
            }
            v.to_vec()
        };
        out.push(Attr { ty: a.type_, value });
    }
    Ok(out)
}

/// Converts a caller's template (C_CreateObject, C_FindObjectsInit,
/// C_GenerateKey ...).
///
/// # Safety
/// A non-NULL `p` must point at `n` CK_ATTRIBUTEs whose `pValue`s hold
/// `ulValueLen` bytes (nested CK_ATTRIBUTE arrays for array attributes).
pub unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<Attr>> {
    // SAFETY: forwarded contract.
    unsafe { convert(p, n, false, true) }
}

/// Checks a caller's template as [`template`] does (the same errors)
/// without copying it: for a call that does not use it (a length query).
///
/// # Safety
/// As [`template`].
pub unsafe fn check_template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<()> {
    // SAFETY: forwarded contract.
    unsafe { convert(p, n, false, false) }.map(|_| ())
}

/// The attribute types a C_GetAttributeValue template asks for.
///
/// # Safety
/// A non-NULL `p` must point at `n` CK_ATTRIBUTEs.
pub unsafe fn attr_types(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<CK_ATTRIBUTE_TYPE>> {
    // SAFETY: forwarded contract.
    Ok(unsafe { raw(p, n) }?.iter().map(|a| a.type_).collect())
}

/// What went wrong across the entries of one C_GetAttributeValue call.
#[derive(Default)]
struct Outcome {
    sensitive: bool,
    invalid: bool,
    small: bool,
    broken: bool,
}

impl Outcome {
    /// One CK_RV for the whole call (any one is allowed when several
    /// apply; SENSITIVE, then TYPE_INVALID, then BUFFER_TOO_SMALL).
    fn result(&self) -> Result<()> {
        if self.broken {
            Err(Error::general("an array attribute value could not be decoded"))
        } else if self.sensitive {
            Err(Error::new(CKR_ATTRIBUTE_SENSITIVE, "some attributes are sensitive or unextractable"))
        } else if self.invalid {
            Err(Error::new(CKR_ATTRIBUTE_TYPE_INVALID, "some attribute types are invalid for this object"))
        } else if self.small {
            Err(Error::new(CKR_BUFFER_TOO_SMALL, "some attribute buffers are too small"))
        } else {
            Ok(())
        }
    }
}

/// Writes one value into one caller entry: NULL pValue is a length query;
/// too small is CK_UNAVAILABLE_INFORMATION.
///
/// # Safety
/// A non-NULL `a.pValue` must point at `a.ulValueLen` writable bytes.
unsafe fn put_value(a: &mut CK_ATTRIBUTE, v: &[u8], o: &mut Outcome) {
    if a.pValue.is_null() {
        a.ulValueLen = v.len() as CK_ULONG;
    } else if (a.ulValueLen as usize) < v.len() {
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        o.small = true;
    } else {
        // SAFETY: pValue holds ulValueLen >= v.len() writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len()) };
        a.ulValueLen = v.len() as CK_ULONG;
    }
}

/// Writes an array attribute (nested template) into one caller entry.
///
/// # Safety
/// A non-NULL `a.pValue` must point at `a.ulValueLen` bytes of
/// CK_ATTRIBUTEs whose own `pValue`s are NULL or hold `ulValueLen` bytes.
unsafe fn put_array(a: &mut CK_ATTRIBUTE, encoded: &[u8], o: &mut Outcome) {
    let Some(nested) = decode_template(encoded) else {
        log::error!("C_GetAttributeValue: attribute 0x{:x} holds a malformed nested template", a.type_);
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        o.broken = true;
        return;
    };
    let need = (nested.len() * ATTR_SIZE) as CK_ULONG;
    if a.pValue.is_null() {
        a.ulValueLen = need;
        return;
    }
    if a.ulValueLen < need {
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        o.small = true;
        return;
    }
    let base = a.pValue as *mut CK_ATTRIBUTE;
    // SAFETY: pValue holds ulValueLen >= need bytes of CK_ATTRIBUTEs; only
    // the checks (alignment) are wanted, the slice is dropped at once.
    if unsafe { slice(base as *const CK_ATTRIBUTE, nested.len() as CK_ULONG, MAX_DATA) }.is_err() {
        // Misaligned nested array: nothing can be written safely.
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        o.small = true;
        return;
    }
    for (i, s) in nested.iter().enumerate() {
        // SAFETY: entry i of the checked nested array; its pValue is NULL
        // or holds ulValueLen bytes (the caller's contract).
        unsafe {
            update_entry(base.add(i), |d| {
                d.type_ = s.ty;
                put_value(d, &s.value, o)
            })
        };
    }
    a.ulValueLen = need;
}

/// Writes C_GetAttributeValue answers into the caller's template and
/// returns the combined result. Every entry is processed.
///
/// # Safety
/// A non-NULL `p` must point at `n` writable CK_ATTRIBUTEs whose `pValue`s
/// are NULL or hold `ulValueLen` writable bytes.
pub unsafe fn write_attrs(p: *mut CK_ATTRIBUTE, n: CK_ULONG, values: &[AttrValue]) -> Result<()> {
    // SAFETY: forwarded contract; only the checks are wanted here.
    let count = unsafe { slice(p as *const CK_ATTRIBUTE, n, MAX_ATTRS) }?.len();
    if count != values.len() {
        return Err(Error::general(format!("{} answers for {} attributes", values.len(), count)));
    }
    let mut o = Outcome::default();
    for (i, v) in values.iter().enumerate() {
        // SAFETY: entry i of the checked array; its pValue is NULL or holds
        // ulValueLen writable bytes (the caller's contract).
        unsafe {
            update_entry(p.add(i), |a| match v {
                AttrValue::Invalid => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    o.invalid = true;
                }
                AttrValue::Sensitive => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    o.sensitive = true;
                }
                // SAFETY (both arms): as above.
                AttrValue::Value(v) if is_array_attr(a.type_) => put_array(a, v, &mut o),
                AttrValue::Value(v) => put_value(a, v, &mut o),
            })
        };
    }
    o.result()
}

/// Runs `f` on a copy of the caller's entry at `e` and writes its type and
/// length back. No reference into the caller's array is held while `f`
/// writes values: a caller may point a value buffer into the array itself.
///
/// # Safety
/// `e` must be non-NULL, aligned, readable and writable.
unsafe fn update_entry(e: *mut CK_ATTRIBUTE, f: impl FnOnce(&mut CK_ATTRIBUTE)) {
    // SAFETY: per the contract; a plain copy.
    let mut a = unsafe { e.read() };
    f(&mut a);
    // SAFETY: per the contract; field writes through the raw pointer.
    unsafe {
        (&raw mut (*e).type_).write(a.type_);
        (&raw mut (*e).ulValueLen).write(a.ulValueLen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    fn entry(ty: CK_ATTRIBUTE_TYPE, p: *mut u8, len: usize) -> CK_ATTRIBUTE {
        CK_ATTRIBUTE { type_: ty, pValue: p as CK_VOID_PTR, ulValueLen: len as CK_ULONG }
    }

    #[test]
    fn template_with_nested_array() {
        let mut tru = [1u8];
        let inner = [entry(CKA_SENSITIVE, tru.as_mut_ptr(), 1), entry(CKA_LABEL, null_mut(), 0)];
        let mut label = *b"lbl";
        let outer = [
            entry(CKA_LABEL, label.as_mut_ptr(), 3),
            entry(CKA_UNWRAP_TEMPLATE, inner.as_ptr() as *mut u8, 2 * ATTR_SIZE),
        ];
        let t = unsafe { template(outer.as_ptr(), 2) }.unwrap();
        assert!(unsafe { check_template(outer.as_ptr(), 2) }.is_ok());
        assert_eq!(t[0], Attr::new(CKA_LABEL, b"lbl".to_vec()));
        assert_eq!(t[1].ty, CKA_UNWRAP_TEMPLATE);
        assert_eq!(
            decode_template(&t[1].value).unwrap(),
            vec![Attr::new(CKA_SENSITIVE, vec![1]), Attr::new(CKA_LABEL, vec![])]
        );
    }

    #[test]
    fn template_rejects_bad_pointers_and_lengths() {
        // check_template (a length query's) refuses exactly what template does.
        let rv = |p: *const CK_ATTRIBUTE, n| {
            let r = unsafe { template(p, n) }.unwrap_err().rv();
            assert_eq!(unsafe { check_template(p, n) }.unwrap_err().rv(), r);
            r
        };
        assert_eq!(unsafe { template(null(), 0) }.unwrap(), vec![]);
        assert!(unsafe { check_template(null(), 0) }.is_ok());
        assert_eq!(rv(null(), 1), CKR_ARGUMENTS_BAD);
        let mut one = [0u8; 1];
        let ok = [entry(CKA_TOKEN, one.as_mut_ptr(), 1)];
        assert_eq!(rv(ok.as_ptr(), MAX_ATTRS + 1), CKR_ARGUMENTS_BAD);
        assert_eq!(rv([entry(CKA_LABEL, null_mut(), 4)].as_ptr(), 1), CKR_ARGUMENTS_BAD);
        let huge = [entry(CKA_VALUE, one.as_mut_ptr(), (MAX_VALUE + 1) as usize)];
        assert_eq!(rv(huge.as_ptr(), 1), CKR_ARGUMENTS_BAD);
        let ragged = [entry(CKA_WRAP_TEMPLATE, one.as_mut_ptr(), ATTR_SIZE + 1)];
        assert_eq!(rv(ragged.as_ptr(), 1), CKR_ATTRIBUTE_VALUE_INVALID);
        let deepest = [entry(CKA_TOKEN, one.as_mut_ptr(), 1)];
        let deeper = [entry(CKA_WRAP_TEMPLATE, deepest.as_ptr() as *mut u8, ATTR_SIZE)];
        let deep = [entry(CKA_DERIVE_TEMPLATE, deeper.as_ptr() as *mut u8, ATTR_SIZE)];
        assert_eq!(rv(deep.as_ptr(), 1), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    #[test]
    fn get_attribute_value_rules() {
        let mut small = [0u8; 2];
        let mut big = [0u8; 8];
        let mut t = [
            entry(CKA_LABEL, null_mut(), 0),            // length query
            entry(CKA_ID, big.as_mut_ptr(), 8),         // fits
            entry(CKA_VALUE, small.as_mut_ptr(), 2),    // too small
            entry(CKA_MODULUS, big.as_mut_ptr(), 8),    // invalid
            entry(CKA_PRIVATE_EXPONENT, null_mut(), 0), // sensitive
        ];
        let values = [
            AttrValue::Value(b"hello".to_vec()),
            AttrValue::Value(b"id".to_vec()),
            AttrValue::Value(b"secret".to_vec()),
            AttrValue::Invalid,
            AttrValue::Sensitive,
        ];
        let e = unsafe { write_attrs(t.as_mut_ptr(), 5, &values) }.unwrap_err();
        assert_eq!(e.rv(), CKR_ATTRIBUTE_SENSITIVE);
        let lens: Vec<CK_ULONG> = t.iter().map(|a| a.ulValueLen).collect();
        let u = CK_UNAVAILABLE_INFORMATION;
        assert_eq!(lens, vec![5, 2, u, u, u]);
        assert_eq!(&big[..2], b"id");

        let mut t = [entry(CKA_VALUE, small.as_mut_ptr(), 2), entry(CKA_MODULUS, null_mut(), 0)];
        let e = unsafe { write_attrs(t.as_mut_ptr(), 2, &values[2..4]) }.unwrap_err();
        assert_eq!(e.rv(), CKR_ATTRIBUTE_TYPE_INVALID);
        let mut t = [entry(CKA_VALUE, small.as_mut_ptr(), 2)];
        let e = unsafe { write_attrs(t.as_mut_ptr(), 1, &values[2..3]) }.unwrap_err();
        assert_eq!(e.rv(), CKR_BUFFER_TOO_SMALL);
    }

    #[test]
    fn get_attribute_value_nested_array() {
        let nested = vec![Attr::bool(CKA_SENSITIVE, true), Attr::new(CKA_LABEL, b"wrapped".to_vec())];
        let values = [AttrValue::Value(encode_template(&nested))];

        // 1. outer length query
        let mut t = [entry(CKA_WRAP_TEMPLATE, null_mut(), 0)];
        unsafe { write_attrs(t.as_mut_ptr(), 1, &values) }.unwrap();
        assert_eq!(t[0].ulValueLen as usize, 2 * ATTR_SIZE);

        // 2. nested entries with NULL pValue: types and lengths
        let mut inner = [entry(0, null_mut(), 0), entry(0, null_mut(), 0)];
        t[0].pValue = inner.as_mut_ptr() as CK_VOID_PTR;
        unsafe { write_attrs(t.as_mut_ptr(), 1, &values) }.unwrap();
        assert_eq!((inner[0].type_, inner[0].ulValueLen), (CKA_SENSITIVE, 1));
        assert_eq!((inner[1].type_, inner[1].ulValueLen), (CKA_LABEL, 7));

        // 3. values copied into the nested buffers
        let mut b = [0u8; 1];
        let mut l = [0u8; 16];
        inner[0].pValue = b.as_mut_ptr() as CK_VOID_PTR;
        inner[1].pValue = l.as_mut_ptr() as CK_VOID_PTR;
        inner[1].ulValueLen = 16;
        unsafe { write_attrs(t.as_mut_ptr(), 1, &values) }.unwrap();
        assert_eq!((b[0], &l[..7], inner[1].ulValueLen), (1, &b"wrapped"[..], 7));

        // outer buffer too small for the nested array
        t[0].ulValueLen = ATTR_SIZE as CK_ULONG;
        let e = unsafe { write_attrs(t.as_mut_ptr(), 1, &values) }.unwrap_err();
        assert_eq!((e.rv(), t[0].ulValueLen), (CKR_BUFFER_TOO_SMALL, CK_UNAVAILABLE_INFORMATION));

        // a nested buffer too small
        t[0].ulValueLen = (2 * ATTR_SIZE) as CK_ULONG;
        inner[1].ulValueLen = 3;
        let e = unsafe { write_attrs(t.as_mut_ptr(), 1, &values) }.unwrap_err();
        assert_eq!((e.rv(), inner[1].ulValueLen), (CKR_BUFFER_TOO_SMALL, CK_UNAVAILABLE_INFORMATION));
    }
}
