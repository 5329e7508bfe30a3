# Key lifecycle as a new user would try it: a key made with pkcs11-tool,
# rotated twice with the keyward CLI, still one key for pkcs11-tool, three
# versions for `keyward key list --all --json`, deleted and restored, and
# two processes racing `keyward maintain` on a due key make one version.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
export KEYWARD_PIN=$PIN

expect "init token" "initialized" "${P11[@]}" --init-token --label kms --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool creates an AES key" "Secret Key Object" "${P11[@]}" --login --pin $PIN --keygen --key-type AES:32 --label app-key --id 0101
head -c 100 /dev/urandom > plain.bin
IV=000102030405060708090a0b0c0d0e0f
step "encrypt with version 1" "${P11[@]}" --login --pin $PIN --encrypt --label app-key -m AES-CBC-PAD --iv $IV -i plain.bin -o ct1.bin
expect "CLI sees the key as version 1, with its key id" "app-key +[0-9a-f]{32} +aes +256 +1 +enabled" "$KEYWARD" key list
expect "CLI rotates it" "version 2 is now primary" "$KEYWARD" key rotate app-key
expect "CLI rotates it again" "version 3 is now primary" "$KEYWARD" key rotate app-key
expect "pkcs11-tool lists one key" "^1$" sh -c "\"\$0\" \"\$@\" | grep -c 'Secret Key Object'" "${P11[@]}" --login --pin $PIN --list-objects
expect "the key pkcs11-tool sees is the primary" "label: +app-key" "${P11[@]}" --login --pin $PIN --list-objects --type secrkey
"$KEYWARD" key list --all --json > versions.json 2>&1
expect "key list --all --json shows three versions, one primary" "^3 1$" python3 -c '
import json; k = json.load(open("versions.json"))[0]
print(len(k["versions"]), sum(1 for v in k["versions"] if v["primary"]))'
step "encrypt with the new primary" "${P11[@]}" --login --pin $PIN --encrypt --label app-key -m AES-CBC-PAD --iv $IV -i plain.bin -o ct3.bin
step "decrypt with the new primary" "${P11[@]}" --login --pin $PIN --decrypt --label app-key -m AES-CBC-PAD --iv $IV -i ct3.bin -o back3.bin
same "primary round trip" plain.bin back3.bin
expect "key show names three versions" "v3 \(primary\)" "$KEYWARD" key show app-key
expect "delete schedules deletion" "scheduled for deletion" "$KEYWARD" key delete app-key
expect "deleted key is gone for pkcs11-tool" "^0$" sh -c "\"\$0\" \"\$@\" | grep -c 'Secret Key Object'; true" "${P11[@]}" --login --pin $PIN --list-objects
expect "list --all shows it pending" "pending_deletion" "$KEYWARD" key list --all
expect "restore brings it back" "restored app-key" "$KEYWARD" key restore app-key
expect "pkcs11-tool sees it again" "label: +app-key" "${P11[@]}" --login --pin $PIN --list-objects
step "restored key decrypts" "${P11[@]}" --login --pin $PIN --decrypt --label app-key -m AES-CBC-PAD --iv $IV -i ct3.bin -o back3b.bin
same "restored key unchanged" plain.bin back3b.bin
expect "inventory lists every version" "app-key.*3.*true" "$KEYWARD" inventory
expect "inventory --csv has a header and three rows" "^4$" sh -c "\"\$0\" inventory --csv | wc -l" "$KEYWARD"
expect "unknown key is one clear error" "^keyward: no key named \"nope\"" sh -c "\"\$0\" key rotate nope 2>&1; test \$? -ne 0" "$KEYWARD"

# Automatic rotation, raced by two maintain processes. The clock moves with
# KEYWARD_TEST_NOW, a test hook that is ignored unless the configuration
# opts in ([testing] allow_test_clock).
expect "create a key that rotates daily" "created auto" "$KEYWARD" key create auto --type aes256 --rotation-period 1d --tag env=test
LATER=$(( $(date +%s) + 2 * 86400 ))
expect "KEYWARD_TEST_NOW alone moves no clock" "rotated 0 key" env KEYWARD_TEST_NOW=$LATER "$KEYWARD" maintain
printf '\n[testing]\nallow_test_clock = true\n' >> "$KEYWARD_CONF"
( KEYWARD_TEST_NOW=$LATER "$KEYWARD" maintain > m1.txt 2>&1 ) & p1=$!
( KEYWARD_TEST_NOW=$LATER "$KEYWARD" maintain > m2.txt 2>&1 ) & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
expect "both maintain processes succeed" "^0 0$" echo "$r1 $r2"
expect "exactly one of them rotated" "^1$" sh -c "cat m1.txt m2.txt | grep -c 'rotated auto v2'"
expect "the key has two versions" "primary v2" "$KEYWARD" key show auto
