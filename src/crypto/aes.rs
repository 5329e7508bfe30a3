//! AES primitives (placeholder; being written).
use super::{CryptoError, CryptoResult};

/// Engine key state for one AES key (GCM key, block cipher schedules).
pub struct Prepared {}

impl Prepared {
    pub fn new(key: &[u8]) -> CryptoResult<Prepared> {
        match key.len() {
            16 | 24 | 32 => Ok(Prepared {}),
            _ => Err(CryptoError::InvalidKey),
        }
    }
}
