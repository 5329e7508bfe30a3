// crypto11 (ThalesIgnite, on miekg/pkcs11) against keyward: AES-GCM with a
// token AES key, ECDSA P-256 and RSA-PSS signatures verified by Go's crypto,
// RSA-OAEP decryption, and a key made with pkcs11-tool found by label.
// Usage: go run . TOKEN_LABEL PIN   (with MODULE set)
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/ThalesIgnite/crypto11"
)

func must(err error, what string) {
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	ctx, err := crypto11.Configure(&crypto11.Config{Path: os.Getenv("MODULE"), TokenLabel: os.Args[1], Pin: os.Args[2]})
	must(err, "configure")
	defer ctx.Close()
	fmt.Println("configured")
	data := []byte("go crypto11 through keyward")
	digest := sha256.Sum256(data)

	aes, err := ctx.GenerateSecretKeyWithLabel([]byte{0x31}, []byte("go-aes"), 256, crypto11.CipherAES)
	must(err, "aes keygen")
	gcm, err := aes.NewGCM()
	must(err, "gcm")
	nonce := make([]byte, 12)
	rand.Read(nonce)
	ct := gcm.Seal(nil, nonce, data, []byte("aad"))
	pt, err := gcm.Open(nil, nonce, ct, []byte("aad"))
	must(err, "gcm open")
	if !bytes.Equal(pt, data) || len(ct) != len(data)+16 {
		must(fmt.Errorf("mismatch"), "gcm round trip")
	}
	fmt.Println("aes-gcm ok")

	ec, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{0x32}, []byte("go-ec"), elliptic.P256())
	must(err, "ec keygen")
	sig, err := ec.Sign(rand.Reader, digest[:], crypto.SHA256)
	must(err, "ecdsa sign")
	if !ecdsa.VerifyASN1(ec.Public().(*ecdsa.PublicKey), digest[:], sig) {
		must(fmt.Errorf("bad signature"), "ecdsa verify")
	}
	fmt.Println("ecdsa ok")

	r, err := ctx.GenerateRSAKeyPairWithLabel([]byte{0x33}, []byte("go-rsa"), 2048)
	must(err, "rsa keygen")
	pss := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
	sig, err = r.Sign(rand.Reader, digest[:], pss)
	must(err, "pss sign")
	must(rsa.VerifyPSS(r.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig, pss), "pss verify")
	fmt.Println("rsa-pss ok")
	sig, err = r.Sign(rand.Reader, digest[:], crypto.SHA256)
	must(err, "pkcs1 sign")
	must(rsa.VerifyPKCS1v15(r.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig), "pkcs1 verify")
	fmt.Println("rsa-pkcs1 ok")
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, r.Public().(*rsa.PublicKey), []byte("secret"), nil)
	must(err, "oaep encrypt")
	pt, err = r.(crypto11.SignerDecrypter).Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	must(err, "oaep decrypt")
	if string(pt) != "secret" {
		must(fmt.Errorf("mismatch"), "oaep round trip")
	}
	fmt.Println("rsa-oaep ok")

	found, err := ctx.FindKeyPair(nil, []byte("toolkey"))
	must(err, "find toolkey")
	if found == nil {
		must(fmt.Errorf("not found"), "find toolkey")
	}
	sig, err = found.Sign(rand.Reader, digest[:], crypto.SHA256)
	must(err, "toolkey sign")
	if !ecdsa.VerifyASN1(found.Public().(*ecdsa.PublicKey), digest[:], sig) {
		must(fmt.Errorf("bad signature"), "toolkey verify")
	}
	fmt.Println("pkcs11-tool key ok")
}
