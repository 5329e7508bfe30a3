//! keyward: a software HSM with the key management of a cloud KMS, exposed
//! as a PKCS#11 module (`libkeyward.so`) and an admin CLI (`keyward`).
//!
//! Layers (see DESIGN.md §1): `abi` (the C boundary) -> `library` (process
//! state) -> `token` (tokens, PINs, sessions, operations) -> `object`
//! (attributes and policy) -> `mechanism` (operations) -> `crypto`
//! (primitives, one provider seam; the engine FFI in `crypto::ffi`) and
//! `store` (SQLite, sealing at rest).
//!
//! `unsafe` code is denied crate-wide and allowed in exactly two modules,
//! the two foreign boundaries: `abi` (below) and `crypto::ffi` (on its
//! declaration in `crypto/mod.rs`).
#![deny(unsafe_code)]

pub mod audit;
pub mod ck;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod kms;
pub mod library;
pub mod logging;
pub mod mechanism;
pub mod object;
pub mod store;
pub mod time;
pub mod token;
pub mod types;

#[allow(unsafe_code)]
mod abi;

pub use error::{Error, Result};
