//! Key management and random numbers: C_GenerateKey, C_GenerateKeyPair,
//! C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom.

use super::crypto::output;
use super::lib;
use super::mechanism::mechanism;
use super::template::template;
use super::util::{OutParam, bytes, bytes_mut, out};
use crate::ck::*;

export! {
    fn C_GenerateKey(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
        ph_key: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        let t = template(p_template, ul_count)?;
        let o = out(ph_key)?;
        *o = l.generate_key(h, &mech, &t)?;
        Ok(())
    }

    fn C_GenerateKeyPair(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        p_public_template: CK_ATTRIBUTE_PTR,
        ul_public_count: CK_ULONG,
        p_private_template: CK_ATTRIBUTE_PTR,
        ul_private_count: CK_ULONG,
        ph_public_key: CK_OBJECT_HANDLE_PTR,
        ph_private_key: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        let public = template(p_public_template, ul_public_count)?;
        let private = template(p_private_template, ul_private_count)?;
        // Two out-parameters a caller may point at the same place: no two
        // `&mut`s over them.
        let o_pub = OutParam::new(ph_public_key)?;
        let o_priv = OutParam::new(ph_private_key)?;
        let (public, private) = l.generate_key_pair(h, &mech, &public, &private)?;
        o_pub.set(public);
        o_priv.set(private);
        Ok(())
    }

    fn C_WrapKey(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        p_wrapped: CK_BYTE_PTR,
        pul_wrapped_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        output(p_wrapped, pul_wrapped_len, |o| l.wrap_key(h, &mech, wrapping_key, key, o))
    }

    fn C_UnwrapKey(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        unwrapping_key: CK_OBJECT_HANDLE,
        p_wrapped: CK_BYTE_PTR,
        ul_wrapped_len: CK_ULONG,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
        ph_key: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        let wrapped = bytes(p_wrapped, ul_wrapped_len)?;
        let t = template(p_template, ul_count)?;
        // Written after the call: no `&mut` over it while `wrapped` is
        // borrowed (a caller may point it into that buffer).
        let o = OutParam::new(ph_key)?;
        o.set(l.unwrap_key(h, &mech, unwrapping_key, wrapped, &t)?);
        Ok(())
    }

    fn C_DeriveKey(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        base_key: CK_OBJECT_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_count: CK_ULONG,
        ph_key: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        let t = template(p_template, ul_count)?;
        // SP 800-108's additional keys: their handles are written after
        // the call, each through its own checked pointer.
        let extra = super::kdf_param::additional_key_outputs(&*p_mechanism)?;
        let o = OutParam::new(ph_key)?;
        match l.derive_keys(h, &mech, base_key, &t) {
            Ok((key, more)) => {
                o.set(key);
                for (out, h) in extra.iter().zip(more) {
                    out.set(h);
                }
                Ok(())
            }
            Err(e) => {
                for out in &extra {
                    out.set(CK_INVALID_HANDLE);
                }
                Err(e)
            }
        }
    }

    fn C_SeedRandom(h: CK_SESSION_HANDLE, p_seed: CK_BYTE_PTR, ul_seed_len: CK_ULONG) {
        let l = lib()?;
        l.seed_random(h, bytes(p_seed, ul_seed_len)?)
    }

    /// A fixed-size output: the caller's buffer is filled completely.
    fn C_GenerateRandom(h: CK_SESSION_HANDLE, p_random: CK_BYTE_PTR, ul_random_len: CK_ULONG) {
        let l = lib()?;
        l.generate_random(h, bytes_mut(p_random, ul_random_len)?)
    }
}
