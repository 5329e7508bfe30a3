//! Every exported PKCS#11 function: argument conversion, then the safe API.

use super::guard;
use super::mechanism::mechanism;
use super::util::*;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::library::{self, Library};
use crate::types::InitOptions;
use std::sync::Arc;

macro_rules! export {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) $body:block )*) => {
        $(
            #[unsafe(no_mangle)]
            #[allow(unused_unsafe, unused_variables)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
                guard(stringify!($name), || unsafe { $body })
            }
        )*
    };
}

fn lib() -> Result<Arc<Library>> {
    library::global()
}

fn unsupported(what: &str) -> Result<()> {
    lib()?;
    Err(Error::not_supported(format!("{what} is not supported")))
}

fn version(v: (u8, u8)) -> CK_VERSION {
    CK_VERSION { major: v.0, minor: v.1 }
}

export! {
    C_Initialize(p_init_args: CK_VOID_PTR) {
        let mut opts = InitOptions::default();
        if !p_init_args.is_null() {
            let a = &*(p_init_args as *const CK_C_INITIALIZE_ARGS);
            let fns = [
                a.CreateMutex.is_some(),
                a.DestroyMutex.is_some(),
                a.LockMutex.is_some(),
                a.UnlockMutex.is_some(),
            ];
            let n = fns.iter().filter(|x| **x).count();
            if n != 0 && n != 4 {
                return Err(Error::args("either all or none of the mutex functions must be supplied"));
            }
            if n == 4 && a.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(Error::new(CKR_CANT_LOCK, "keyward locks with OS primitives only"));
            }
            opts.no_threads = a.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS != 0;
            opts.config_path = c_path(a.pReserved as *const std::ffi::c_char);
        }
        library::initialize(opts)
    }

    C_Finalize(p_reserved: CK_VOID_PTR) {
        if !p_reserved.is_null() {
            return Err(Error::args("pReserved must be NULL"));
        }
        library::finalize()
    }

    C_GetInfo(p_info: CK_INFO_PTR) {
        let i = lib()?.info();
        let o = out(p_info)?;
        *o = CK_INFO {
            cryptokiVersion: version(i.cryptoki_version),
            manufacturerID: pad(&i.manufacturer),
            flags: 0,
            libraryDescription: pad(&i.description),
            libraryVersion: version(i.library_version),
        };
        Ok(())
    }

    C_GetSlotList(token_present: CK_BBOOL, p_slot_list: CK_SLOT_ID_PTR, pul_count: CK_ULONG_PTR) {
        let slots = lib()?.slot_list(token_present != 0);
        ulong_list(p_slot_list, pul_count, &slots)
    }

    C_GetSlotInfo(slot_id: CK_SLOT_ID, p_info: CK_SLOT_INFO_PTR) {
        let i = lib()?.slot_info(slot_id)?;
        *out(p_info)? = CK_SLOT_INFO {
            slotDescription: pad(&i.description),
            manufacturerID: pad(&i.manufacturer),
            flags: i.flags,
            hardwareVersion: version(i.hardware_version),
            firmwareVersion: version(i.firmware_version),
        };
        Ok(())
    }

    C_GetTokenInfo(slot_id: CK_SLOT_ID, p_info: CK_TOKEN_INFO_PTR) {
        let i = lib()?.token_info(slot_id)?;
        *out(p_info)? = CK_TOKEN_INFO {
            label: pad(&i.label),
            manufacturerID: pad(&i.manufacturer),
            model: pad(&i.model),
            serialNumber: pad(&i.serial),
            flags: i.flags,
            ulMaxSessionCount: i.max_session_count,
            ulSessionCount: i.session_count,
            ulMaxRwSessionCount: i.max_rw_session_count,
            ulRwSessionCount: i.rw_session_count,
            ulMaxPinLen: i.max_pin_len,
            ulMinPinLen: i.min_pin_len,
            ulTotalPublicMemory: i.total_public_memory,
            ulFreePublicMemory: i.free_public_memory,
            ulTotalPrivateMemory: i.total_private_memory,
            ulFreePrivateMemory: i.free_private_memory,
            hardwareVersion: version(i.hardware_version),
            firmwareVersion: version(i.firmware_version),
            utcTime: pad(&i.utc_time),
        };
        Ok(())
    }

    C_GetMechanismList(slot_id: CK_SLOT_ID, p_list: CK_MECHANISM_TYPE_PTR, pul_count: CK_ULONG_PTR) {
        let l = lib()?.mechanism_list(slot_id)?;
        ulong_list(p_list, pul_count, &l)
    }

    C_GetMechanismInfo(slot_id: CK_SLOT_ID, ty: CK_MECHANISM_TYPE, p_info: CK_MECHANISM_INFO_PTR) {
        let i = lib()?.mechanism_info(slot_id, ty)?;
        *out(p_info)? = CK_MECHANISM_INFO { ulMinKeySize: i.min_key_size, ulMaxKeySize: i.max_key_size, flags: i.flags };
        Ok(())
    }

    C_InitToken(slot_id: CK_SLOT_ID, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG, p_label: CK_UTF8CHAR_PTR) {
        let l = lib()?;
        let pin = bytes(p_pin, ul_pin_len)?;
        let label = bytes(p_label, 32).map_err(|_| Error::args("NULL label"))?;
        let label = String::from_utf8_lossy(label);
        l.init_token(slot_id, pin, label.trim_end_matches([' ', '\0']))
    }

    C_InitPIN(h: CK_SESSION_HANDLE, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG) {
        let l = lib()?;
        l.init_pin(h, bytes(p_pin, ul_pin_len)?)
    }

    C_SetPIN(h: CK_SESSION_HANDLE, p_old: CK_UTF8CHAR_PTR, ul_old: CK_ULONG, p_new: CK_UTF8CHAR_PTR, ul_new: CK_ULONG) {
        let l = lib()?;
        l.set_pin(h, bytes(p_old, ul_old)?, bytes(p_new, ul_new)?)
    }

    C_OpenSession(slot_id: CK_SLOT_ID, flags: CK_FLAGS, p_app: CK_VOID_PTR, notify: CK_NOTIFY, ph: CK_SESSION_HANDLE_PTR) {
        let l = lib()?;
        let o = out(ph)?;
        *o = l.open_session(slot_id, flags)?;
        Ok(())
    }

    C_CloseSession(h: CK_SESSION_HANDLE) {
        lib()?.close_session(h)
    }

    C_CloseAllSessions(slot_id: CK_SLOT_ID) {
        lib()?.close_all_sessions(slot_id)
    }

    C_GetSessionInfo(h: CK_SESSION_HANDLE, p_info: CK_SESSION_INFO_PTR) {
        let l = lib()?;
        let o = out(p_info)?;
        let i = l.session_info(h)?;
        *o = CK_SESSION_INFO { slotID: i.slot, state: i.state, flags: i.flags, ulDeviceError: i.device_error };
        Ok(())
    }

    C_GetOperationState(h: CK_SESSION_HANDLE, p_state: CK_BYTE_PTR, pul_len: CK_ULONG_PTR) {
        lib()?.session_info(h)?;
        Err(Error::not_supported("operation state cannot be saved"))
    }

    C_SetOperationState(h: CK_SESSION_HANDLE, p_state: CK_BYTE_PTR, ul_len: CK_ULONG, enc: CK_OBJECT_HANDLE, auth: CK_OBJECT_HANDLE) {
        lib()?.session_info(h)?;
        Err(Error::not_supported("operation state cannot be restored"))
    }

    C_Login(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG) {
        let l = lib()?;
        l.login(h, user, bytes(p_pin, ul_pin_len)?)
    }

    C_LoginUser(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG, p_name: CK_UTF8CHAR_PTR, ul_name: CK_ULONG) {
        let l = lib()?;
        bytes(p_name, ul_name)?;
        l.login(h, user, bytes(p_pin, ul_pin_len)?)
    }

    C_Logout(h: CK_SESSION_HANDLE) {
        lib()?.logout(h)
    }

    C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        lib()?.session_cancel(h, flags)
    }

    C_CreateObject(h: CK_SESSION_HANDLE, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG, ph: CK_OBJECT_HANDLE_PTR) {
        let l = lib()?;
        let t = template(p_t, n)?;
        let o = out(ph)?;
        *o = l.create_object(h, &t)?;
        Ok(())
    }

    C_CopyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG, ph: CK_OBJECT_HANDLE_PTR) {
        let l = lib()?;
        let t = template(p_t, n)?;
        let o = out(ph)?;
        *o = l.copy_object(h, obj, &t)?;
        Ok(())
    }

    C_DestroyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) {
        lib()?.destroy_object(h, obj)
    }

    C_GetObjectSize(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, pul_size: CK_ULONG_PTR) {
        let l = lib()?;
        let o = out(pul_size)?;
        *o = l.object_size(h, obj)?;
        Ok(())
    }

    C_GetAttributeValue(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        let types = attr_types(p_t, n)?;
        let values = l.get_attribute_values(h, obj, &types)?;
        write_attrs(p_t, n, values)
    }

    C_SetAttributeValue(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        let t = template(p_t, n)?;
        l.set_attribute_values(h, obj, &t)
    }

    C_FindObjectsInit(h: CK_SESSION_HANDLE, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        let t = template(p_t, n)?;
        l.find_objects_init(h, &t)
    }

    C_FindObjects(h: CK_SESSION_HANDLE, ph: CK_OBJECT_HANDLE_PTR, max: CK_ULONG, pul_count: CK_ULONG_PTR) {
        let l = lib()?;
        let count = out(pul_count)?;
        if ph.is_null() {
            return Err(Error::args("NULL handle array"));
        }
        let found = l.find_objects(h, max.min(MAX_DATA) as usize)?;
        std::ptr::copy_nonoverlapping(found.as_ptr(), ph, found.len());
        *count = found.len() as CK_ULONG;
        Ok(())
    }

    C_FindObjectsFinal(h: CK_SESSION_HANDLE) {
        lib()?.find_objects_final(h)
    }

    C_EncryptInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        l.encrypt_init(h, &mechanism(m)?, key)
    }
    C_Encrypt(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let d = bytes(p, n)?;
        output(po, pn, |o| l.encrypt(h, d, o))
    }
    C_EncryptUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let d = bytes(p, n)?;
        output(po, pn, |o| l.encrypt_update(h, d, o))
    }
    C_EncryptFinal(h: CK_SESSION_HANDLE, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        output(po, pn, |o| l.encrypt_final(h, o))
    }

    C_DecryptInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        l.decrypt_init(h, &mechanism(m)?, key)
    }
    C_Decrypt(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let d = bytes(p, n)?;
        output(po, pn, |o| l.decrypt(h, d, o))
    }
    C_DecryptUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let d = bytes(p, n)?;
        output(po, pn, |o| l.decrypt_update(h, d, o))
    }
    C_DecryptFinal(h: CK_SESSION_HANDLE, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        output(po, pn, |o| l.decrypt_final(h, o))
    }

    C_DigestInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR) {
        let l = lib()?;
        l.digest_init(h, &mechanism(m)?)
    }
    C_Digest(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let d = bytes(p, n)?;
        output(po, pn, |o| l.digest(h, d, o))
    }
    C_DigestUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        l.digest_update(h, bytes(p, n)?)
    }
    C_DigestKey(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) {
        lib()?.digest_key(h, key)
    }
    C_DigestFinal(h: CK_SESSION_HANDLE, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        output(po, pn, |o| l.digest_final(h, o))
    }

    C_SignInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        l.sign_init(h, &mechanism(m)?, key)
    }
    C_Sign(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let d = bytes(p, n)?;
        output(po, pn, |o| l.sign(h, d, o))
    }
    C_SignUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        l.sign_update(h, bytes(p, n)?)
    }
    C_SignFinal(h: CK_SESSION_HANDLE, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        output(po, pn, |o| l.sign_final(h, o))
    }

    C_VerifyInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        l.verify_init(h, &mechanism(m)?, key)
    }
    C_Verify(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, ps: CK_BYTE_PTR, ns: CK_ULONG) {
        let l = lib()?;
        l.verify(h, bytes(p, n)?, bytes(ps, ns)?)
    }
    C_VerifyUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        l.verify_update(h, bytes(p, n)?)
    }
    C_VerifyFinal(h: CK_SESSION_HANDLE, ps: CK_BYTE_PTR, ns: CK_ULONG) {
        let l = lib()?;
        l.verify_final(h, bytes(ps, ns)?)
    }

    C_GenerateKey(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG, ph: CK_OBJECT_HANDLE_PTR) {
        let l = lib()?;
        let mech = mechanism(m)?;
        let t = template(p_t, n)?;
        let o = out(ph)?;
        *o = l.generate_key(h, &mech, &t)?;
        Ok(())
    }

    C_GenerateKeyPair(
        h: CK_SESSION_HANDLE,
        m: CK_MECHANISM_PTR,
        p_pub: CK_ATTRIBUTE_PTR,
        n_pub: CK_ULONG,
        p_priv: CK_ATTRIBUTE_PTR,
        n_priv: CK_ULONG,
        ph_pub: CK_OBJECT_HANDLE_PTR,
        ph_priv: CK_OBJECT_HANDLE_PTR
    ) {
        let l = lib()?;
        let mech = mechanism(m)?;
        let pt = template(p_pub, n_pub)?;
        let vt = template(p_priv, n_priv)?;
        let o1 = out(ph_pub)?;
        let o2 = out(ph_priv)?;
        let (a, b) = l.generate_key_pair(h, &mech, &pt, &vt)?;
        *o1 = a;
        *o2 = b;
        Ok(())
    }

    C_WrapKey(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, wrapping: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) {
        let l = lib()?;
        let mech = mechanism(m)?;
        output(po, pn, |o| l.wrap_key(h, &mech, wrapping, key, o))
    }

    C_UnwrapKey(
        h: CK_SESSION_HANDLE,
        m: CK_MECHANISM_PTR,
        unwrapping: CK_OBJECT_HANDLE,
        p_w: CK_BYTE_PTR,
        n_w: CK_ULONG,
        p_t: CK_ATTRIBUTE_PTR,
        n: CK_ULONG,
        ph: CK_OBJECT_HANDLE_PTR
    ) {
        let l = lib()?;
        let mech = mechanism(m)?;
        let w = bytes(p_w, n_w)?;
        let t = template(p_t, n)?;
        let o = out(ph)?;
        *o = l.unwrap_key(h, &mech, unwrapping, w, &t)?;
        Ok(())
    }

    C_DeriveKey(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, base: CK_OBJECT_HANDLE, p_t: CK_ATTRIBUTE_PTR, n: CK_ULONG, ph: CK_OBJECT_HANDLE_PTR) {
        let l = lib()?;
        let mech = mechanism(m)?;
        let t = template(p_t, n)?;
        let o = out(ph)?;
        *o = l.derive_key(h, &mech, base, &t)?;
        Ok(())
    }

    C_SeedRandom(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        l.seed_random(h, bytes(p, n)?)
    }

    C_GenerateRandom(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG) {
        let l = lib()?;
        l.generate_random(h, bytes_mut(p, n)?)
    }

    C_GetFunctionStatus(h: CK_SESSION_HANDLE) {
        lib()?;
        Err(Error::new(CKR_FUNCTION_NOT_PARALLEL, "no parallel functions"))
    }

    C_CancelFunction(h: CK_SESSION_HANDLE) {
        lib()?;
        Err(Error::new(CKR_FUNCTION_NOT_PARALLEL, "no parallel functions"))
    }

    C_WaitForSlotEvent(flags: CK_FLAGS, p_slot: CK_SLOT_ID_PTR, p_reserved: CK_VOID_PTR) {
        lib()?;
        if flags & CKF_DONT_BLOCK != 0 {
            return Err(Error::new(CKR_NO_EVENT, "slots never change"));
        }
        Err(Error::not_supported("slots never change; blocking wait is not supported"))
    }

    C_SignRecoverInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) { unsupported("C_SignRecoverInit") }
    C_SignRecover(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_SignRecover") }
    C_VerifyRecoverInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) { unsupported("C_VerifyRecoverInit") }
    C_VerifyRecover(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_VerifyRecover") }
    C_DigestEncryptUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_DigestEncryptUpdate") }
    C_DecryptDigestUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_DecryptDigestUpdate") }
    C_SignEncryptUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_SignEncryptUpdate") }
    C_DecryptVerifyUpdate(h: CK_SESSION_HANDLE, p: CK_BYTE_PTR, n: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_DecryptVerifyUpdate") }

    C_MessageEncryptInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) { unsupported("C_MessageEncryptInit") }
    C_EncryptMessage(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pa: CK_BYTE_PTR, na: CK_ULONG, pi: CK_BYTE_PTR, ni: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_EncryptMessage") }
    C_EncryptMessageBegin(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pa: CK_BYTE_PTR, na: CK_ULONG) { unsupported("C_EncryptMessageBegin") }
    C_EncryptMessageNext(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pi: CK_BYTE_PTR, ni: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR, f: CK_FLAGS) { unsupported("C_EncryptMessageNext") }
    C_MessageEncryptFinal(h: CK_SESSION_HANDLE) { unsupported("C_MessageEncryptFinal") }
    C_MessageDecryptInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) { unsupported("C_MessageDecryptInit") }
    C_DecryptMessage(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pa: CK_BYTE_PTR, na: CK_ULONG, pi: CK_BYTE_PTR, ni: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_DecryptMessage") }
    C_DecryptMessageBegin(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pa: CK_BYTE_PTR, na: CK_ULONG) { unsupported("C_DecryptMessageBegin") }
    C_DecryptMessageNext(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pi: CK_BYTE_PTR, ni: CK_ULONG, po: CK_BYTE_PTR, pn: CK_ULONG_PTR, f: CK_FLAGS) { unsupported("C_DecryptMessageNext") }
    C_MessageDecryptFinal(h: CK_SESSION_HANDLE) { unsupported("C_MessageDecryptFinal") }
    C_MessageSignInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) { unsupported("C_MessageSignInit") }
    C_SignMessage(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pd: CK_BYTE_PTR, nd: CK_ULONG, ps: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_SignMessage") }
    C_SignMessageBegin(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG) { unsupported("C_SignMessageBegin") }
    C_SignMessageNext(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pd: CK_BYTE_PTR, nd: CK_ULONG, ps: CK_BYTE_PTR, pn: CK_ULONG_PTR) { unsupported("C_SignMessageNext") }
    C_MessageSignFinal(h: CK_SESSION_HANDLE) { unsupported("C_MessageSignFinal") }
    C_MessageVerifyInit(h: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) { unsupported("C_MessageVerifyInit") }
    C_VerifyMessage(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pd: CK_BYTE_PTR, nd: CK_ULONG, ps: CK_BYTE_PTR, ns: CK_ULONG) { unsupported("C_VerifyMessage") }
    C_VerifyMessageBegin(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG) { unsupported("C_VerifyMessageBegin") }
    C_VerifyMessageNext(h: CK_SESSION_HANDLE, pp: CK_VOID_PTR, np: CK_ULONG, pd: CK_BYTE_PTR, nd: CK_ULONG, ps: CK_BYTE_PTR, ns: CK_ULONG) { unsupported("C_VerifyMessageNext") }
    C_MessageVerifyFinal(h: CK_SESSION_HANDLE) { unsupported("C_MessageVerifyFinal") }
}
