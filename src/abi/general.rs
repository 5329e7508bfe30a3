//! General-purpose, slot and token functions: C_Initialize, C_Finalize,
//! C_GetInfo, the slot and mechanism lists and infos, C_InitToken,
//! C_InitPIN, C_SetPIN.

use super::lib;
use super::session::pin;
use super::util::{bytes, out, pad, ulong_list, unpad, version};
use crate::ck::*;
use crate::error::Error;
use crate::library;
use crate::types::InitOptions;

/// Validates CK_C_INITIALIZE_ARGS. keyward always locks with OS
/// primitives, so application mutex callbacks are accepted only alongside
/// CKF_OS_LOCKING_OK. `pReserved` must be NULL (v2.40 §5.4): it is compared,
/// never dereferenced, whatever the caller put there. The configuration
/// comes from `$KEYWARD_CONF` and the search path (DESIGN.md §6) only.
fn init_options(a: &CK_C_INITIALIZE_ARGS) -> crate::Result<InitOptions> {
    if !a.pReserved.is_null() {
        return Err(Error::args("CK_C_INITIALIZE_ARGS.pReserved must be NULL"));
    }
    let given = [a.CreateMutex.is_some(), a.DestroyMutex.is_some(), a.LockMutex.is_some(), a.UnlockMutex.is_some()];
    let n = given.iter().filter(|g| **g).count();
    if n != 0 && n != given.len() {
        return Err(Error::args("either all four mutex functions or none must be supplied"));
    }
    if n == given.len() && a.flags & CKF_OS_LOCKING_OK == 0 {
        return Err(Error::new(CKR_CANT_LOCK, "keyward locks with OS primitives only (set CKF_OS_LOCKING_OK)"));
    }
    Ok(InitOptions { no_threads: a.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS != 0 })
}

extern "C" fn child_after_fork() {
    library::note_fork_in_child();
    crate::crypto::rand::note_fork_in_child();
}

/// Registers the fork handler once per process (see `library::global`).
fn register_fork_handler() -> crate::Result<()> {
    static REGISTERED: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    // SAFETY: pthread_atfork with a child handler that only does an atomic
    // add; the module is linked -z nodelete, so the handler's code stays
    // mapped for the life of the process.
    let rc = *REGISTERED.get_or_init(|| unsafe { libc::pthread_atfork(None, None, Some(child_after_fork)) });
    if rc != 0 {
        return Err(Error::new(CKR_GENERAL_ERROR, format!("pthread_atfork failed ({rc})")));
    }
    // Forks are noticed from here on: the identifier pool can trust the
    // fork epoch instead of asking for the process id per identifier.
    crate::crypto::rand::watch_forks();
    Ok(())
}

export! {
    fn C_Initialize(p_init_args: CK_VOID_PTR) {
        register_fork_handler()?;
        let opts = if p_init_args.is_null() {
            InitOptions::default()
        } else {
            // SAFETY: the spec requires pInitArgs to point at a
            // CK_C_INITIALIZE_ARGS; a copy, as the caller's struct need not
            // be aligned. Its pReserved is only compared with NULL.
            init_options(&std::ptr::read_unaligned(p_init_args as *const CK_C_INITIALIZE_ARGS))?
        };
        library::initialize(opts)
    }

    fn C_Finalize(p_reserved: CK_VOID_PTR) {
        if !p_reserved.is_null() {
            return Err(Error::args("pReserved must be NULL"));
        }
        library::finalize()
    }

    fn C_GetInfo(p_info: CK_INFO_PTR) {
        let i = lib()?.info();
        *out(p_info)? = CK_INFO {
            cryptokiVersion: version(i.cryptoki_version),
            manufacturerID: pad(&i.manufacturer),
            flags: 0,
            libraryDescription: pad(&i.description),
            libraryVersion: version(i.library_version),
        };
        Ok(())
    }

    fn C_GetSlotList(token_present: CK_BBOOL, p_slot_list: CK_SLOT_ID_PTR, pul_count: CK_ULONG_PTR) {
        let slots = lib()?.slot_list(token_present != CK_FALSE);
        ulong_list(p_slot_list, pul_count, &slots)
    }

    fn C_GetSlotInfo(slot_id: CK_SLOT_ID, p_info: CK_SLOT_INFO_PTR) {
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

    fn C_GetTokenInfo(slot_id: CK_SLOT_ID, p_info: CK_TOKEN_INFO_PTR) {
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

    fn C_GetMechanismList(slot_id: CK_SLOT_ID, p_list: CK_MECHANISM_TYPE_PTR, pul_count: CK_ULONG_PTR) {
        let list = lib()?.mechanism_list(slot_id)?;
        ulong_list(p_list, pul_count, &list)
    }

    fn C_GetMechanismInfo(slot_id: CK_SLOT_ID, ty: CK_MECHANISM_TYPE, p_info: CK_MECHANISM_INFO_PTR) {
        let i = lib()?.mechanism_info(slot_id, ty)?;
        *out(p_info)? =
            CK_MECHANISM_INFO { ulMinKeySize: i.min_key_size, ulMaxKeySize: i.max_key_size, flags: i.flags };
        Ok(())
    }

    fn C_InitToken(slot_id: CK_SLOT_ID, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG, p_label: CK_UTF8CHAR_PTR) {
        let l = lib()?;
        let so_pin = pin(p_pin, ul_pin_len)?;
        if p_label.is_null() {
            return Err(Error::args("NULL token label"));
        }
        // The label is 32 bytes, blank padded.
        let label = unpad(bytes(p_label, 32)?);
        l.init_token(slot_id, so_pin, &label)
    }

    fn C_InitPIN(h: CK_SESSION_HANDLE, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG) {
        let l = lib()?;
        l.init_pin(h, pin(p_pin, ul_pin_len)?)
    }

    fn C_SetPIN(
        h: CK_SESSION_HANDLE,
        p_old: CK_UTF8CHAR_PTR,
        ul_old_len: CK_ULONG,
        p_new: CK_UTF8CHAR_PTR,
        ul_new_len: CK_ULONG,
    ) {
        let l = lib()?;
        l.set_pin(h, pin(p_old, ul_old_len)?, pin(p_new, ul_new_len)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn create(_: CK_VOID_PTR_PTR) -> CK_RV {
        CKR_OK
    }
    unsafe extern "C" fn other(_: CK_VOID_PTR) -> CK_RV {
        CKR_OK
    }

    fn args(flags: CK_FLAGS, fns: usize) -> CK_C_INITIALIZE_ARGS {
        CK_C_INITIALIZE_ARGS {
            CreateMutex: (fns > 0).then_some(create as unsafe extern "C" fn(CK_VOID_PTR_PTR) -> CK_RV),
            DestroyMutex: (fns > 1).then_some(other as unsafe extern "C" fn(CK_VOID_PTR) -> CK_RV),
            LockMutex: (fns > 2).then_some(other as unsafe extern "C" fn(CK_VOID_PTR) -> CK_RV),
            UnlockMutex: (fns > 3).then_some(other as unsafe extern "C" fn(CK_VOID_PTR) -> CK_RV),
            flags,
            pReserved: std::ptr::null_mut(),
        }
    }

    #[test]
    fn the_four_locking_cases() {
        let rv = |a: CK_C_INITIALIZE_ARGS| init_options(&a).map(|_| CKR_OK).unwrap_or_else(|e| e.rv());
        assert_eq!(rv(args(0, 0)), CKR_OK);
        assert_eq!(rv(args(CKF_OS_LOCKING_OK, 0)), CKR_OK);
        assert_eq!(rv(args(CKF_OS_LOCKING_OK, 4)), CKR_OK);
        assert_eq!(rv(args(0, 4)), CKR_CANT_LOCK);
        assert_eq!(rv(args(CKF_OS_LOCKING_OK, 2)), CKR_ARGUMENTS_BAD);
        assert_eq!(rv(args(0, 1)), CKR_ARGUMENTS_BAD);
        assert!(init_options(&args(CKF_LIBRARY_CANT_CREATE_OS_THREADS, 0)).unwrap().no_threads);
    }

    #[test]
    fn reserved_must_be_null_and_is_never_read() {
        // Pointers nobody may dereference: a small integer, the top of the
        // address space, and a real string (the old config-path extension).
        for p in [1usize as CK_VOID_PTR, usize::MAX as CK_VOID_PTR, c"/tmp/k.toml".as_ptr() as CK_VOID_PTR] {
            let mut a = args(CKF_OS_LOCKING_OK, 0);
            a.pReserved = p;
            assert_eq!(init_options(&a).unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        }
    }
}
