//! Attribute templates (as the ABI hands them over: type + value bytes)
//! through the object layer's validation for every origin.
#![no_main]
use keyward::object::template::{Origin, build};
use keyward::types::Attr;
use libfuzzer_sys::fuzz_target;

/// [type: u8 index into a table of real attribute types, or raw u32][len: u8][value]...
fn attrs(mut d: &[u8]) -> Vec<Attr> {
    const TYPES: [u64; 24] = [
        0x0, 0x1, 0x2, 0x3, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10C,
        0x11, 0x161, 0x162, 0x164, 0x170, 0x180, 0x181, 0x120,
    ];
    let mut v = Vec::new();
    while d.len() >= 2 {
        let ty = if d[0] & 0x80 == 0 {
            TYPES[(d[0] as usize) % TYPES.len()]
        } else if d.len() >= 5 {
            let t = u32::from_le_bytes([d[1], d[2], d[3], d[4]]) as u64;
            d = &d[4..];
            t
        } else {
            break;
        };
        let n = (d[1] as usize).min(d.len() - 2);
        v.push(Attr { ty, value: d[2..2 + n].to_vec() });
        d = &d[2 + n..];
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let t = attrs(data);
    for origin in [Origin::Create, Origin::Generate(0x1080), Origin::Generate(0x1040), Origin::Unwrap, Origin::Derive(0x1050)] {
        let _ = build(&t, &[], origin);
    }
});
