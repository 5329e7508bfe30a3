//! Session management: C_OpenSession, C_CloseSession, C_CloseAllSessions,
//! C_GetSessionInfo, C_Login, C_LoginUser, C_Logout, C_SessionCancel.

use super::lib;
use super::util::{bytes, out};
use crate::ck::*;

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
        l.login(h, user, bytes(p_pin, ul_pin_len)?)
    }

    /// 3.0: keyward has one user per role, so the user name is checked as
    /// an argument and otherwise ignored.
    fn C_LoginUser(
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        p_pin: CK_UTF8CHAR_PTR,
        ul_pin_len: CK_ULONG,
        p_username: CK_UTF8CHAR_PTR,
        ul_username_len: CK_ULONG,
    ) {
        let l = lib()?;
        bytes(p_username, ul_username_len)?;
        l.login(h, user, bytes(p_pin, ul_pin_len)?)
    }

    fn C_Logout(h: CK_SESSION_HANDLE) {
        lib()?.logout(h)
    }

    fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        lib()?.session_cancel(h, flags)
    }
}
