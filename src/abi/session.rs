//! Session management: C_OpenSession, C_CloseSession, C_CloseAllSessions,
//! C_GetSessionInfo, C_Login, C_LoginUser, C_Logout, C_SessionCancel; the
//! PIN argument rule of every PIN-taking function.

use super::lib;
use super::util::{bytes, out};
use crate::ck::*;
use crate::error::Error;

/// A PIN argument (C_Login, C_LoginUser, C_InitToken, C_InitPIN,
/// C_SetPIN). keyward has no protected authentication path
/// (CKF_PROTECTED_AUTHENTICATION_PATH is never set), so a NULL PIN, with
/// any length, is `CKR_ARGUMENTS_BAD`, refused here before the library is
/// called: it is not a wrong PIN and never counts as a failed attempt.
///
/// # Safety
/// As [`bytes`].
pub(super) unsafe fn pin<'a>(p: *const u8, len: CK_ULONG) -> crate::Result<&'a [u8]> {
    if p.is_null() {
        return Err(Error::args("NULL PIN (the token has no protected authentication path)"));
    }
    // SAFETY: forwarded contract.
    unsafe { bytes(p, len) }
}

export! {
    /// `pApplication` and `Notify` are accepted and ignored (keyward sends
    /// no callbacks).
    fn C_OpenSession(
        slot_id: CK_SLOT_ID,
        flags: CK_FLAGS,
        _p_application: CK_VOID_PTR,
        _notify: CK_NOTIFY,
        ph_session: CK_SESSION_HANDLE_PTR,
    ) {
        let l = lib()?;
        // Checked first: a session nobody can name must not be opened.
        let h = out(ph_session)?;
        *h = l.open_session(slot_id, flags)?;
        Ok(())
    }

    fn C_CloseSession(h: CK_SESSION_HANDLE) {
        lib()?.close_session(h)
    }

    fn C_CloseAllSessions(slot_id: CK_SLOT_ID) {
        lib()?.close_all_sessions(slot_id)
    }

    fn C_GetSessionInfo(h: CK_SESSION_HANDLE, p_info: CK_SESSION_INFO_PTR) {
        let l = lib()?;
        let o = out(p_info)?;
        let i = l.session_info(h)?;
        *o = CK_SESSION_INFO { slotID: i.slot, state: i.state, flags: i.flags, ulDeviceError: i.device_error };
        Ok(())
    }

    fn C_Login(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: CK_UTF8CHAR_PTR, ul_pin_len: CK_ULONG) {
        let l = lib()?;
        l.login(h, user, pin(p_pin, ul_pin_len)?)
    }

    /// 3.0: logs in as the named user `pUsername` (UTF-8; `default` or the
    /// slot's mapped user for CKU_USER, `so` for CKU_SO: see
    /// `Token::login_as`).
    fn C_LoginUser(
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        p_pin: CK_UTF8CHAR_PTR,
        ul_pin_len: CK_ULONG,
        p_username: CK_UTF8CHAR_PTR,
        ul_username_len: CK_ULONG,
    ) {
        let l = lib()?;
        let name = std::str::from_utf8(bytes(p_username, ul_username_len)?)
            .map_err(|_| Error::new(CKR_ARGUMENTS_BAD, "the user name is not UTF-8"))?;
        l.login_user(h, user, pin(p_pin, ul_pin_len)?, Some(name))
    }

    fn C_Logout(h: CK_SESSION_HANDLE) {
        lib()?.logout(h)
    }

    fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        lib()?.session_cancel(h, flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_pin_is_bad_arguments_whatever_its_length() {
        for len in [0, 4, CK_ULONG::MAX] {
            assert_eq!(unsafe { pin(std::ptr::null(), len) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        }
        let empty = [0u8; 0];
        assert_eq!(unsafe { pin(empty.as_ptr(), 0) }.unwrap(), b"");
        assert_eq!(unsafe { pin(b"1234".as_ptr(), 4) }.unwrap(), b"1234");
    }
}
