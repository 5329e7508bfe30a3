# Go crypto11 (Debian golang-github-thalesignite-crypto11-dev, built offline
# with GOPATH=/usr/share/gocode GO111MODULE=off): AES-GCM, ECDSA P-256,
# RSA-PSS/PKCS#1 signatures verified by Go's crypto, RSA-OAEP decryption, and
# a key made with pkcs11-tool found by label (interop/go/main.go).
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
expect "init token" "initialized" "${P11[@]}" --init-token --label go-token --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes P-256 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:prime256v1 --id 09 --label toolkey --usage-sign
mkdir -p gosrc && cp "$ROOT/interop/go/main.go" gosrc/
step "go builds the crypto11 program offline" sh -c 'cd gosrc && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$0/gocache" timeout 300 go build -o ../gointerop .' "$WORK"
timeout 60 ./gointerop go-token $PIN > go.out 2>&1
expect "crypto11 configures the token" "^configured" cat go.out
expect "AES-GCM round trip" "^aes-gcm ok" cat go.out
expect "ECDSA P-256 signature verifies" "^ecdsa ok" cat go.out
expect "RSA-PSS signature verifies" "^rsa-pss ok" cat go.out
expect "RSA PKCS#1 v1.5 signature verifies" "^rsa-pkcs1 ok" cat go.out
expect "RSA-OAEP decryption" "^rsa-oaep ok" cat go.out
expect "finds and uses the pkcs11-tool key" "^pkcs11-tool key ok" cat go.out
expect "pkcs11-tool sees crypto11's keys" "label: +go-rsa" "${P11[@]}" --login --pin $PIN --list-objects
