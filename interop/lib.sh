# Helpers sourced by every interop scenario.
# step NAME CMD...   runs CMD; passes if it exits 0.
# expect NAME PATTERN CMD...   passes if CMD exits 0 and its output matches PATTERN (grep -E).
# same NAME FILE1 FILE2   passes if the files are byte-identical.
OUT=""
_record() { # status name detail
  if [ "$1" = PASS ]; then echo "  ok   $2"; echo "PASS $SCENARIO: $2" >> "$RESULTS"
  else echo "  FAIL $2"; printf '%s\n' "$3" | tail -n 15 | sed 's/^/       | /'; echo "FAIL $SCENARIO: $2" >> "$RESULTS"; fi
}
step() {
  local name=$1; shift
  if OUT=$("$@" 2>&1); then _record PASS "$name"; else _record FAIL "$name" "$OUT"; fi
}
expect() {
  local name=$1 pat=$2; shift 2
  if OUT=$("$@" 2>&1) && printf '%s' "$OUT" | grep -Eq -- "$pat"; then _record PASS "$name"
  else _record FAIL "$name" "expected /$pat/ in:
$OUT"; fi
}
# refuse NAME PATTERN CMD...   passes if CMD fails and its output matches PATTERN.
refuse() {
  local name=$1 pat=$2; shift 2
  if OUT=$("$@" 2>&1); then _record FAIL "$name" "expected a failure, got success:
$OUT"
  elif printf '%s' "$OUT" | grep -Eq -- "$pat"; then _record PASS "$name"
  else _record FAIL "$name" "expected /$pat/ in:
$OUT"; fi
}
same() {
  if cmp -s "$2" "$3"; then _record PASS "$1"; else _record FAIL "$1" "$2 and $3 differ"; fi
}

# pkcs11_provider PIN: OpenSSL 3 with pkcs11-provider over $MODULE. Writes
# the PIN to $WORK/pin.txt and $WORK/openssl.cnf (the default provider
# active, the pkcs11 provider configured with that PIN file and loaded by
# `-provider pkcs11` on each command line, i.e. "${PROV[@]}"), exports
# OPENSSL_CONF. `plain CMD...` is the independent side: openssl with no
# configuration, so no pkcs11 provider.
pkcs11_provider() {
  printf '%s\n' "$1" > "$WORK/pin.txt"
  cat > "$WORK/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect
[default_sect]
activate = 1
[pkcs11_sect]
pkcs11-module-path = $MODULE
pkcs11-module-token-pin = file:$WORK/pin.txt
[req]
distinguished_name = dn
[dn]
CNF
  export OPENSSL_CONF=$WORK/openssl.cnf
  PROV=(-provider pkcs11)
}
plain() { OPENSSL_CONF=/dev/null "$@"; }

# engine_conf FILE: an OpenSSL configuration loading the libp11 pkcs11
# engine with this module (scenarios append their own sections).
ENGINE_SO=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
engine_conf() {
  cat > "$1" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE_SO
MODULE_PATH = $MODULE
init = 0
CNF
}
