//! A sequence of PKCS#11 calls through the safe API (the same one the C ABI
//! calls), chosen by the input: open/close sessions, login with the right or
//! a wrong PIN, create objects from fuzzed templates, find, encrypt/decrypt,
//! sign/verify, destroy, logout. One token per process (temp dir, fast
//! PBKDF2, generous PIN attempts); every call must return, never panic.
#![no_main]
use keyward::config::Config;
use keyward::library::Library;
use keyward::types::{Attr, InitOptions, MechParam, Mechanism};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const SO: &[u8] = b"so-pin-fuzz";
const USER: &[u8] = b"user-pin-fuzz";

static LIB: LazyLock<Library> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("keyward-fuzz-seq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let text = format!(
        "[policy]\npbkdf2_iterations = 1\nmax_pin_attempts = 1000000\n[audit]\nenabled = false\n[kms]\ndeletion_grace = \"0\"\n[[slot]]\npath = \"{}\"\n",
        dir.join("token").display()
    );
    let config = Config::parse(&text, None, "fuzz").expect("config");
    let lib = Library::new(config, InitOptions { no_threads: true }).expect("library");
    lib.init_token(0, SO, "fuzz").expect("init token");
    let s = lib.open_session(0, 0x6).expect("session"); // CKF_SERIAL_SESSION | CKF_RW_SESSION
    lib.login(s, 0, SO).expect("so login");
    lib.init_pin(s, USER).expect("init pin");
    lib.close_session(s).expect("close");
    lib
});

fn template(d: &[u8]) -> Vec<Attr> {
    const TYPES: [u64; 12] = [0x0, 0x100, 0x1, 0x2, 0x3, 0x11, 0x161, 0x104, 0x105, 0x108, 0x109, 0x162];
    d.chunks(3)
        .map(|c| {
            let ty = TYPES[c[0] as usize % TYPES.len()];
            let value = match ty {
                0x0 => (4u64 + (c.get(1).copied().unwrap_or(0) % 2) as u64).to_ne_bytes().to_vec(), // data/secret key
                0x100 => [0x1fu64, 0x10, 0x1][c.get(1).copied().unwrap_or(0) as usize % 3].to_ne_bytes().to_vec(),
                0x11 => vec![c.get(1).copied().unwrap_or(1); 16 + (c.get(2).copied().unwrap_or(0) as usize % 3) * 8],
                0x161 => (16u64 * (1 + c.get(1).copied().unwrap_or(0) as u64 % 3)).to_ne_bytes().to_vec(),
                0x3 => c.get(1..).unwrap_or(&[]).to_vec(),
                _ => vec![c.get(1).copied().unwrap_or(0) & 1],
            };
            Attr { ty, value }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let lib = &*LIB;
    let mut sessions: Vec<u64> = Vec::new();
    let mut objects: Vec<u64> = Vec::new();
    let mut buf = vec![0u8; 4096];
    for step in data.chunks(8) {
        let payload = step.get(2..).unwrap_or(&[]);
        let op = step[0] % 12;
        let arg = step.get(1).copied().unwrap_or(0) as usize;
        let s = sessions.get(arg % sessions.len().max(1)).copied().unwrap_or(0);
        let o = objects.get(arg % objects.len().max(1)).copied().unwrap_or(0);
        match op {
            0 => {
                if let Ok(h) = lib.open_session(0, if arg & 1 == 0 { 0x6 } else { 0x4 }) {
                    sessions.push(h);
                }
            }
            1 => {
                let _ = lib.close_session(s);
                sessions.retain(|x| *x != s);
            }
            2 => {
                let _ = lib.login(s, (arg % 3) as u64, if arg & 4 == 0 { USER } else { b"wrong" });
            }
            3 => {
                let _ = lib.logout(s);
            }
            4 => {
                if let Ok(h) = lib.create_object(s, &template(payload)) {
                    objects.push(h);
                }
            }
            5 => {
                if let Ok(h) =
                    lib.generate_key(s, &Mechanism { ty: 0x1080, param: MechParam::None }, &template(payload))
                {
                    objects.push(h);
                }
            }
            6 => {
                if lib.find_objects_init(s, &template(payload)).is_ok() {
                    let _ = lib.find_objects(s, arg);
                    let _ = lib.find_objects_final(s);
                }
            }
            7 | 8 => {
                let mech = Mechanism {
                    ty: [0x1087, 0x1082, 0x1085, 0x2109][arg % 4],
                    param: match arg % 4 {
                        0 => MechParam::Gcm { iv: payload.to_vec(), aad: vec![], tag_bits: 128 },
                        1 | 2 => MechParam::Bytes(vec![step.get(2).copied().unwrap_or(0); 16]),
                        _ => MechParam::None,
                    },
                };
                let enc = op == 7;
                let init = if enc { lib.encrypt_init(s, &mech, o) } else { lib.decrypt_init(s, &mech, o) };
                if init.is_ok() {
                    let input = payload;
                    let r =
                        if enc { lib.encrypt(s, input, Some(&mut buf)) } else { lib.decrypt(s, input, Some(&mut buf)) };
                    let _ = r;
                }
            }
            9 => {
                let mech = Mechanism { ty: 0x0251, param: MechParam::None }; // CKM_SHA256_HMAC
                if lib.sign_init(s, &mech, o).is_ok() {
                    let _ = lib.sign(s, payload, Some(&mut buf));
                }
                if lib.verify_init(s, &mech, o).is_ok() {
                    let _ = lib.verify(s, payload, &buf[..32]);
                }
            }
            10 => {
                let _ = lib.destroy_object(s, o);
                objects.retain(|x| *x != o);
            }
            _ => {
                let _ = lib.get_attribute_values(s, o, &[0x0, 0x3, 0x11, 0x161, 0x162]);
            }
        }
    }
    for s in sessions {
        let _ = lib.close_session(s);
    }
});
