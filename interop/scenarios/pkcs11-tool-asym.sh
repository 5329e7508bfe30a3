# pkcs11-tool with RSA and EC keys: key pair generation of every supported
# type, signatures checked by openssl from the exported public key, OAEP
# decryption of openssl ciphertext, ECDH derive, every RSA/ECDSA signature
# mechanism the tool offers, OAEP hash/MGF1 combinations, wrap/unwrap round
# trips, and `--test`.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
step "init token" "${P11[@]}" --init-token --label asym --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
printf 'data to sign, from the interop suite\n' > msg.txt

i=10
for kt in rsa:2048 rsa:3072 rsa:4096 EC:prime256v1 EC:secp384r1 EC:secp256k1; do
  i=$((i+1))
  expect "keypairgen $kt" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type $kt --id $i --label "kp$i" --usage-sign --usage-decrypt $( [ "${kt%%:*}" = EC ] && echo --usage-derive )
  if [ "${kt%%:*}" = EC ]; then
    # pkcs11-tool 0.23's --read-object of an EC public key frees the group
    # name before OpenSSL reads it (valgrind: strcmp in
    # EC_GROUP_new_from_params on memory pkcs11-tool freed), so it fails
    # ("cannot create EVP_PKEY", "invalid encoding") or not depending on
    # the heap of the process: always for P-384, for P-256 and secp256k1
    # with some allocation patterns of the loaded module. Build the
    # SubjectPublicKeyInfo from the listed CKA_EC_POINT instead (the
    # attribute the export would read).
    case $kt in
      EC:prime256v1) spki=3059301306072a8648ce3d020106082a8648ce3d030107034200 ;;
      EC:secp384r1) spki=3076301006072a8648ce3d020106052b81040022036200 ;;
      EC:secp256k1) spki=3056301006072a8648ce3d020106052b8104000a034200 ;;
    esac
    # The listing shows every public key (pkcs11-tool ignores --id there):
    # the point of the one with ID $i, less its DER OCTET STRING header
    # (04 and one length byte).
    point=$("${P11[@]}" --list-objects --type pubkey 2>/dev/null \
      | awk -v id=$i '/^ *EC_POINT:/ {p = $2} /^ *ID:/ && $2 == id {print substr(p, 5)}')
    step "export public key $kt (from CKA_EC_POINT)" sh -c "printf '%s' $spki$point | xxd -r -p > pub$i.der"
  else
    step "export public key $kt" "${P11[@]}" --read-object --type pubkey --id $i -o pub$i.der
  fi
  step "openssl reads public key $kt" openssl pkey -pubin -inform DER -in pub$i.der -out pub$i.pem
  case $kt in
    rsa:*)
      step "sign SHA256-RSA-PKCS $kt" "${P11[@]}" --login --pin $PIN --sign --id $i -m SHA256-RSA-PKCS -i msg.txt -o sig$i.bin
      expect "openssl verifies $kt PKCS#1 signature" "Verified OK" openssl dgst -sha256 -verify pub$i.pem -signature sig$i.bin msg.txt
      step "sign SHA256-RSA-PKCS-PSS $kt" "${P11[@]}" --login --pin $PIN --sign --id $i -m SHA256-RSA-PKCS-PSS -i msg.txt -o pss$i.bin
      expect "openssl verifies $kt PSS signature" "Verified OK" openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify pub$i.pem -signature pss$i.bin msg.txt
      head -c 32 /dev/urandom > secret$i.bin
      step "openssl OAEP-SHA256 encrypts to $kt" openssl pkeyutl -encrypt -pubin -inkey pub$i.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in secret$i.bin -out oaep$i.bin
      step "token decrypts OAEP-SHA256 $kt" "${P11[@]}" --login --pin $PIN --decrypt --id $i -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 -i oaep$i.bin -o back$i.bin
      same "OAEP round trip $kt" secret$i.bin back$i.bin
      ;;
    EC:*)
      step "sign ECDSA-SHA256 $kt" "${P11[@]}" --login --pin $PIN --sign --id $i -m ECDSA-SHA256 --signature-format openssl -i msg.txt -o sig$i.bin
      expect "openssl verifies $kt ECDSA signature" "Verified OK" openssl dgst -sha256 -verify pub$i.pem -signature sig$i.bin msg.txt
      ;;
  esac
done

# ECDH: derive with the token's P-256 key (id 14) and an openssl peer key.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.pem 2>/dev/null
openssl pkey -in peer.pem -pubout -outform DER -out peer.der 2>/dev/null
step "ECDH derive with openssl peer" "${P11[@]}" --login --pin $PIN --derive --id 14 -m ECDH1-DERIVE --input-file peer.der --output-file shared.bin
openssl pkeyutl -derive -inkey peer.pem -peerkey pub14.pem -out shared-openssl.bin 2>/dev/null
same "ECDH secret equals openssl's" shared.bin shared-openssl.bin

expect "key listing shows the pairs" "kp16" "${P11[@]}" --login --pin $PIN --list-objects

# Every RSA signature mechanism pkcs11-tool offers, on the RSA-2048 key (id
# 11): signed by the token, verified by openssl from the exported public key
# and by the token (--verify).
openssl dgst -sha256 -binary msg.txt > msg.sha256
for h in sha1 sha224 sha256 sha384 sha512; do
  H=$(echo $h | tr a-z A-Z)
  step "sign $H-RSA-PKCS" "${P11[@]}" --login --pin $PIN --sign --id 11 -m $H-RSA-PKCS -i msg.txt -o rs-$h.bin
  expect "openssl verifies $H-RSA-PKCS" "Verified OK" openssl dgst -$h -verify pub11.pem -signature rs-$h.bin msg.txt
  expect "token verifies $H-RSA-PKCS" "Signature is valid" "${P11[@]}" --login --pin $PIN --verify --id 11 -m $H-RSA-PKCS -i msg.txt --signature-file rs-$h.bin
  step "sign $H-RSA-PKCS-PSS" "${P11[@]}" --login --pin $PIN --sign --id 11 -m $H-RSA-PKCS-PSS -i msg.txt -o rp-$h.bin
  expect "openssl verifies $H-RSA-PKCS-PSS" "Verified OK" openssl dgst -$h -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify pub11.pem -signature rp-$h.bin msg.txt
  expect "token verifies $H-RSA-PKCS-PSS" "Signature is valid" "${P11[@]}" --login --pin $PIN --verify --id 11 -m $H-RSA-PKCS-PSS -i msg.txt --signature-file rp-$h.bin
done
# Raw CKM_RSA_PKCS of arbitrary bytes (not a DigestInfo): openssl recovers them.
step "sign RSA-PKCS (raw data)" "${P11[@]}" --login --pin $PIN --sign --id 11 -m RSA-PKCS -i msg.txt -o rs-raw.bin
step "openssl recovers RSA-PKCS input" openssl pkeyutl -verifyrecover -pubin -inkey pub11.pem -in rs-raw.bin -out rs-raw.out
same "RSA-PKCS recovered data equals the input" msg.txt rs-raw.out
expect "token verifies RSA-PKCS" "Signature is valid" "${P11[@]}" --login --pin $PIN --verify --id 11 -m RSA-PKCS -i msg.txt --signature-file rs-raw.bin
# CKM_RSA_PKCS_PSS over a SHA-256 digest, MGF1-SHA1 (differs from the hash).
step "sign RSA-PKCS-PSS (digest, MGF1-SHA1)" "${P11[@]}" --login --pin $PIN --sign --id 11 -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA1 -i msg.sha256 -o rp-raw.bin
expect "openssl verifies RSA-PKCS-PSS with MGF1-SHA1" "Signature Verified Successfully" openssl pkeyutl -verify -pubin -inkey pub11.pem -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_mgf1_md:sha1 -pkeyopt rsa_pss_saltlen:-1 -in msg.sha256 -sigfile rp-raw.bin
# CKM_RSA_X_509 (raw RSA): openssl recovers the zero-padded block.
head -c 255 /dev/urandom > x509.in
step "sign RSA-X-509" "${P11[@]}" --login --pin $PIN --sign --id 11 -m RSA-X-509 -i x509.in -o x509.sig
step "openssl recovers RSA-X-509 input" openssl pkeyutl -verifyrecover -pubin -inkey pub11.pem -pkeyopt rsa_padding_mode:none -in x509.sig -out x509.out
step "RSA-X-509 recovered block is 00 || input" sh -c "{ printf '\\000'; cat x509.in; } | cmp -s - x509.out"

# OAEP with every hash, and MGF1 hashes that differ from it: openssl
# encrypts to the exported key, the token decrypts.
for pair in sha1:sha1 sha224:sha224 sha384:sha384 sha512:sha512 sha256:sha1 sha1:sha256 sha224:sha512; do
  h=${pair%%:*}; g=${pair#*:}
  H=$(echo $h | tr a-z A-Z); G=$(echo $g | tr a-z A-Z)
  head -c 24 /dev/urandom > oaep-in-$h-$g.bin
  step "openssl OAEP $H/MGF1-$G encrypts" openssl pkeyutl -encrypt -pubin -inkey pub11.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:$h -pkeyopt rsa_mgf1_md:$g -in oaep-in-$h-$g.bin -out oaep-ct-$h-$g.bin
  HA=$([ "$h" = sha1 ] && echo SHA-1 || echo "$H")   # pkcs11-tool's name for SHA-1
  step "token decrypts OAEP $H/MGF1-$G" "${P11[@]}" --login --pin $PIN --decrypt --id 11 -m RSA-PKCS-OAEP --hash-algorithm $HA --mgf MGF1-$G -i oaep-ct-$h-$g.bin -o oaep-out-$h-$g.bin
  same "OAEP $H/MGF1-$G round trip" oaep-in-$h-$g.bin oaep-out-$h-$g.bin
done

# Every ECDSA mechanism on P-256 (14), P-384 (15) and secp256k1 (16).
for i in 14 15 16; do
  openssl dgst -sha256 -binary msg.txt > ec-digest.bin
  step "sign ECDSA (raw digest) key $i" "${P11[@]}" --login --pin $PIN --sign --id $i -m ECDSA --signature-format openssl -i ec-digest.bin -o ec-raw-$i.bin
  expect "openssl verifies ECDSA key $i" "Signature Verified Successfully" openssl pkeyutl -verify -pubin -inkey pub$i.pem -in ec-digest.bin -sigfile ec-raw-$i.bin
  for h in sha1 sha224 sha256 sha384 sha512; do
    H=$(echo $h | tr a-z A-Z)
    step "sign ECDSA-$H key $i" "${P11[@]}" --login --pin $PIN --sign --id $i -m ECDSA-$H --signature-format openssl -i msg.txt -o ec-$h-$i.bin
    expect "openssl verifies ECDSA-$H key $i" "Verified OK" openssl dgst -$h -verify pub$i.pem -signature ec-$h-$i.bin msg.txt
    step "sign ECDSA-$H key $i (raw r||s)" "${P11[@]}" --login --pin $PIN --sign --id $i -m ECDSA-$H -i msg.txt -o ecr-$h-$i.bin
    expect "token verifies ECDSA-$H key $i" "Signature is valid" "${P11[@]}" --login --pin $PIN --verify --id $i -m ECDSA-$H -i msg.txt --signature-file ecr-$h-$i.bin
  done
done

# --wrap/--unwrap round trips: an extractable AES key wrapped under the RSA
# key (OAEP with default parameters, and PKCS#1 v1.5) and under an AES key
# (AES-KEY-WRAP), unwrapped as a new key that encrypts identically.
step "AES key to wrap" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --id 40 --label wrapme --extractable
step "AES wrapping key" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --id 41 --label kek
head -c 64 /dev/urandom > wrap-pt.bin
step "encrypt with the original key" "${P11[@]}" --login --pin $PIN --encrypt --id 40 -m AES-CBC --iv 000102030405060708090a0b0c0d0e0f -i wrap-pt.bin -o wrap-ct0.bin
n=42
for spec in "11 RSA-PKCS-OAEP" "11 RSA-PKCS" "41 AES-KEY-WRAP"; do
  set -- $spec
  wid=$1; mech=$2
  step "wrap with $mech" "${P11[@]}" --login --pin $PIN --wrap --id $wid --application-id 40 -m $mech -o wrapped-$n.bin
  expect "unwrap with $mech" "Key unwrapped" "${P11[@]}" --login --pin $PIN --unwrap --id $wid -i wrapped-$n.bin --key-type AES:32 --application-id $n --application-label unwrapped-$n -m $mech
  step "encrypt with the unwrapped key ($mech)" "${P11[@]}" --login --pin $PIN --encrypt --id $n -m AES-CBC --iv 000102030405060708090a0b0c0d0e0f -i wrap-pt.bin -o wrap-ct$n.bin
  same "unwrapped key ($mech) equals the original" wrap-ct0.bin wrap-ct$n.bin
  n=$((n+1))
done

# pkcs11-tool's own self test.
expect "pkcs11-tool --test reports no errors" "No errors" "${P11[@]}" --login --pin $PIN --test
