# Named users (issue 17) from unmodified clients. Acceptance: "A slot mapped
# to user B: pkcs11-tool, the OpenSSL engine and python-pkcs11, each
# unmodified, log in as B and see only B's keys." The SO adds alice and bob
# with `keyward user`; alice.toml and bob.toml map the slot to one of them
# ([[slot]] user = "..."), so a client that only calls C_Login logs in as
# that user. Each makes keys with pkcs11-tool; each client on bob's slot sees
# and uses bob's keys (and the public data object), never alice's nor the
# default user's; an SO grant lets bob see and sign with alice's key until
# it is revoked.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
ALICE=alice-pin-77
BOB=bob-pin-88

expect "init token" "initialized" "${P11[@]}" --init-token --label users --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "default user's AES key" "Secret Key Object" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --label default-key --id 01
printf 'hello' > note.txt
step "a public data object" "${P11[@]}" --login --pin $PIN --write-object note.txt --type data --label note
expect "keyward user add alice" "added user alice" "$KEYWARD" user --so-pin $SO add alice --new-pin $ALICE
expect "keyward user add bob" "added user bob" "$KEYWARD" user --so-pin $SO add bob --new-pin $BOB
expect "keyward user list" "^bob" sh -c '"$1" user --so-pin "$2" list | sort' sh "$KEYWARD" $SO
step "user list names alice" sh -c 'printf "%s" "$1" | grep -q "^alice"' sh "$OUT"

for u in alice bob; do
  sed "s/^\[\[slot\]\]\$/[[slot]]\nuser = \"$u\"/" "$KEYWARD_CONF" > "$WORK/$u.toml"
done
AS_ALICE=(env KEYWARD_CONF="$WORK/alice.toml")
AS_BOB=(env KEYWARD_CONF="$WORK/bob.toml")

# pub_from_listing LISTING ID OUT.der: the P-256 SubjectPublicKeyInfo of the
# listed public key with that ID (its private half has the same ID and no
# point), built from its CKA_EC_POINT less the DER OCTET STRING header.
# pkcs11-tool 0.23's --read-object of an EC public key frees the group name
# before OpenSSL reads it, so the export fails or not with the heap of the
# process (see pkcs11-tool-asym.sh).
pub_from_listing() {
  local point
  point=$(printf '%s\n' "$1" | awk -v id="$2" '/^[^ ]/ {p = ""} /^ *EC_POINT:/ {p = $2} /^ *ID:/ && $2 == id && p != "" {print substr(p, 5)}')
  [ ${#point} -eq 130 ] || { echo "no P-256 point for ID $2 in the listing"; return 1; }
  printf '%s' "3059301306072a8648ce3d020106082a8648ce3d030107034200$point" | xxd -r -p > "$3"
  openssl pkey -pubin -inform DER -in "$3" -noout
}

# alice makes her keys on her slot.
expect "alice makes an AES key (pkcs11-tool, mapped slot)" "Secret Key Object" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $ALICE --keygen --key-type AES:32 --label alice-aes --id 11
expect "alice makes a P-256 key pair" "Public Key Object" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $ALICE --keypairgen --key-type EC:prime256v1 --label alice-ec --id 12 --usage-sign
expect "pkcs11-tool lists alice's view" "label: +alice-ec" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $ALICE --list-objects
ALICE_LIST=$OUT
step "alice sees her AES key and the note" sh -c 'printf "%s" "$1" | grep -q "label: *alice-aes" && printf "%s" "$1" | grep -q "label: *.note"' sh "$ALICE_LIST"
step "alice sees none of the default user's keys" sh -c '! printf "%s" "$1" | grep -q default-key' sh "$ALICE_LIST"
step "export alice's public key (from CKA_EC_POINT)" pub_from_listing "$ALICE_LIST" 12 alice-ec.der

# bob on his slot: his key pair, his view. pkcs11-tool 0.23 picks the key
# to sign with by --id only (it ignores --label there and takes the first
# private key it finds), so signatures name keys by ID: alice-ec is 12,
# bob-ec 21.
expect "bob makes a P-256 key pair (pkcs11-tool, mapped slot)" "Public Key Object" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --keypairgen --key-type EC:prime256v1 --label bob-ec --id 21 --usage-sign
expect "pkcs11-tool logs in as bob and lists bob-ec" "label: +bob-ec" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --list-objects
BOB_LIST=$OUT
step "bob sees the public data object" sh -c 'printf "%s" "$1" | grep -q "label: *.note"' sh "$BOB_LIST"
step "bob sees none of alice's nor the default user's keys" sh -c '! printf "%s" "$1" | grep -Eq "alice-aes|alice-ec|default-key"' sh "$BOB_LIST"
expect "alice's listing shows none of bob's keys" "^none$" sh -c 'printf "%s" "$1" | grep -q bob-ec || echo none' sh "$ALICE_LIST"
refuse "the default PIN is not bob's" "CKR_PIN_INCORRECT" "${AS_BOB[@]}" "${P11[@]}" --login --pin $PIN --list-objects
refuse "alice's PIN is not bob's" "CKR_PIN_INCORRECT" "${AS_BOB[@]}" "${P11[@]}" --login --pin $ALICE --list-objects
expect "the default user still sees its key" "label: +default-key" "${P11[@]}" --login --pin $PIN --list-objects
step "the default user sees none of alice's or bob's keys" sh -c '! printf "%s" "$1" | grep -Eq "alice-|bob-ec"' sh "$OUT"

printf 'signed as bob on his mapped slot\n' > msg.txt
openssl dgst -sha256 -binary msg.txt > msg.sha256
step "export bob's public key (from CKA_EC_POINT)" pub_from_listing "$BOB_LIST" 21 bob-ec.der
step "pkcs11-tool signs with bob's key (ECDSA-SHA256)" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --sign --mechanism ECDSA-SHA256 --signature-format openssl --id 21 -i msg.txt -o bob-tool.sig
expect "openssl verifies bob's pkcs11-tool signature" "Verified OK" openssl dgst -sha256 -keyform DER -verify bob-ec.der -signature bob-tool.sig msg.txt
refuse "pkcs11-tool on bob's slot cannot sign with alice's key (id 12)" "Private key not found" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --sign --mechanism ECDSA-SHA256 --signature-format openssl --id 12 -i msg.txt -o before-grant.sig

# The OpenSSL pkcs11 engine (libp11), as openssl.sh drives it, on bob's slot.
engine_conf "$WORK/openssl-engine.cnf"
ENG_BOB=(env OPENSSL_CONF="$WORK/openssl-engine.cnf" KEYWARD_CONF="$WORK/bob.toml")
step "pkcs11 engine installed" test -f $ENGINE_SO
step "engine signs with bob's key by URI (bob's slot)" "${ENG_BOB[@]}" openssl pkeyutl -engine pkcs11 -keyform engine -sign -inkey "pkcs11:token=users;object=bob-ec;type=private?pin-value=$BOB" -in msg.sha256 -out bob-engine.sig
expect "openssl verifies the engine's signature with bob's public key" "Signature Verified Successfully" openssl pkeyutl -verify -pubin -keyform DER -inkey bob-ec.der -in msg.sha256 -sigfile bob-engine.sig
refuse "the engine on bob's slot finds no key named alice-ec" "private key was not found" "${ENG_BOB[@]}" openssl pkeyutl -engine pkcs11 -keyform engine -sign -inkey "pkcs11:token=users;object=alice-ec;type=private?pin-value=$BOB" -in msg.sha256 -out alice-engine.sig
step "the engine wrote no signature with alice's key" test ! -s alice-engine.sig

# python-pkcs11: a plain tok.open(user_pin=...), every object it may see.
PY=${INTEROP_PYTHON:-python3}
LIST_PY='
import sys, pkcs11
lib = pkcs11.lib(sys.argv[1])
tok = lib.get_token(token_label="users")
with tok.open(user_pin=sys.argv[2]) as s:
    print("objects: " + ",".join(sorted(o[pkcs11.Attribute.LABEL] for o in s.get_objects())))
'
# Both halves of a key pair carry its label.
expect "python-pkcs11 logs in as bob: bob's key pair and the note, nothing else" "^objects: bob-ec,bob-ec,note$" "${AS_BOB[@]}" "$PY" -c "$LIST_PY" "$MODULE" $BOB
expect "python-pkcs11 logs in as alice: alice's keys and the note, nothing else" "^objects: alice-aes,alice-ec,alice-ec,note$" "${AS_ALICE[@]}" "$PY" -c "$LIST_PY" "$MODULE" $ALICE

# A grant from the SO: bob sees alice-ec and signs with it, until revoked.
expect "SO grants bob sign on alice-ec" "granted" "$KEYWARD" key grant alice-ec bob sign --so-pin $SO
expect "keyward key grants lists bob" "^bob +sign" "$KEYWARD" key grants alice-ec --so-pin $SO
expect "bob now sees alice-ec (pkcs11-tool, mapped slot)" "label: +alice-ec" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --list-objects
step "bob still sees neither alice-aes nor the default key" sh -c '! printf "%s" "$1" | grep -Eq "alice-aes|default-key"' sh "$OUT"
step "bob signs with alice-ec under the grant" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --sign --mechanism ECDSA-SHA256 --signature-format openssl --id 12 -i msg.txt -o granted.sig
expect "openssl verifies it with alice's public key" "Verified OK" openssl dgst -sha256 -keyform DER -verify alice-ec.der -signature granted.sig msg.txt
expect "SO revokes bob's grant on alice-ec" "revoked" "$KEYWARD" key revoke alice-ec bob --so-pin $SO
expect "after the revocation bob lists only his own key" "label: +bob-ec" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --list-objects
step "bob no longer sees alice-ec" sh -c '! printf "%s" "$1" | grep -q alice-ec' sh "$OUT"
refuse "bob can no longer sign with alice-ec" "Private key not found" "${AS_BOB[@]}" "${P11[@]}" --login --pin $BOB --sign --mechanism ECDSA-SHA256 --signature-format openssl --id 12 -i msg.txt -o after-revoke.sig
step "alice still signs with alice-ec" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $ALICE --sign --mechanism ECDSA-SHA256 --signature-format openssl --id 12 -i msg.txt -o alice.sig
expect "openssl verifies alice's own signature" "Verified OK" openssl dgst -sha256 -keyform DER -verify alice-ec.der -signature alice.sig msg.txt

expect "the audit log names alice" "principal" "$KEYWARD" audit show --user alice --json
expect "the audit log names bob" "principal" "$KEYWARD" audit show --user bob --json
