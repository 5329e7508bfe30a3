//! The C boundary: with the engine FFI (`crypto::ffi`), one of the two
//! places where the crate allows unsafe code (DESIGN.md §1).
//!
//! Owns: the exported `C_*` symbols, the static function tables and
//! interfaces, and the conversion of raw C arguments into plain Rust values
//! (slices, output buffers, templates, mechanism parameters), done once per
//! call before the safe API in `library.rs` runs. Must not hold policy: every
//! decision about keys, objects, sessions or PINs belongs below this layer.
//!
//! Every exported body runs under [`guard`], which catches panics (they become
//! `CKR_GENERAL_ERROR`, never an unwind into the host application) and turns
//! an [`Error`](crate::error::Error) into its `CK_RV`, logging the reason.
//!
//! Files: `util` (pointer helpers, fixed-size strings), `template` (CK_ATTRIBUTE arrays in and out), `mechanism`
//! (CK_MECHANISM parameters), `tables` (function lists and 3.0 interfaces),
//! and one file per group of functions: `general`, `session`, `object`,
//! `crypto` (also the output-length convention, `Output`/`InOut`, which
//! C_WrapKey and the message calls borrow: a C_Sign walks abi/crypto.rs ->
//! library.rs -> token/session.rs -> mechanism/* -> crypto/* -> the
//! engine), `message` (the 3.0 message-based AEAD calls), `keys`,
//! `unsupported`.
#![allow(non_snake_case, clippy::missing_safety_doc)]

use crate::ck::*;
use crate::error::Result;
use crate::library::{self, Library};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// Declares exported PKCS#11 functions: each becomes a
/// `#[unsafe(no_mangle)] pub unsafe extern "C" fn` whose body returns
/// `Result<()>` and runs under [`guard`].
macro_rules! export {
    ($( $(#[$attr:meta])* fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $body:block )*) => {
        $(
            $(#[$attr])*
            #[unsafe(no_mangle)]
            #[allow(unused_unsafe)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
                $crate::abi::guard(stringify!($name), || {
                    // SAFETY: the arguments come from a PKCS#11 caller, who
                    // passes NULL or pointers valid for the lengths given
                    // beside them (the Cryptoki contract). The helpers of
                    // `util`, `template` and `mechanism` reject NULLs,
                    // misaligned pointers and absurd lengths before they form
                    // a reference, and no reference outlives the call.
                    unsafe { $body }
                })
            }
        )*
    };
}

mod crypto;
mod general;
mod kdf_param;
mod keys;
mod list32;
mod mechanism;
mod message;
mod object;
mod session;
mod tables;
mod template;
mod unsupported;
mod util;
mod v32;

/// Runs the body of an exported function: catches panics and maps the
/// result to a `CK_RV`, logging the reason of an error.
pub(crate) fn guard(name: &str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            // Debug for the ordinary outcomes (CKR_BUFFER_TOO_SMALL ...),
            // higher for real failures: one policy, in `logging`.
            crate::logging::returned(name, &e);
            e.rv()
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(non-string panic payload)");
            log::error!("{name}: panic caught at the C boundary: {msg}");
            CKR_GENERAL_ERROR
        }
    }
}

/// The global library, or `CKR_CRYPTOKI_NOT_INITIALIZED` (also in a forked
/// child that has not called C_Initialize again). Every function but
/// C_Initialize and the table getters starts here.
fn lib() -> Result<Arc<Library>> {
    library::global()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn guard_maps_errors_and_panics() {
        assert_eq!(guard("t", || Ok(())), CKR_OK);
        assert_eq!(guard("t", || Err(Error::buffer_too_small(3))), CKR_BUFFER_TOO_SMALL);
        assert_eq!(guard("t", || panic!("boom")), CKR_GENERAL_ERROR);
    }
}
