# pkcs11-tool (OpenSC), tried as a new user would: token init, PINs, AES key
# generation, listing from a second process, encrypt/decrypt round trips
# cross-checked with openssl.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456

expect "init token" "initialized" "${P11[@]}" --init-token --label interop --so-pin $SO
expect "token shows initialized" "token initialized" "${P11[@]}" --list-slots
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "generate AES-256 key k1" "Secret Key Object" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --label k1 --id 01 --extractable
expect "second process lists k1" "label: +k1" "${P11[@]}" --login --pin $PIN --list-objects
expect "change user PIN" "PIN successfully changed" "${P11[@]}" --login --pin $PIN --change-pin --new-pin 654321
PIN=654321
refuse "old PIN refused" "CKR_PIN_INCORRECT" "${P11[@]}" --login --pin 123456 --list-objects
expect "new PIN works" "label: +k1" "${P11[@]}" --login --pin $PIN --list-objects

head -c 64 /dev/urandom > plain.bin
IV=000102030405060708090a0b0c0d0e0f
step "AES-CBC encrypt" "${P11[@]}" --login --pin $PIN --encrypt --id 01 -m AES-CBC --iv $IV -i plain.bin -o ct.bin
step "AES-CBC decrypt" "${P11[@]}" --login --pin $PIN --decrypt --id 01 -m AES-CBC --iv $IV -i ct.bin -o back.bin
same "AES-CBC round trip" plain.bin back.bin
head -c 50 /dev/urandom > odd.bin
step "AES-CBC-PAD encrypt" "${P11[@]}" --login --pin $PIN --encrypt --id 01 -m AES-CBC-PAD --iv $IV -i odd.bin -o ctp.bin
step "AES-CBC-PAD decrypt" "${P11[@]}" --login --pin $PIN --decrypt --id 01 -m AES-CBC-PAD --iv $IV -i ctp.bin -o backp.bin
same "AES-CBC-PAD round trip" odd.bin backp.bin

# (pkcs11-tool 0.23 picks the key for --encrypt/--decrypt by --id, not --label.)
# Cross-check with openssl: a key created from known bytes, encrypted in the
# token, decrypted by openssl.
KEYHEX=8f1e3a5c7b9d0f2e4a6c8e0b1d3f5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f
printf '%s' "$KEYHEX" | xxd -r -p > known.key
step "import known AES key" "${P11[@]}" --login --pin $PIN --write-object known.key --type secrkey --key-type AES:32 --label known --id 02 --usage-decrypt
step "encrypt with imported key" "${P11[@]}" --login --pin $PIN --encrypt --id 02 -m AES-CBC-PAD --iv $IV -i odd.bin -o ctk.bin
step "openssl decrypts token ciphertext" openssl enc -d -aes-256-cbc -K $KEYHEX -iv $IV -in ctk.bin -out backk.bin
same "openssl agrees with the token" odd.bin backk.bin
openssl enc -aes-256-cbc -K $KEYHEX -iv $IV -in plain.bin -out cto.bin 2>/dev/null
step "token decrypts openssl ciphertext" "${P11[@]}" --login --pin $PIN --decrypt --id 02 -m AES-CBC-PAD --iv $IV -i cto.bin -o backo.bin
same "token agrees with openssl" plain.bin backo.bin

expect "random bytes" "." "${P11[@]}" --generate-random 32
expect "SHA-256 digest matches openssl" "$(openssl dgst -sha256 -r plain.bin | cut -c1-64)" sh -c "\"\$0\" \"\$@\" | xxd -p -c 64" "${P11[@]}" --hash -m SHA256 -i plain.bin
expect "mechanism list" "AES-GCM" "${P11[@]}" -M
