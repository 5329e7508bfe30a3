"""Writes sig-fixtures.txt: an RSA-2048 key and a P-256 key with
signatures made by an implementation independent of keyward's engine
(pyca/cryptography over OpenSSL), for tests/hash.rs. Run with the interop
venv's python: `python make_sig_fixtures.py > sig-fixtures.txt`."""
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa, ec, padding, utils

MSG = b"keyward SHA-3 and MD5 signatures, checked by another implementation"
print(f"msg = {MSG.hex()}")
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
n = k.private_numbers()
def h(i):
    return format(i, "x").rjust((i.bit_length() + 7) // 8 * 2, "0")
for name, v in [("n", n.public_numbers.n), ("e", n.public_numbers.e), ("d", n.d), ("p", n.p), ("q", n.q),
                ("dp", n.dmp1), ("dq", n.dmq1), ("qinv", n.iqmp)]:
    print(f"rsa_{name} = {h(v)}")
H = {"sha3_224": hashes.SHA3_224(), "sha3_256": hashes.SHA3_256(), "sha3_384": hashes.SHA3_384(),
     "sha3_512": hashes.SHA3_512(), "md5": hashes.MD5()}
for name, alg in H.items():
    print(f"pkcs1_{name} = {k.sign(MSG, padding.PKCS1v15(), alg).hex()}")
for name, alg in H.items():
    if name == "md5":
        continue
    pss = padding.PSS(mgf=padding.MGF1(alg), salt_length=alg.digest_size)
    print(f"pss_{name} = {k.sign(MSG, pss, alg).hex()}")
for curve, cname, size, alg in [(ec.SECP256R1(), "p256", 32, hashes.SHA3_256()),
                                (ec.SECP384R1(), "p384", 48, hashes.SHA3_384())]:
    e = ec.generate_private_key(curve)
    pub = e.public_key().public_numbers()
    print(f"ec_{cname}_d = {format(e.private_numbers().private_value, 'x').rjust(size * 2, '0')}")
    print(f"ec_{cname}_point = 04{format(pub.x, 'x').rjust(size * 2, '0')}{format(pub.y, 'x').rjust(size * 2, '0')}")
    for name, a in [("sha3_224", hashes.SHA3_224()), ("sha3_256", hashes.SHA3_256()),
                    ("sha3_384", hashes.SHA3_384()), ("sha3_512", hashes.SHA3_512())]:
        r, s = utils.decode_dss_signature(e.sign(MSG, ec.ECDSA(a)))
        print(f"ecdsa_{cname}_{name} = {format(r, 'x').rjust(size * 2, '0')}{format(s, 'x').rjust(size * 2, '0')}")
