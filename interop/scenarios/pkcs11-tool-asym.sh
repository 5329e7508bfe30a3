# pkcs11-tool with RSA and EC keys: key pair generation of every supported
# type, signatures checked by openssl from the exported public key, OAEP
# decryption of openssl ciphertext, ECDH derive, and `--test`.
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
  if [ "$kt" = EC:secp384r1 ]; then
    # pkcs11-tool 0.23 cannot export P-384 public keys ("cannot create
    # EVP_PKEY"); build the SubjectPublicKeyInfo from the listed CKA_EC_POINT.
    point=$("${P11[@]}" --list-objects --type pubkey --id $i 2>/dev/null | sed -n 's/^ *EC_POINT: *0461//p')
    step "export public key $kt (from CKA_EC_POINT)" sh -c "printf '%s' 3076301006072a8648ce3d020106052b81040022036200$point | xxd -r -p > pub$i.der"
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
