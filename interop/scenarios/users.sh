# Named users (issue 17) from unmodified clients: the SO adds alice with
# `keyward user`; a second configuration maps the slot to alice
# ([[slot]] user = "alice"), and pkcs11-tool and python-pkcs11, which only
# call C_Login, log in there with alice's PIN and see what alice sees: the
# public data object, none of the default user's keys.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
ALICE=alice-pin-77

expect "init token" "initialized" "${P11[@]}" --init-token --label users --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "default user's AES key" "Secret Key Object" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --label default-key --id 01
printf 'hello' > note.txt
step "a public data object" "${P11[@]}" --login --pin $PIN --write-object note.txt --type data --label note
expect "keyward user add alice" "added user alice" "$KEYWARD" user --so-pin $SO add alice --new-pin $ALICE
expect "keyward user list" "^alice" "$KEYWARD" user --so-pin $SO list

sed 's/^\[\[slot\]\]$/[[slot]]\nuser = "alice"/' "$KEYWARD_CONF" > "$WORK/alice.toml"
AS_ALICE=(env KEYWARD_CONF="$WORK/alice.toml")
expect "pkcs11-tool logs in as alice on the mapped slot" "label: +'note'" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $ALICE --list-objects
step "alice sees none of the default user's keys" sh -c '! printf "%s" "$1" | grep -q default-key' sh "$OUT"
refuse "the default PIN is not alice's" "CKR_PIN_INCORRECT" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $PIN --list-objects
refuse "alice cannot make keys yet" "CKR_ACTION_PROHIBITED|0x1b" "${AS_ALICE[@]}" "${P11[@]}" --login --pin $ALICE --keygen --key-type AES:32 --label mine
expect "the default user still sees its key" "label: +default-key" "${P11[@]}" --login --pin $PIN --list-objects

PY=${INTEROP_PYTHON:-python3}
expect "python-pkcs11 logs in as alice and lists her view" "^objects: note$" "${AS_ALICE[@]}" "$PY" -c '
import sys, pkcs11
lib = pkcs11.lib(sys.argv[1])
tok = lib.get_token(token_label="users")
with tok.open(user_pin=sys.argv[2]) as s:
    print("objects: " + ",".join(sorted(o[pkcs11.Attribute.LABEL] for o in s.get_objects())))
' "$MODULE" $ALICE
expect "the audit log names alice" "principal" "$KEYWARD" audit show --user alice --json
