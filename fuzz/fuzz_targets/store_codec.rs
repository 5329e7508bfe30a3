//! The store's attribute-blob decoder: never panics, and what it accepts
//! re-encodes to something that decodes to the same attributes.
#![no_main]
use keyward::store::codec::{decode_attrs, encode_attrs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(attrs) = decode_attrs(data) {
        let again = encode_attrs(attrs.iter().map(|(t, v)| (*t, v.as_slice())));
        let back = decode_attrs(&again).expect("re-encoded blob must decode");
        assert_eq!(back, attrs);
    }
});
