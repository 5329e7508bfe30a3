//! Pointer helpers and the output-length convention, written once.

use crate::ck::*;
use crate::error::{Error, Result};
use crate::types::{Attr, decode_template, encode_template};

/// Data larger than this is refused as an absurd length.
pub const MAX_DATA: CK_ULONG = 1 << 31;
/// At most this many attributes in a template.
pub const MAX_ATTRS: CK_ULONG = 4096;
/// At most this many bytes in one attribute value.
pub const MAX_VALUE: CK_ULONG = 64 << 20;

/// A byte slice from a (pointer, length) pair: NULL with a length is an error.
pub unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::args("NULL pointer with a non-zero length"));
    }
    if len > MAX_DATA {
        return Err(Error::args("absurd length"));
    }
    // SAFETY: the caller promises `p` points at `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// An out-parameter.
pub unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    // SAFETY: non-NULL out-parameters point at writable storage per the spec.
    unsafe { p.as_mut() }.ok_or_else(|| Error::args("NULL output pointer"))
}

/// A writable byte buffer.
pub unsafe fn bytes_mut<'a>(p: *mut u8, len: CK_ULONG) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Error::args("NULL buffer with a non-zero length"));
    }
    if len > MAX_DATA {
        return Err(Error::args("absurd length"));
    }
    // SAFETY: the caller promises `p` points at `len` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len as usize) })
}

/// The output-length convention: NULL buffer = length query.
pub unsafe fn output(
    p: *mut u8,
    plen: *mut CK_ULONG,
    f: impl FnOnce(Option<&mut [u8]>) -> Result<usize>,
) -> Result<()> {
    let len = unsafe { out(plen) }?;
    if p.is_null() {
        *len = f(None)? as CK_ULONG;
        return Ok(());
    }
    let cap = (*len).min(MAX_DATA);
    // SAFETY: the caller's buffer holds *len bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(p, cap as usize) };
    match f(Some(buf)) {
        Ok(n) => {
            *len = n as CK_ULONG;
            Ok(())
        }
        Err(e) => {
            if let Some(n) = e.needed() {
                *len = n as CK_ULONG;
            }
            Err(e)
        }
    }
}

/// A list of CK_ULONGs under the length-query convention (slot and
/// mechanism lists).
pub unsafe fn ulong_list(p: *mut CK_ULONG, plen: *mut CK_ULONG, items: &[CK_ULONG]) -> Result<()> {
    let len = unsafe { out(plen) }?;
    if p.is_null() {
        *len = items.len() as CK_ULONG;
        return Ok(());
    }
    if (*len as usize) < items.len() {
        *len = items.len() as CK_ULONG;
        return Err(Error::buffer_too_small(items.len()));
    }
    // SAFETY: the caller's array holds *len entries.
    let dst = unsafe { std::slice::from_raw_parts_mut(p, items.len()) };
    dst.copy_from_slice(items);
    *len = items.len() as CK_ULONG;
    Ok(())
}

/// Attributes whose value is a nested CK_ATTRIBUTE array. (CKA_ALLOWED_MECHANISMS
/// also carries CKF_ARRAY_ATTRIBUTE but is a flat CK_MECHANISM_TYPE array.)
pub fn is_array_attr(ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(ty, CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE)
}

unsafe fn attrs_raw<'a>(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<&'a [CK_ATTRIBUTE]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::args("NULL template with a non-zero count"));
    }
    if n > MAX_ATTRS {
        return Err(Error::args("template has too many attributes"));
    }
    // SAFETY: the caller's template holds n entries.
    Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
}

unsafe fn template_depth(p: *const CK_ATTRIBUTE, n: CK_ULONG, depth: u32) -> Result<Vec<Attr>> {
    let raw = unsafe { attrs_raw(p, n) }?;
    let mut out = Vec::with_capacity(raw.len());
    for a in raw {
        if a.ulValueLen > MAX_VALUE && a.ulValueLen != CK_UNAVAILABLE_INFORMATION {
            return Err(Error::args("attribute value too long"));
        }
        let value = if is_array_attr(a.type_) && depth == 0 {
            let sz = std::mem::size_of::<CK_ATTRIBUTE>() as CK_ULONG;
            if a.ulValueLen % sz != 0 {
                return Err(Error::new(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "array attribute length is not a multiple of CK_ATTRIBUTE",
                ));
            }
            let nested = unsafe { template_depth(a.pValue as *const CK_ATTRIBUTE, a.ulValueLen / sz, depth + 1) }?;
            encode_template(&nested)
        } else {
            unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }?.to_vec()
        };
        out.push(Attr { ty: a.type_, value });
    }
    Ok(out)
}

/// Converts a caller's template.
pub unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<Attr>> {
    unsafe { template_depth(p, n, 0) }
}

/// Writes C_GetAttributeValue answers back per spec §5.7 and returns the
/// combined CK_RV.
pub unsafe fn write_attrs(p: *mut CK_ATTRIBUTE, n: CK_ULONG, values: Vec<crate::types::AttrValue>) -> Result<()> {
    use crate::types::AttrValue;
    // SAFETY: checked by the caller through attrs_raw before.
    let raw = unsafe { std::slice::from_raw_parts_mut(p, n as usize) };
    let (mut sensitive, mut invalid, mut small) = (false, false, false);
    for (a, v) in raw.iter_mut().zip(values) {
        match v {
            AttrValue::Invalid => {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                invalid = true;
            }
            AttrValue::Sensitive => {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                sensitive = true;
            }
            AttrValue::Value(v) if is_array_attr(a.type_) => {
                let nested = decode_template(&v).unwrap_or_default();
                let sz = std::mem::size_of::<CK_ATTRIBUTE>();
                let need = nested.len() * sz;
                if a.pValue.is_null() {
                    a.ulValueLen = need as CK_ULONG;
                } else if (a.ulValueLen as usize) < need {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    small = true;
                } else {
                    // SAFETY: the caller provided room for `need` bytes of entries.
                    let dst = unsafe { std::slice::from_raw_parts_mut(a.pValue as *mut CK_ATTRIBUTE, nested.len()) };
                    for (d, s) in dst.iter_mut().zip(nested) {
                        d.type_ = s.ty;
                        if d.pValue.is_null() {
                            d.ulValueLen = s.value.len() as CK_ULONG;
                        } else if (d.ulValueLen as usize) < s.value.len() {
                            d.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                            small = true;
                        } else {
                            // SAFETY: nested buffer of d.ulValueLen bytes.
                            unsafe {
                                std::ptr::copy_nonoverlapping(s.value.as_ptr(), d.pValue as *mut u8, s.value.len())
                            };
                            d.ulValueLen = s.value.len() as CK_ULONG;
                        }
                    }
                    a.ulValueLen = need as CK_ULONG;
                }
            }
            AttrValue::Value(v) => {
                if a.pValue.is_null() {
                    a.ulValueLen = v.len() as CK_ULONG;
                } else if (a.ulValueLen as usize) < v.len() {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    small = true;
                } else {
                    // SAFETY: the caller's buffer holds ulValueLen bytes.
                    unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len()) };
                    a.ulValueLen = v.len() as CK_ULONG;
                }
            }
        }
    }
    if sensitive {
        Err(Error::new(CKR_ATTRIBUTE_SENSITIVE, "some attributes are sensitive"))
    } else if invalid {
        Err(Error::new(CKR_ATTRIBUTE_TYPE_INVALID, "some attribute types are invalid for this object"))
    } else if small {
        Err(Error::new(CKR_BUFFER_TOO_SMALL, "some attribute buffers are too small"))
    } else {
        Ok(())
    }
}

/// The types of a C_GetAttributeValue template.
pub unsafe fn attr_types(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<CK_ATTRIBUTE_TYPE>> {
    Ok(unsafe { attrs_raw(p, n) }?.iter().map(|a| a.type_).collect())
}

/// Blank-padded fixed-size string fields.
pub fn pad<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&s.as_bytes()[..end]);
    out
}

/// A NUL-terminated C string (config path in pReserved).
pub unsafe fn c_path(p: *const std::ffi::c_char) -> Option<std::path::PathBuf> {
    if p.is_null() {
        return None;
    }
    // SAFETY: pReserved carries a NUL-terminated string by keyward's contract.
    let s = unsafe { std::ffi::CStr::from_ptr(p) };
    Some(std::path::PathBuf::from(s.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_with_nested_array_round_trips() {
        let mut inner_v = [1u8];
        let inner = [CK_ATTRIBUTE { type_: CKA_SENSITIVE, pValue: inner_v.as_mut_ptr() as *mut _, ulValueLen: 1 }];
        let mut label = *b"lbl";
        let outer = [
            CK_ATTRIBUTE { type_: CKA_LABEL, pValue: label.as_mut_ptr() as *mut _, ulValueLen: 3 },
            CK_ATTRIBUTE {
                type_: CKA_UNWRAP_TEMPLATE,
                pValue: inner.as_ptr() as *mut _,
                ulValueLen: std::mem::size_of::<CK_ATTRIBUTE>() as CK_ULONG,
            },
        ];
        let t = unsafe { template(outer.as_ptr(), 2) }.unwrap();
        assert_eq!(t[0].value, b"lbl");
        assert_eq!(decode_template(&t[1].value).unwrap(), vec![Attr::new(CKA_SENSITIVE, vec![1])]);
        assert_eq!(unsafe { template(std::ptr::null(), 1) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
    }

    #[test]
    fn output_convention() {
        let mut len: CK_ULONG = 0;
        unsafe { output(std::ptr::null_mut(), &mut len, |o| Ok(if o.is_none() { 42 } else { 0 })) }.unwrap();
        assert_eq!(len, 42);
        let mut buf = [0u8; 4];
        len = 4;
        let e = unsafe { output(buf.as_mut_ptr(), &mut len, |_| Err(Error::buffer_too_small(9))) }.unwrap_err();
        assert_eq!((e.rv(), len), (CKR_BUFFER_TOO_SMALL, 9));
        assert_eq!(pad::<4>("abcdef"), *b"abcd");
        assert_eq!(pad::<4>("é"), *b"\xc3\xa9  ");
    }
}
