# Java SunPKCS11 (single-file program, interop/java/KeywardInterop.java):
# KeyStore "PKCS11" lists keys made with pkcs11-tool, AES/GCM/NoPadding,
# SHA256withRSA and SHA256withECDSA with token keys verified in software,
# and `keytool -list` on the token.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
printf 'name = keyward\nlibrary = %s\nslotListIndex = 0\n' "$MODULE" > "$WORK/pkcs11.cfg"
expect "init token" "initialized" "${P11[@]}" --init-token --label java-token --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes RSA-2048 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type rsa:2048 --id 01 --label rsakey --usage-sign
expect "pkcs11-tool makes AES key" "Secret Key Object" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --id 02 --label aeskey
timeout 120 java "$ROOT/interop/java/KeywardInterop.java" "$WORK/pkcs11.cfg" $PIN > java.out 2>&1
expect "SunPKCS11 provider configured" "^provider SunPKCS11-keyward" cat java.out
expect "KeyStore PKCS11 lists the AES key" "^alias aeskey key=true" cat java.out
expect "AES/GCM/NoPadding round trip" "^aes-gcm ok" cat java.out
expect "SHA256withRSA with a token key" "^SHA256withRSA ok" cat java.out
expect "SHA256withECDSA with a token key" "^SHA256withECDSA ok" cat java.out
expect "keytool -list shows the token's secret key" "aeskey, SecretKeyEntry" timeout 60 keytool -list -keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 -providerArg "$WORK/pkcs11.cfg" -storepass $PIN
