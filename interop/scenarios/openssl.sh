# OpenSSL 3 through the pkcs11 engine (libp11 / libengine-pkcs11-openssl),
# keys named by RFC 7512 URIs: RSA and EC keys made with pkcs11-tool, engine
# signatures verified by plain openssl, RSA decryption, self-signed
# certificates, CMS signatures, and TLS 1.3/1.2 servers holding their key in
# the token.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
engine_conf "$WORK/openssl.cnf"
cat >> "$WORK/openssl.cnf" <<CNF
[req]
distinguished_name = dn
[dn]
CNF
export OPENSSL_CONF=$WORK/openssl.cnf
step "pkcs11 engine installed" test -f $ENGINE_SO
expect "init token" "initialized" "${P11[@]}" --init-token --label ossl --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes RSA-2048 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type rsa:2048 --id 01 --label rsakey --usage-sign --usage-decrypt
expect "pkcs11-tool makes P-256 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:prime256v1 --id 02 --label eckey --usage-sign
RSA="pkcs11:token=ossl;object=rsakey;type=private?pin-value=$PIN"
EC="pkcs11:token=ossl;id=%02;type=private?pin-value=$PIN"

step "engine exports RSA public key" openssl pkey -engine pkcs11 -inform engine -pubin -in 'pkcs11:token=ossl;object=rsakey;type=public' -pubout -out rsa.pub
step "engine exports EC public key" openssl pkey -engine pkcs11 -inform engine -pubin -in 'pkcs11:token=ossl;object=eckey;type=public' -pubout -out ec.pub
"${P11[@]}" --read-object --type pubkey --id 01 -o rsa-tool.der >/dev/null 2>&1
expect "engine public key equals pkcs11-tool's" "^same$" sh -c 'openssl pkey -pubin -inform DER -in rsa-tool.der | cmp -s - rsa.pub && echo same'

printf 'signed through the pkcs11 engine\n' > msg.txt
openssl dgst -sha256 -binary msg.txt > msg.sha256
step "pkeyutl signs with RSA key (PKCS#1 SHA-256)" openssl pkeyutl -engine pkcs11 -keyform engine -sign -inkey "$RSA" -pkeyopt digest:sha256 -in msg.sha256 -out rsa.sig
expect "openssl verifies RSA signature" "Signature Verified Successfully" openssl pkeyutl -verify -pubin -inkey rsa.pub -pkeyopt digest:sha256 -in msg.sha256 -sigfile rsa.sig
step "pkeyutl signs with RSA key (PSS)" openssl pkeyutl -engine pkcs11 -keyform engine -sign -inkey "$RSA" -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in msg.sha256 -out pss.sig
expect "openssl verifies PSS signature" "Signature Verified Successfully" openssl pkeyutl -verify -pubin -inkey rsa.pub -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in msg.sha256 -sigfile pss.sig
step "pkeyutl signs with EC key" openssl pkeyutl -engine pkcs11 -keyform engine -sign -inkey "$EC" -in msg.sha256 -out ec.sig
expect "openssl verifies ECDSA signature" "Signature Verified Successfully" openssl pkeyutl -verify -pubin -inkey ec.pub -in msg.sha256 -sigfile ec.sig
expect "tampered digest fails verification" "Signature Verification Failure" sh -c 'openssl dgst -sha256 -binary ec.pub > other.sha256; openssl pkeyutl -verify -pubin -inkey ec.pub -in other.sha256 -sigfile ec.sig 2>&1; true'

head -c 32 /dev/urandom > secret.bin
openssl pkeyutl -encrypt -pubin -inkey rsa.pub -in secret.bin -out secret.p1 2>/dev/null
step "engine decrypts PKCS#1 v1.5" openssl pkeyutl -engine pkcs11 -keyform engine -decrypt -inkey "$RSA" -in secret.p1 -out back.p1
same "PKCS#1 v1.5 round trip" secret.bin back.p1
openssl pkeyutl -encrypt -pubin -inkey rsa.pub -pkeyopt rsa_padding_mode:oaep -in secret.bin -out secret.oaep 2>/dev/null
step "engine decrypts OAEP" openssl pkeyutl -engine pkcs11 -keyform engine -decrypt -inkey "$RSA" -pkeyopt rsa_padding_mode:oaep -in secret.oaep -out back.oaep
same "OAEP round trip" secret.bin back.oaep

step "self-signed RSA certificate (req -x509 -sha256)" openssl req -engine pkcs11 -keyform engine -key "$RSA" -new -x509 -sha256 -days 30 -subj /CN=keyward-rsa -out rsa.crt
expect "RSA certificate verifies" "rsa.crt: OK" openssl verify -CAfile rsa.crt rsa.crt
expect "RSA certificate is sha256WithRSAEncryption" "Signature Algorithm: sha256WithRSAEncryption" openssl x509 -in rsa.crt -noout -text
expect "certificate carries the token's key" "^same$" sh -c 'openssl x509 -in rsa.crt -noout -pubkey | cmp -s - rsa.pub && echo same'
step "self-signed EC certificate" openssl req -engine pkcs11 -keyform engine -key "$EC" -new -x509 -sha256 -days 30 -subj /CN=127.0.0.1 -out ec.crt
expect "EC certificate verifies" "ec.crt: OK" openssl verify -CAfile ec.crt ec.crt

step "CMS sign with RSA key" openssl cms -sign -engine pkcs11 -keyform engine -inkey "$RSA" -signer rsa.crt -md sha256 -nodetach -binary -in msg.txt -outform DER -out msg.cms
expect "CMS verifies" "Verification successful" openssl cms -verify -CAfile rsa.crt -inform DER -in msg.cms -binary -out msg.out
same "CMS content intact" msg.txt msg.out
step "CMS sign with EC key" openssl cms -sign -engine pkcs11 -keyform engine -inkey "$EC" -signer ec.crt -md sha256 -nodetach -binary -in msg.txt -outform DER -out msgec.cms
expect "CMS (ECDSA) verifies" "Verification successful" openssl cms -verify -CAfile ec.crt -inform DER -in msgec.cms -binary -out msgec.out
same "CMS (ECDSA) content intact" msg.txt msgec.out

# TLS: s_server holds its key in the token, s_client checks the handshake.
tls_check() { # key cert version port
  local key=$1 crt=$2 ver=$3 port=$4 sp
  : > srv-$port.log
  timeout 20 openssl s_server -engine pkcs11 -keyform engine -key "$key" -cert "$crt" -accept 127.0.0.1:$port -naccept 1 -www -$ver > srv-$port.log 2>&1 & sp=$!
  for _ in $(seq 100); do grep -q ACCEPT srv-$port.log && break; sleep 0.1; done
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$port -$ver -CAfile "$crt" -verify_return_error -ign_eof 2>&1
  wait $sp 2>/dev/null
}
PORT=$(( 20000 + RANDOM % 20000 ))
expect "TLS 1.3 handshake, RSA-PSS key in the token" "Peer signature type: RSA-PSS" tls_check "$RSA" rsa.crt tls1_3 $PORT
expect "TLS 1.3 handshake, ECDSA key in the token" "New, TLSv1.3" tls_check "$EC" ec.crt tls1_3 $((PORT+1))
expect "TLS 1.2 handshake, ECDSA key in the token" "New, TLSv1.2, Cipher is ECDHE-ECDSA" tls_check "$EC" ec.crt tls1_2 $((PORT+2))
expect "TLS 1.3 ECDSA: peer signature is ECDSA" "Peer signature type: ECDSA" tls_check "$EC" ec.crt tls1_3 $((PORT+3))
expect "TLS 1.2 handshake, RSA key in the token (RSA-PSS)" "New, TLSv1.2, Cipher is ECDHE-RSA" tls_check "$RSA" rsa.crt tls1_2 $((PORT+4))
