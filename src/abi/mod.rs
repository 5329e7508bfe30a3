//! The C boundary: the only unsafe code of the crate (DESIGN.md §1).
//!
//! Every exported function converts its raw arguments once (slices, output
//! buffers, templates, mechanism parameters) and calls the safe API in
//! `library.rs` under [`guard`], which catches panics and maps `Error` to its
//! `CK_RV`. No policy lives here.
#![allow(non_snake_case, clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

mod functions;
mod mechanism;
mod tables;
mod util;

use crate::ck::*;
use crate::error::Result;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, catching panics; the reason of an error goes to the log.
pub(crate) fn guard(name: &str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            crate::logging::returned(name, &e);
            e.rv()
        }
        Err(_) => {
            log::error!("{name}: internal panic caught at the C boundary");
            CKR_GENERAL_ERROR
        }
    }
}
