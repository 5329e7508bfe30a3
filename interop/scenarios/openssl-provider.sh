# OpenSSL 3 through pkcs11-provider (the provider that replaces the
# deprecated engines; Debian 12 ships it in bookworm-backports), default
# provider options: keys named by RFC 7512 URIs on `-provider pkcs11`, RSA
# and EC P-256 keys made with pkcs11-tool. Every result is checked by an
# independent implementation: signatures by plain openssl (no provider,
# OPENSSL_CONF=/dev/null) with the public key pkcs11-tool exported,
# ciphertexts made by plain openssl, certificates by `openssl verify`, TLS
# 1.3 handshakes by a plain s_client, storeutl's listing against the objects
# pkcs11-tool wrote.
#
# With its defaults the provider copies each token key into a session object
# (C_CopyObject, pkcs11-module-cache-keys = true) and signs with the copy.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
PROV_SO=/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so
# The pkcs11 provider is configured here and loaded by `-provider pkcs11` on
# each command line; the default provider stays active beside it (see
# pkcs11_provider in lib.sh; `plain` is openssl without it).
pkcs11_provider "$PIN"
# The same without the PIN: the PIN then comes from the URI (pin-value).
grep -v token-pin "$WORK/openssl.cnf" > "$WORK/nopin.cnf"

step "pkcs11-provider installed" test -f $PROV_SO
expect "openssl loads the pkcs11 provider" "PKCS#11 Provider" openssl list -providers "${PROV[@]}"
expect "init token" "initialized" "${P11[@]}" --init-token --label oprov --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes RSA-2048 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type rsa:2048 --id 01 --label rsakey --usage-sign --usage-decrypt
expect "pkcs11-tool makes P-256 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:prime256v1 --id 02 --label eckey --usage-sign
RSA="pkcs11:token=oprov;object=rsakey;type=private"
EC="pkcs11:token=oprov;id=%02;type=private"

# Public keys as pkcs11-tool reads them: the keys every check below uses.
step "pkcs11-tool exports RSA public key" "${P11[@]}" --read-object --type pubkey --id 01 -o rsa.der
step "pkcs11-tool exports EC public key" "${P11[@]}" --read-object --type pubkey --id 02 -o ec.der
plain openssl pkey -pubin -inform DER -in rsa.der -out rsa.pub 2>/dev/null
plain openssl pkey -pubin -inform DER -in ec.der -out ec.pub 2>/dev/null
step "provider exports RSA public key" openssl pkey "${PROV[@]}" -pubin -in 'pkcs11:token=oprov;object=rsakey;type=public' -pubout -out rsa-prov.pub
same "provider's RSA public key equals pkcs11-tool's" rsa.pub rsa-prov.pub
step "provider exports EC public key" openssl pkey "${PROV[@]}" -pubin -in 'pkcs11:token=oprov;object=eckey;type=public' -pubout -out ec-prov.pub
same "provider's EC public key equals pkcs11-tool's" ec.pub ec-prov.pub

# pkeyutl: signatures over a digest (C_Sign with CKM_RSA_PKCS, _PSS, ECDSA).
printf 'signed through pkcs11-provider\n' > msg.txt
plain openssl dgst -sha256 -binary msg.txt > msg.sha256
step "pkeyutl signs with RSA key (PKCS#1 SHA-256)" openssl pkeyutl "${PROV[@]}" -sign -inkey "$RSA" -pkeyopt digest:sha256 -in msg.sha256 -out rsa.sig
expect "openssl verifies RSA signature" "Signature Verified Successfully" plain openssl pkeyutl -verify -pubin -inkey rsa.pub -pkeyopt digest:sha256 -in msg.sha256 -sigfile rsa.sig
step "pkeyutl signs with RSA key (PSS)" openssl pkeyutl "${PROV[@]}" -sign -inkey "$RSA" -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in msg.sha256 -out pss.sig
expect "openssl verifies PSS signature" "Signature Verified Successfully" plain openssl pkeyutl -verify -pubin -inkey rsa.pub -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in msg.sha256 -sigfile pss.sig
step "pkeyutl signs with EC key" openssl pkeyutl "${PROV[@]}" -sign -inkey "$EC" -in msg.sha256 -out ec.sig
expect "openssl verifies ECDSA signature" "Signature Verified Successfully" plain openssl pkeyutl -verify -pubin -inkey ec.pub -in msg.sha256 -sigfile ec.sig
expect "tampered digest fails verification" "Signature Verification Failure" sh -c 'OPENSSL_CONF=/dev/null; export OPENSSL_CONF; openssl dgst -sha256 -binary ec.pub > other.sha256; openssl pkeyutl -verify -pubin -inkey ec.pub -in other.sha256 -sigfile ec.sig 2>&1; true'
# The default key cache: the provider copies the token key into a session
# object (C_CopyObject) and signs with the copy; its debug log says so.
step "pkeyutl signs through the provider's session copy of the key" env PKCS11_PROVIDER_DEBUG=file:$WORK/p11prov.log openssl pkeyutl "${PROV[@]}" -sign -inkey "$EC" -in msg.sha256 -out eccopy.sig
expect "the provider cached the key as a session object" "cache_key\(\): Key [0-9]+:[0-9]+ cached as" cat "$WORK/p11prov.log"
expect "openssl verifies the signature made with the copy" "Signature Verified Successfully" plain openssl pkeyutl -verify -pubin -inkey ec.pub -in msg.sha256 -sigfile eccopy.sig
# The PIN in the URI instead of the configuration.
step "PIN from the URI (pin-value)" env OPENSSL_CONF="$WORK/nopin.cnf" openssl pkeyutl "${PROV[@]}" -sign -inkey "$EC?pin-value=$PIN" -in msg.sha256 -out ecpin.sig
expect "openssl verifies that signature" "Signature Verified Successfully" plain openssl pkeyutl -verify -pubin -inkey ec.pub -in msg.sha256 -sigfile ecpin.sig
refuse "no PIN, no private key" "Could not read private key" sh -c "OPENSSL_CONF='$WORK/nopin.cnf' openssl pkeyutl -provider pkcs11 -sign -inkey '$EC' -in msg.sha256 -out nopin.sig </dev/null"

# dgst: hash-and-sign in the token (C_SignInit/Update/Final, CKM_SHA*_...).
step "dgst signs with RSA key (SHA-384)" openssl dgst "${PROV[@]}" -sha384 -sign "$RSA" -out dg-rsa.sig msg.txt
expect "openssl verifies dgst RSA signature" "Verified OK" plain openssl dgst -sha384 -verify rsa.pub -signature dg-rsa.sig msg.txt
step "dgst signs with RSA key (SHA-512 PSS)" openssl dgst "${PROV[@]}" -sha512 -sign "$RSA" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -out dg-pss.sig msg.txt
expect "openssl verifies dgst PSS signature" "Verified OK" plain openssl dgst -sha512 -sigopt rsa_padding_mode:pss -verify rsa.pub -signature dg-pss.sig msg.txt
step "dgst signs with EC key (SHA-256)" openssl dgst "${PROV[@]}" -sha256 -sign "$EC" -out dg-ec.sig msg.txt
expect "openssl verifies dgst ECDSA signature" "Verified OK" plain openssl dgst -sha256 -verify ec.pub -signature dg-ec.sig msg.txt

# Decryption of what plain openssl encrypted to the exported key. The OAEP
# digests are named: given only rsa_padding_mode:oaep, pkcs11-provider 1.0
# sends CK_RSA_PKCS_OAEP_PARAMS with hashAlg = 0 and mgf = 0, which no
# token accepts (CKR_MECHANISM_PARAM_INVALID).
head -c 32 /dev/urandom > secret.bin
plain openssl pkeyutl -encrypt -pubin -inkey rsa.pub -in secret.bin -out secret.p1 2>/dev/null
step "provider decrypts PKCS#1 v1.5" openssl pkeyutl "${PROV[@]}" -decrypt -inkey "$RSA" -in secret.p1 -out back.p1
same "PKCS#1 v1.5 round trip" secret.bin back.p1
for h in sha1 sha256; do
  plain openssl pkeyutl -encrypt -pubin -inkey rsa.pub -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:$h -pkeyopt rsa_mgf1_md:$h -in secret.bin -out secret.oaep-$h 2>/dev/null
  step "provider decrypts OAEP $h" openssl pkeyutl "${PROV[@]}" -decrypt -inkey "$RSA" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:$h -pkeyopt rsa_mgf1_md:$h -in secret.oaep-$h -out back.oaep-$h
  same "OAEP $h round trip" secret.bin back.oaep-$h
done

# Self-signed certificates.
step "self-signed RSA certificate (req -x509)" openssl req "${PROV[@]}" -key "$RSA" -new -x509 -sha256 -days 30 -subj /CN=127.0.0.1 -out rsa.crt
expect "RSA certificate verifies" "rsa.crt: OK" plain openssl verify -CAfile rsa.crt rsa.crt
expect "RSA certificate is sha256WithRSAEncryption" "Signature Algorithm: sha256WithRSAEncryption" plain openssl x509 -in rsa.crt -noout -text
expect "RSA certificate carries the token's key" "^same$" sh -c 'OPENSSL_CONF=/dev/null openssl x509 -in rsa.crt -noout -pubkey | cmp -s - rsa.pub && echo same'
step "self-signed EC certificate (req -x509)" openssl req "${PROV[@]}" -key "$EC" -new -x509 -sha256 -days 30 -subj /CN=127.0.0.1 -out ec.crt
expect "EC certificate verifies" "ec.crt: OK" plain openssl verify -CAfile ec.crt ec.crt
expect "EC certificate carries the token's key" "^same$" sh -c 'OPENSSL_CONF=/dev/null openssl x509 -in ec.crt -noout -pubkey | cmp -s - ec.pub && echo same'

# Certificates into the token (pkcs11-tool), then storeutl lists the token.
plain openssl x509 -in rsa.crt -outform DER -out rsa.crt.der
plain openssl x509 -in ec.crt -outform DER -out ec.crt.der
expect "pkcs11-tool stores the RSA certificate" "Certificate Object" "${P11[@]}" --login --pin $PIN --write-object rsa.crt.der --type cert --id 01 --label rsacert
expect "pkcs11-tool stores the EC certificate" "Certificate Object" "${P11[@]}" --login --pin $PIN --write-object ec.crt.der --type cert --id 02 --label eccert
expect "storeutl lists 2 private keys, 2 public keys, 2 certificates" "^2 Pkey 2 Public key 2 Certificate 6$" sh -c \
  "openssl storeutl -provider pkcs11 'pkcs11:token=oprov' 2>&1 | awk '/^[0-9]+: /{sub(/^[0-9]+: /,\"\"); n[\$0]++} /^Total found: /{t=\$3} END{print n[\"Pkey\"]+0, \"Pkey\", n[\"Public key\"]+0, \"Public key\", n[\"Certificate\"]+0, \"Certificate\", t+0}'"
expect "storeutl -keys names both private keys by URI" "object=rsakey;type=private.*object=eckey;type=private|object=eckey;type=private.*object=rsakey;type=private" \
  sh -c "openssl storeutl -provider pkcs11 -keys -text 'pkcs11:token=oprov' 2>&1 | grep '^URI' | tr '\n' ' '"
step "storeutl reads the RSA certificate" openssl storeutl "${PROV[@]}" -certs -out rsa-store.crt 'pkcs11:token=oprov;object=rsacert;type=cert'
expect "it is the certificate pkcs11-tool stored" "^same$" sh -c 'OPENSSL_CONF=/dev/null; export OPENSSL_CONF; [ "$(openssl x509 -in rsa-store.crt -outform DER | sha256sum)" = "$(sha256sum < rsa.crt.der)" ] && echo same'
step "storeutl reads the EC public key" openssl storeutl "${PROV[@]}" -out ec-store.pub 'pkcs11:token=oprov;object=eckey;type=public'
expect "it is the key pkcs11-tool exported" "^same$" sh -c 'OPENSSL_CONF=/dev/null openssl pkey -pubin -in ec-store.pub | cmp -s - ec.pub && echo same'

# TLS: s_server holds its key in the token, a plain s_client (no provider)
# completes the handshake and verifies the server's certificate.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tls_check() { # key cert version
  local key=$1 crt=$2 ver=$3 port sp rc
  port=$(free_port)
  : > srv-$port.log
  timeout 20 openssl s_server "${PROV[@]}" -key "$key" -cert "$crt" -accept 127.0.0.1:$port -naccept 1 -www -$ver > srv-$port.log 2>&1 & sp=$!
  for _ in $(seq 100); do grep -q ACCEPT srv-$port.log && break; sleep 0.1; done
  printf 'GET / HTTP/1.0\r\n\r\n' | OPENSSL_CONF=/dev/null timeout 10 openssl s_client -connect 127.0.0.1:$port -$ver -CAfile "${4:-$crt}" -verify_return_error -ign_eof 2>&1
  wait $sp 2>/dev/null; rc=$?
  [ $rc -eq 0 ] || { echo "s_server exited $rc:"; grep -v '^[A-Za-z0-9+/=-]*$' srv-$port.log | tail -n 8; }
  return $rc
}
expect "TLS 1.3 handshake, RSA key in the token (RSA-PSS)" "Peer signature type: RSA-PSS" tls_check "$RSA" rsa.crt tls1_3
expect "TLS 1.3 handshake, ECDSA key in the token" "New, TLSv1.3, Cipher is TLS_" tls_check "$EC" ec.crt tls1_3
expect "TLS 1.3: client verified the server" "Verify return code: 0 \(ok\)" tls_check "$EC" ec.crt tls1_3
expect "TLS 1.3: peer signature is ECDSA" "Peer signature type: ECDSA" tls_check "$EC" ec.crt tls1_3
# Key and certificate both from the token.
expect "TLS 1.3, key and certificate from the token" "Peer signature type: RSA-PSS" tls_check "$RSA" 'pkcs11:token=oprov;object=rsacert;type=cert' tls1_3 rsa.crt
expect "TLS 1.2 handshake, ECDSA key in the token" "New, TLSv1.2, Cipher is ECDHE-ECDSA" tls_check "$EC" ec.crt tls1_2

# The private keys never left the token.
expect "private keys are still never-extractable" "never extractable.*never extractable" sh -c "${P11[*]} --login --pin $PIN --list-objects --type privkey 2>&1 | tr '\n' ' '"
