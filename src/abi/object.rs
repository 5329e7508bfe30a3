//! Object management: C_CreateObject, C_CopyObject, C_DestroyObject,
//! C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue and the
//! C_FindObjects* trio.

use super::lib;
use super::template::{attr_types, template, write_attrs};
use super::util::{MAX_DATA, OutParam, out, slice_mut};
use crate::ck::*;
use crate::error::Error;

export! {
    fn C_CreateObject(
        h: CK_SESSION_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
        ph_object: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let t = template(p_template, ul_count)?;
        let o = out(ph_object)?;
        *o = l.create_object(h, &t)?;
        Ok(())
    }

    fn C_CopyObject(
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
        ph_new_object: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let t = template(p_template, ul_count)?;
        let o = out(ph_new_object)?;
        *o = l.copy_object(h, obj, &t)?;
        Ok(())
    }

    fn C_DestroyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) {
        lib()?.destroy_object(h, obj)
    }

    fn C_GetObjectSize(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, pul_size: CK_ULONG_PTR) {
        let l = lib()?;
        let o = out(pul_size)?;
        *o = l.object_size(h, obj)?;
        Ok(())
    }

    /// Every entry is answered (PKCS#11 2.40 §5.7); see
    /// [`write_attrs`](super::template::write_attrs).
    fn C_GetAttributeValue(
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
    ) {
        let l = lib()?;
        let types = attr_types(p_template, ul_count)?;
        let values = l.get_attribute_values(h, obj, &types)?;
        write_attrs(p_template, ul_count, &values)
    }

    fn C_SetAttributeValue(
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
    ) {
        let l = lib()?;
        let t = template(p_template, ul_count)?;
        l.set_attribute_values(h, obj, &t)
    }

    fn C_FindObjectsInit(h: CK_SESSION_HANDLE, p_template: CK_ATTRIBUTE_PTR, ul_count: CK_ULONG) {
        let l = lib()?;
        let t = template(p_template, ul_count)?;
        l.find_objects_init(h, &t)
    }

    fn C_FindObjects(
        h: CK_SESSION_HANDLE,
        ph_object: CK_OBJECT_HANDLE_PTR,
        ul_max_object_count: CK_ULONG,
        pul_object_count: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        // Written after the array: no `&mut` over the count while the
        // array is borrowed (a caller may point one into the other).
        let count = OutParam::new(pul_object_count)?;
        if ph_object.is_null() {
            return Err(Error::args("NULL object handle array"));
        }
        let max = ul_max_object_count.min(MAX_DATA);
        let dst = slice_mut(ph_object, max, MAX_DATA)?;
        let found = l.find_objects(h, dst.len())?;
        let n = found.len().min(dst.len());
        dst[..n].copy_from_slice(&found[..n]);
        count.set(n as CK_ULONG);
        Ok(())
    }

    fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) {
        lib()?.find_objects_final(h)
    }
}
