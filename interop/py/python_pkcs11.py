"""python-pkcs11 against keyward: AES-GCM, ECDSA, RSA-PSS and RSA-OAEP.

Usage: python_pkcs11.py TOKEN_LABEL PIN OUTDIR
Prints one line per check; writes the EC public key, a DER ECDSA signature
and the signed message to OUTDIR for openssl to verify.
"""
import os
import sys

import pkcs11
from pkcs11 import MGF, Attribute, KeyType, Mechanism
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_ec_public_key, encode_ecdsa_signature, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

label, pin, out = sys.argv[1:4]
lib = pkcs11.lib(os.environ["MODULE"])
token = lib.get_token(token_label=label)
print("token", token.label)
with token.open(user_pin=pin, rw=True) as s:
    data = b"python-pkcs11 through keyward\n" * 3
    aes = s.generate_key(KeyType.AES, 256, label="py-aes", id=b"\x21", store=True)
    iv = s.generate_random(96)
    gcm = GCMParams(iv, b"header", 128)
    ct = aes.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
    assert len(ct) == len(data) + 16, len(ct)
    assert aes.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=gcm) == data
    bad = bytes([ct[0] ^ 1]) + ct[1:]
    try:
        aes.decrypt(bad, mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
        raise SystemExit("tampered GCM ciphertext decrypted")
    except pkcs11.PKCS11Error as e:
        print("aes-gcm tamper refused", type(e).__name__)
    print("aes-gcm round trip ok")

    params = s.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
    pub, priv = params.generate_keypair(store=True, label="py-ec", id=b"\x22")
    sig = priv.sign(data, mechanism=Mechanism.ECDSA_SHA256)
    assert len(sig) == 64
    assert pub.verify(data, sig, mechanism=Mechanism.ECDSA_SHA256)
    assert not pub.verify(data + b"x", sig, mechanism=Mechanism.ECDSA_SHA256)
    open(os.path.join(out, "py-ec.der"), "wb").write(encode_ec_public_key(pub))
    open(os.path.join(out, "py-ec.sig"), "wb").write(encode_ecdsa_signature(sig))
    open(os.path.join(out, "py-msg.bin"), "wb").write(data)
    print("ecdsa sign/verify ok")

    rpub, rpriv = s.generate_keypair(KeyType.RSA, 2048, label="py-rsa", id=b"\x23", store=True)
    open(os.path.join(out, "py-rsa.der"), "wb").write(encode_rsa_public_key(rpub))
    for h, mgf, n in ((Mechanism.SHA256, MGF.SHA256, 32), (Mechanism.SHA384, MGF.SHA384, 48),
                      (Mechanism.SHA512, MGF.SHA512, 64)):
        mech = {32: Mechanism.SHA256_RSA_PKCS_PSS, 48: Mechanism.SHA384_RSA_PKCS_PSS,
                64: Mechanism.SHA512_RSA_PKCS_PSS}[n]
        sig = rpriv.sign(data, mechanism=mech, mechanism_param=(h, mgf, n))
        assert rpub.verify(data, sig, mechanism=mech, mechanism_param=(h, mgf, n))
        assert not rpub.verify(data + b"x", sig, mechanism=mech, mechanism_param=(h, mgf, n))
        if n == 32:
            open(os.path.join(out, "py-pss.sig"), "wb").write(sig)
    print("rsa-pss sha256/384/512 ok")

    for h, mgf in ((Mechanism.SHA_1, MGF.SHA1), (Mechanism.SHA256, MGF.SHA256)):
        ct = rpub.encrypt(b"wrapped secret", mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(h, mgf, None))
        assert len(ct) == 256
        assert rpriv.decrypt(ct, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(h, mgf, None)) == b"wrapped secret"
    print("rsa-oaep sha1/sha256 ok")
