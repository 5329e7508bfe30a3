//! Link libkeyward.so with `-z nodelete`: the crypto engine registers
//! thread-local destructors in the host's threads, so the module must stay
//! mapped after a client's dlclose (as other PKCS#11 modules do).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
