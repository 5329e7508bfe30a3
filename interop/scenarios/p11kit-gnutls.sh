# p11-kit and GnuTLS (p11tool): the module registered with a p11-kit module
# file, listed by `p11-kit list-modules`, its token and keys listed by
# p11tool, and `p11tool --test-sign` on RSA and EC keys made with
# pkcs11-tool; p11tool also generates a key itself.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
export GNUTLS_PIN=$PIN GNUTLS_SO_PIN=$SO
# p11-kit ignores ~/.config/pkcs11 for root, so as root the module file goes
# to /etc/pkcs11/modules (enabled only for p11-kit and p11tool) and is removed
# at the end of the scenario.
if [ "$(id -u)" = 0 ]; then
  MODDIR=/etc/pkcs11/modules
else
  export HOME=$WORK/home
  MODDIR=$HOME/.config/pkcs11/modules
fi
MODFILE=$MODDIR/keyward-interop.module
mkdir -p "$MODDIR"
printf 'module: %s\nenable-in: p11-kit, p11tool\n' "$MODULE" > "$MODFILE"
trap 'rm -f "$MODFILE"' EXIT

expect "init token" "initialized" "${P11[@]}" --init-token --label gnutls --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes RSA-2048 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type rsa:2048 --id 01 --label rsakey --usage-sign --usage-decrypt
expect "pkcs11-tool makes P-256 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:prime256v1 --id 02 --label eckey --usage-sign

expect "p11-kit list-modules shows the module" "^keyward-interop: .*libkeyward\.so" p11-kit list-modules
expect "p11-kit list-modules shows its token" "token: gnutls" sh -c 'p11-kit list-modules | sed -n "/^keyward-interop:/,/^[^ ]/p"'
expect "p11-kit shows the token initialized" "token-initialized" sh -c 'p11-kit list-modules | sed -n "/^keyward-interop:/,/^[^ ]/p"'
expect "p11tool --list-tokens finds the token" "token=gnutls" p11tool --list-tokens
expect "p11tool --list-all lists the RSA private key" "Private key \(RSA-2048\)" p11tool --login --list-all 'pkcs11:token=gnutls'
expect "p11tool --list-all lists the EC key with its label and id" "token=gnutls;id=%02;object=eckey;type=private" p11tool --login --list-all 'pkcs11:token=gnutls'
expect "private keys are sensitive and never extractable" "CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE" p11tool --login --list-privkeys 'pkcs11:token=gnutls;object=rsakey'
expect "p11tool --test-sign with the RSA key" "Verifying against public key in the token\.\.\. ok" p11tool --login --test-sign 'pkcs11:token=gnutls;object=rsakey'
expect "p11tool --test-sign with the EC key" "Verifying against public key in the token\.\.\. ok" p11tool --login --test-sign 'pkcs11:token=gnutls;object=eckey'
step "p11tool exports the EC public key" sh -c "p11tool --export-pubkey 'pkcs11:token=gnutls;object=eckey' > ec-gnutls.pem"
"${P11[@]}" --read-object --type pubkey --id 02 -o ec-tool.der >/dev/null 2>&1
expect "p11tool's public key equals pkcs11-tool's" "^same$" sh -c 'openssl pkey -pubin -in ec-gnutls.pem -outform DER | cmp -s - ec-tool.der && echo same'
expect "p11tool --provider finds the token without p11-kit" "token=gnutls" p11tool --provider "$MODULE" --list-tokens
expect "p11tool generates a P-256 key" "BEGIN PUBLIC KEY" p11tool --provider "$MODULE" --login --generate-privkey ecdsa --curve secp256r1 --label gkey --id 03 'pkcs11:token=gnutls'
expect "p11tool --test-sign with its own key" "Verifying against public key in the token\.\.\. ok" p11tool --provider "$MODULE" --login --test-sign 'pkcs11:token=gnutls;object=gkey'
expect "pkcs11-tool sees p11tool's key" "label: +gkey" "${P11[@]}" --login --pin $PIN --list-objects --type privkey

rm -f "$MODFILE"
