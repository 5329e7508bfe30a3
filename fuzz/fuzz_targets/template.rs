//! Attribute templates (as the ABI hands them over: type + value bytes)
//! through the object layer's validation for every origin.
#![no_main]
use keyward::object::template::{Origin, build};
use keyward::types::Attr;
use libfuzzer_sys::fuzz_target;

/// [tag: u8 (< 0x80: index into real attribute types; else a raw u32 type follows)][len: u8][value]...
fn attrs(mut d: &[u8]) -> Vec<Attr> {
    const TYPES: [u64; 24] = [
        0x0, 0x1, 0x2, 0x3, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10C, 0x11,
        0x161, 0x162, 0x164, 0x170, 0x180, 0x181, 0x120,
    ];
    let mut v = Vec::new();
    while let Some((&tag, rest)) = d.split_first() {
        let (ty, rest) = if tag & 0x80 == 0 {
            (TYPES[(tag as usize) % TYPES.len()], rest)
        } else {
            let Some(raw) = rest.get(..4) else { break };
            (u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as u64, &rest[4..])
        };
        let Some((&len, rest)) = rest.split_first() else { break };
        let n = (len as usize).min(rest.len());
        v.push(Attr { ty, value: rest[..n].to_vec() });
        d = &rest[n..];
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let t = attrs(data);
    for origin in
        [Origin::Create, Origin::Generate(0x1080), Origin::Generate(0x1040), Origin::Unwrap, Origin::Derive(0x1050)]
    {
        let _ = build(&t, &[], origin);
    }
});
