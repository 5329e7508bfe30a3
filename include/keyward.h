/*
 * keyward.h — keyward's PKCS#11 vendor extensions (key lifecycle, DESIGN.md §4).
 *
 * Include after your PKCS#11 header (pkcs11.h / pkcs11t.h), which defines
 * CKA_VENDOR_DEFINED, CKM_VENDOR_DEFINED and CK_ULONG. Every value is
 * CKA_VENDOR_DEFINED (or CKM_VENDOR_DEFINED) | 0x4B570000 ("KW") + n.
 *
 * A managed key has a token-assigned identity, CKA_KEYWARD_KEY_ID; its
 * versions are the key objects that share it (a key pair's two halves share
 * it too). CKA_LABEL and CKA_ID are user data: two keys may share them. Times are CK_ULONG seconds since the Unix
 * epoch (UTC); 0 means "none".
 *
 * C_FindObjects shows primary versions that are not pending deletion. A
 * template naming CKA_KEYWARD_VERSION, _PRIMARY, _STATE, _DESTROY_AT,
 * _ROTATED, _PRIOR_STATE or CKA_KEYWARD_ALL_VERSIONS = CK_TRUE widens the
 * view to every version; CKA_KEYWARD_TAGS in a template matches keys that
 * carry all of the given tags.
 *
 * Rotation: C_GenerateKey (secret keys) or C_GenerateKeyPair (key pairs)
 * with a template naming one existing key -- by CKA_KEYWARD_KEY_ID, or by a
 * CKA_LABEL (+ CKA_ID) that exactly one key carries -- and
 * CKA_KEYWARD_ROTATE = CK_TRUE makes a new primary version copying that
 * key's primary. Any other attribute given must equal the primary's;
 * CKA_TRUSTED is never carried over.
 */
#ifndef KEYWARD_H
#define KEYWARD_H

#define KEYWARD_VENDOR_BASE 0x4B570000UL

/* CK_ULONG: version number within the managed key (1, 2, 3 ...). Read-only. */
#define CKA_KEYWARD_VERSION         (CKA_VENDOR_DEFINED | 0x4B570001UL)
/* CK_BBOOL: the version used for new encrypt/sign/wrap. Read-only. */
#define CKA_KEYWARD_PRIMARY         (CKA_VENDOR_DEFINED | 0x4B570002UL)
/* CK_ULONG: KEYWARD_STATE_*; C_SetAttributeValue may switch ENABLED <-> DISABLED. */
#define CKA_KEYWARD_STATE           (CKA_VENDOR_DEFINED | 0x4B570003UL)
/* CK_ULONG time: when a pending deletion becomes permanent. Read-only. */
#define CKA_KEYWARD_DESTROY_AT      (CKA_VENDOR_DEFINED | 0x4B570004UL)
/* CK_ULONG seconds between automatic rotations, 0 = never (secret keys generated in the token). */
#define CKA_KEYWARD_ROTATION_PERIOD (CKA_VENDOR_DEFINED | 0x4B570005UL)
/* CK_ULONG time: next automatic rotation, 0 = none. Read-only. */
#define CKA_KEYWARD_NEXT_ROTATION   (CKA_VENDOR_DEFINED | 0x4B570006UL)
/* UTF-8 "key=value" pairs separated by ',' (stored sorted). Settable. */
#define CKA_KEYWARD_TAGS            (CKA_VENDOR_DEFINED | 0x4B570007UL)
/* CK_ULONG: KEYWARD_ORIGIN_*. Read-only. */
#define CKA_KEYWARD_ORIGIN          (CKA_VENDOR_DEFINED | 0x4B570008UL)
/* CK_ULONG time: when this version was made. Read-only. */
#define CKA_KEYWARD_CREATED         (CKA_VENDOR_DEFINED | 0x4B570009UL)
/* CK_ULONG time: when this version stopped being primary, 0 = still primary. Read-only. */
#define CKA_KEYWARD_ROTATED         (CKA_VENDOR_DEFINED | 0x4B57000AUL)
/* CK_BBOOL, template-only: rotate the key named by CKA_LABEL/CKA_ID (see above). */
#define CKA_KEYWARD_ROTATE          (CKA_VENDOR_DEFINED | 0x4B57000BUL)
/* CK_BBOOL, search-only: CK_TRUE lists every version in every state. */
#define CKA_KEYWARD_ALL_VERSIONS    (CKA_VENDOR_DEFINED | 0x4B57000CUL)
/* CK_ULONG: the state a restore returns a pending deletion to. Read-only. */
#define CKA_KEYWARD_PRIOR_STATE     (CKA_VENDOR_DEFINED | 0x4B57000DUL)
/* Text (32 hex digits): the managed key's token-assigned identity. Read-only. */
#define CKA_KEYWARD_KEY_ID          (CKA_VENDOR_DEFINED | 0x4B57000EUL)
/* CK_ULONG: on a copy, the handle of the token key version it follows (0: not a copy). Read-only. */
#define CKA_KEYWARD_COPY_OF         (CKA_VENDOR_DEFINED | 0x4B57000FUL)
/* Text: on a key a named user made, the id of the data key sealing it (absent: sealed under the
 * token master key). Read-only. */
#define CKA_KEYWARD_SEAL            (CKA_VENDOR_DEFINED | 0x4B570010UL)

/* Version-aware AES-GCM: the token picks the IV; output is
 * "KW" 0x01 | version (4 bytes, big-endian) | IV (12) | ciphertext | tag (16).
 * Parameter: none, or the AAD as a plain byte string. C_Decrypt with any
 * version's handle decrypts ciphertexts of every enabled version. */
#define CKM_KEYWARD_AES_GCM         (CKM_VENDOR_DEFINED | 0x4B570001UL)
#define KEYWARD_AES_GCM_OVERHEAD    35

/* Deterministic ML-KEM encapsulation (FIPS 203 ML-KEM.Encaps_internal),
 * C_EncapsulateKey only, with a CKK_ML_KEM public key. Parameter: exactly
 * the 32 bytes of m. The caller knows the secret it chose, so the new key is
 * an imported one: CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE
 * are CK_FALSE and the policy of C_CreateObject with a CKA_VALUE applies. */
#define CKM_KEYWARD_ML_KEM_DETERMINISTIC (CKM_VENDOR_DEFINED | 0x4B570002UL)

#define KEYWARD_STATE_ENABLED          1UL
#define KEYWARD_STATE_DISABLED         2UL
#define KEYWARD_STATE_PENDING_DELETION 3UL

#define KEYWARD_ORIGIN_GENERATED 1UL
#define KEYWARD_ORIGIN_IMPORTED  2UL
#define KEYWARD_ORIGIN_DERIVED   3UL

#endif /* KEYWARD_H */
