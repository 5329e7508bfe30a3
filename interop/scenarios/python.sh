# python-pkcs11 (PyPI; interop/run installs it into a venv): AES-256 key
# generation and AES-GCM round trip (tampered tag refused), P-256 ECDSA,
# RSA-PSS SHA-256/384/512 and RSA-OAEP SHA-1/256, with the ECDSA and PSS
# signatures also verified by openssl from the exported public keys.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
PY=${INTEROP_PYTHON:-python3}
expect "python-pkcs11 importable" "^[0-9]" "$PY" -c 'import importlib.metadata as m, pkcs11; print(m.version("python-pkcs11"))'
expect "init token" "initialized" "${P11[@]}" --init-token --label py-token --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
"$PY" "$ROOT/interop/py/python_pkcs11.py" py-token $PIN "$WORK" > py.out 2>&1
expect "python-pkcs11 opens the token" "^token py-token" cat py.out
expect "AES-GCM round trip" "^aes-gcm round trip ok" cat py.out
expect "AES-GCM tampered ciphertext refused" "^aes-gcm tamper refused" cat py.out
expect "ECDSA P-256 sign/verify" "^ecdsa sign/verify ok" cat py.out
expect "RSA-PSS SHA-256/384/512" "^rsa-pss sha256/384/512 ok" cat py.out
expect "RSA-OAEP SHA-1/SHA-256" "^rsa-oaep sha1/sha256 ok" cat py.out
expect "openssl verifies python's ECDSA signature" "Verified OK" openssl dgst -sha256 -keyform DER -verify py-ec.der -signature py-ec.sig py-msg.bin
expect "openssl verifies python's PSS signature" "Verified OK" openssl dgst -sha256 -keyform DER -verify py-rsa.der -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -signature py-pss.sig py-msg.bin
expect "pkcs11-tool sees python's keys" "label: +py-rsa" "${P11[@]}" --login --pin $PIN --list-objects
expect "pkcs11-tool sees python's AES key" "label: +py-aes" "${P11[@]}" --login --pin $PIN --list-objects --type secrkey
