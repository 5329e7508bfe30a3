# OpenSSL 3 CMS with an EC key in the token (pkcs11-provider): a message
# encrypted by plain openssl to a P-256 (and a P-521) recipient certificate
# (ECDH, dhSinglePass-stdDH-sha*kdf: the ANSI X9.63 KDF) is decrypted by
# `openssl cms -decrypt` with the token's key, which sends CKM_ECDH1_DERIVE
# with CKD_SHA*_KDF and the CMS SharedInfo (checked with pkcs11-spy:
# kdf = CKD_SHA1_KDF, 23 bytes of shared data); the plaintext must come
# back byte for byte. Before the X9.63 KDFs this failed with
# CKR_MECHANISM_PARAM_INVALID (issue 20).
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
pkcs11_provider "$PIN"
expect "init token" "initialized" "${P11[@]}" --init-token --label cms --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
printf 'a CMS message for a keyward EC key\n' > msg.txt
for c in prime256v1:02:p256 secp521r1:05:p521; do
  curve=${c%%:*}; rest=${c#*:}; id=${rest%%:*}; name=${rest#*:}
  expect "pkcs11-tool makes a $curve key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:$curve --id $id --label $name --usage-sign --usage-derive
  step "self-signed $curve certificate with the token key" openssl req "${PROV[@]}" -new -x509 -key "pkcs11:token=cms;object=$name;type=private" -subj "/CN=$name" -days 1 -out $name.crt
  for md in sha1 sha256; do
    step "plain openssl encrypts to the $curve certificate ($md KDF)" plain openssl cms -encrypt -binary -in msg.txt -out $name-$md.p7 -outform DER -aes256 -recip $name.crt -keyopt ecdh_kdf_md:$md
    step "openssl cms -decrypt with the token's $curve key ($md KDF)" openssl cms "${PROV[@]}" -decrypt -binary -inform DER -in $name-$md.p7 -recip $name.crt -inkey "pkcs11:token=cms;object=$name;type=private" -out $name-$md.txt
    same "the $curve plaintext comes back ($md KDF)" msg.txt $name-$md.txt
  done
done
