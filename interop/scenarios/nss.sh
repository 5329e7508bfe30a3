# NSS (certutil/modutil): the module added to a fresh NSS database with
# modutil, its token listed by `certutil -U`, keys made with pkcs11-tool
# listed by `certutil -K`, and a self-signed certificate whose P-256 key
# certutil generates in the token, stored in the token and checked by openssl.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
DB=sql:$WORK/nssdb
printf '%s\n' $PIN > pw.txt
head -c 64 /dev/urandom > noise.bin

expect "init token" "initialized" "${P11[@]}" --init-token --label nss-token --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes RSA-2048 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type rsa:2048 --id 01 --label rsakey --usage-sign --usage-decrypt
expect "pkcs11-tool makes P-256 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:prime256v1 --id 02 --label eckey --usage-sign

mkdir -p nssdb
step "certutil creates an NSS database" certutil -N -d $DB --empty-password
expect "modutil adds the module" "Module \"keyward\" added to database" modutil -add keyward -libfile "$MODULE" -dbdir $DB -force
expect "modutil lists the module loaded" "library name: .*libkeyward\.so" modutil -list -dbdir $DB
expect "modutil shows the token" "Token Name: nss-token" modutil -list keyward -dbdir $DB
expect "certutil -U lists the token" "token: nss-token" certutil -U -d $DB
expect "certutil -K lists the RSA key" "rsa +01 +rsakey" certutil -K -h nss-token -d $DB -f pw.txt
expect "certutil -K lists the EC key" "ec +02 +eckey" certutil -K -h nss-token -d $DB -f pw.txt
refuse "certutil -K with a wrong PIN fails" "." sh -c 'echo 000000 > bad.txt; certutil -K -h nss-token -d "$0" -f bad.txt' $DB
step "certutil generates a P-256 key and self-signed certificate in the token" timeout 60 certutil -S -s CN=nss-ec -n nsscert -x -t "CT,," -h nss-token -k ec -q nistp256 -Z SHA256 -f pw.txt -z noise.bin -d $DB
expect "the certificate is stored in the token" "nss-token:nsscert" certutil -L -h nss-token -d $DB -f pw.txt
expect "certutil -K lists the new key" "ec +[0-9a-f]{40} +nss-token:nsscert" certutil -K -h nss-token -d $DB -f pw.txt
step "certutil exports the certificate" sh -c 'certutil -L -n nss-token:nsscert -h nss-token -d "$0" -f pw.txt -a > nss.crt' $DB
expect "openssl verifies the token-signed certificate" "nss.crt: OK" openssl verify -CAfile nss.crt nss.crt
expect "certificate is ecdsa-with-SHA256 for CN=nss-ec" "ecdsa-with-SHA256" openssl x509 -in nss.crt -noout -text
expect "pkcs11-tool sees the certificate object" "Certificate Object" "${P11[@]}" --login --pin $PIN --list-objects --type cert
