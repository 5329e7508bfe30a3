# OpenSSH: `ssh-keygen -D` prints the public keys of RSA and P-256 keys made
# with pkcs11-tool, `ssh-add -s` loads them into a scratch ssh-agent (PIN
# from an askpass script), and `ssh-keygen -Y sign`/`-Y verify` round trips
# through the agent with both keys.
P11=(pkcs11-tool --module "$MODULE")
SO=12345678
PIN=123456
expect "init token" "initialized" "${P11[@]}" --init-token --label ssh --so-pin $SO
step "init user PIN" "${P11[@]}" --init-pin --login --login-type so --so-pin $SO --pin $PIN
expect "pkcs11-tool makes RSA-2048 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type rsa:2048 --id 01 --label rsakey --usage-sign
expect "pkcs11-tool makes P-256 key" "Public Key Object" "${P11[@]}" --login --pin $PIN --keypairgen --key-type EC:prime256v1 --id 02 --label eckey --usage-sign

ssh-keygen -D "$MODULE" > keys.txt 2>keys.err
expect "ssh-keygen -D prints the RSA key" "^ssh-rsa AAAA[^ ]+ rsakey$" cat keys.txt
expect "ssh-keygen -D prints the EC key" "^ecdsa-sha2-nistp256 AAAA[^ ]+ eckey$" cat keys.txt
"${P11[@]}" --read-object --type pubkey --id 02 -o ec.der >/dev/null 2>&1
expect "ssh EC key equals the token's public key" "^same$" sh -c '
  grep " eckey$" keys.txt > ec.ssh && ssh-keygen -e -m PKCS8 -f ec.ssh | openssl pkey -pubin -outform DER | cmp -s - ec.der && echo same'

printf '#!/bin/sh\necho %s\n' $PIN > askpass.sh
chmod +x askpass.sh
# The agent only loads providers on its allow-list (-P); it runs in the
# foreground (-D) under timeout and is killed at the end.
timeout 120 ssh-agent -D -P "$MODULE" -a "$WORK/agent.sock" >agent.log 2>&1 &
SSH_AGENT_PID=$!
export SSH_AUTH_SOCK=$WORK/agent.sock
for _ in $(seq 100); do [ -S "$SSH_AUTH_SOCK" ] && break; sleep 0.1; done
trap '[ -z "${SSH_AGENT_PID:-}" ] || kill "$SSH_AGENT_PID" 2>/dev/null; true' EXIT
step "scratch ssh-agent running" kill -0 "$SSH_AGENT_PID"
expect "ssh-add -s loads the token" "Card added" env SSH_ASKPASS=$WORK/askpass.sh SSH_ASKPASS_REQUIRE=force DISPLAY=:0 setsid -w ssh-add -s "$MODULE" </dev/null
expect "agent lists the RSA key" "^ssh-rsa AAAA" ssh-add -L
expect "agent lists the EC key" "^ecdsa-sha2-nistp256 AAAA" ssh-add -L
grep ' rsakey$' keys.txt > rsa.ssh
grep ' eckey$' keys.txt > ec.ssh
printf 'signed by ssh-agent with a keyward key\n' > msg.txt
cp msg.txt msg-rsa.txt
{ echo "me $(cut -d' ' -f1,2 ec.ssh)"; echo "me $(cut -d' ' -f1,2 rsa.ssh)"; } > allowed
step "ssh-keygen -Y sign with the EC key (agent)" ssh-keygen -Y sign -f ec.ssh -n file msg.txt
expect "ssh-keygen -Y verify the EC signature" "Good \"file\" signature for me with ECDSA key" sh -c 'ssh-keygen -Y verify -f allowed -I me -n file -s msg.txt.sig < msg.txt'
step "ssh-keygen -Y sign with the RSA key (agent)" ssh-keygen -Y sign -f rsa.ssh -n file msg-rsa.txt
expect "ssh-keygen -Y verify the RSA signature" "Good \"file\" signature for me with RSA key" sh -c 'ssh-keygen -Y verify -f allowed -I me -n file -s msg-rsa.txt.sig < msg-rsa.txt'
refuse "a changed message does not verify" "Could not verify|verification failed|incorrect" sh -c 'echo tampered | ssh-keygen -Y verify -f allowed -I me -n file -s msg.txt.sig'
kill "$SSH_AGENT_PID" 2>/dev/null; trap - EXIT
unset SSH_AUTH_SOCK SSH_AGENT_PID
