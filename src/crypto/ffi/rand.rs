//! Random bytes from AWS-LC's DRBG with caller-supplied SP 800-90A
//! additional input (`RAND_bytes_with_user_prediction_resistance`): the
//! engine side of C_SeedRandom, used by `crypto::rand`.

use super::{Failed, check};
use aws_lc_sys as sys;

/// The length of the additional input [`random_with_additional_input`]
/// takes (AWS-LC's `RAND_PRED_RESISTANCE_LEN`).
pub const ADDITIONAL_INPUT_LEN: usize = 32;
const _: () = assert!(sys::RAND_PRED_RESISTANCE_LEN as usize == ADDITIONAL_INPUT_LEN);

/// Fills `out` from AWS-LC's DRBG (the per-thread CTR-DRBG `RAND_bytes`
/// uses) with `input` as SP 800-90A additional input to the generate call:
/// `RAND_bytes_with_user_prediction_resistance` XORs it into the engine's own
/// prediction-resistance bytes (if any) and passes the result to
/// `CTR_DRBG_generate`, whose update step folds it into the thread's DRBG
/// state before and after output. The engine's seeding and reseeding from
/// the OS are unchanged: the input is mixed in, it never replaces entropy.
pub fn random_with_additional_input(out: &mut [u8], input: &[u8; ADDITIONAL_INPUT_LEN]) -> Result<(), Failed> {
    if out.is_empty() {
        return Ok(());
    }
    // SAFETY: `out` is writable for `out.len()` bytes and `input` holds the
    // RAND_PRED_RESISTANCE_LEN (32) bytes the function reads; it returns 1
    // or aborts.
    check(unsafe { sys::RAND_bytes_with_user_prediction_resistance(out.as_mut_ptr(), out.len(), input.as_ptr()) })
}
