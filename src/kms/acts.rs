//! What lifecycle acts name and return: the versions an act applies to and
//! the result of a rotation. Data only; the acts themselves run on the
//! token (`token::lifecycle`).

use crate::ck::*;
use crate::types::Handle;

/// Which versions a lifecycle call acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    All,
    One(u64),
}

impl Versions {
    pub(crate) fn has(&self, v: CK_ULONG) -> bool {
        match self {
            Versions::All => true,
            Versions::One(n) => *n == v as u64,
        }
    }
}

/// The result of a rotation: the new version and its handles (secret key:
/// one; pair: public then private).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    pub version: u64,
    pub handles: Vec<Handle>,
}

impl crate::audit::Outcome for Rotated {
    fn created(&self) -> Vec<Handle> {
        self.handles.clone()
    }
}
