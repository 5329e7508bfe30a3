// SunPKCS11 against keyward: KeyStore "PKCS11" lists the token's keys,
// AES/GCM/NoPadding with a token AES key, SHA256withRSA and SHA256withECDSA
// with token keys (verified in software with the token's public key).
// Usage: java KeywardInterop.java CONFIG PIN
import java.security.*;
import java.security.cert.Certificate;
import java.util.*;
import javax.crypto.*;
import javax.crypto.spec.*;

public class KeywardInterop {
    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p);
        System.out.println("provider " + p.getName());
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, args[1].toCharArray());
        List<String> aliases = Collections.list(ks.aliases());
        Collections.sort(aliases);
        for (String a : aliases) System.out.println("alias " + a + " key=" + ks.isKeyEntry(a));

        KeyGenerator kg = KeyGenerator.getInstance("AES", p);
        kg.init(256);
        SecretKey aes = kg.generateKey();
        byte[] iv = new byte[12];
        new SecureRandom().nextBytes(iv);
        byte[] data = "java through SunPKCS11 and keyward".getBytes();
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
        c.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, iv));
        c.updateAAD("aad".getBytes());
        byte[] ct = c.doFinal(data);
        c.init(Cipher.DECRYPT_MODE, aes, new GCMParameterSpec(128, iv));
        c.updateAAD("aad".getBytes());
        byte[] back = c.doFinal(ct);
        if (!Arrays.equals(back, data) || ct.length != data.length + 16) throw new AssertionError("gcm");
        System.out.println("aes-gcm ok");

        for (String[] t : new String[][] {{"RSA", "SHA256withRSA", "2048"}, {"EC", "SHA256withECDSA", "256"}}) {
            KeyPairGenerator g = KeyPairGenerator.getInstance(t[0], p);
            g.initialize(Integer.parseInt(t[2]));
            KeyPair kp = g.generateKeyPair();
            Signature s = Signature.getInstance(t[1], p);
            s.initSign(kp.getPrivate());
            s.update(data);
            byte[] sig = s.sign();
            PublicKey soft = KeyFactory.getInstance(t[0]).generatePublic(
                new java.security.spec.X509EncodedKeySpec(kp.getPublic().getEncoded()));
            Signature v = Signature.getInstance(t[1]);
            v.initVerify(soft);
            v.update(data);
            if (!v.verify(sig)) throw new AssertionError(t[1]);
            v.initVerify(soft);
            v.update("other".getBytes());
            if (v.verify(sig)) throw new AssertionError(t[1] + " accepted wrong data");
            System.out.println(t[1] + " ok");
        }
    }
}
