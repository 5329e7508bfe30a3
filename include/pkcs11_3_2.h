/*
 * pkcs11_3_2.h — the PKCS#11 3.2 additions keyward implements, for C
 * callers whose pkcs11t.h predates 3.2 (values from the OASIS PKCS#11 3.2
 * headers). Include after your PKCS#11 header; every definition is guarded
 * so a 3.2 header's own definitions win.
 *
 * keyward offers the "PKCS 11" 3.2 interface (C_GetInterface default) with
 * C_EncapsulateKey, C_DecapsulateKey and C_VerifySignature{Init,,Update,Final};
 * the other 3.2 functions return CKR_FUNCTION_NOT_SUPPORTED.
 * SLH-DSA (CKK_SLH_DSA) is not supported (the engine lacks it).
 */
#ifndef KEYWARD_PKCS11_3_2_H
#define KEYWARD_PKCS11_3_2_H

#ifndef CKK_ML_KEM
#define CKK_ML_KEM                  0x00000049UL
#define CKK_ML_DSA                  0x0000004aUL
#endif

#ifndef CKA_PARAMETER_SET
#define CKA_PARAMETER_SET           0x0000061dUL
#endif
#ifndef CKA_ENCAPSULATE
#define CKA_ENCAPSULATE_TEMPLATE    0x0000062aUL
#define CKA_DECAPSULATE_TEMPLATE    0x0000062bUL
#define CKA_ENCAPSULATE             0x00000633UL
#define CKA_DECAPSULATE             0x00000634UL
#endif
#ifndef CKA_SEED
#define CKA_SEED                    0x00000637UL
#endif

#ifndef CKF_ENCAPSULATE
#define CKF_ENCAPSULATE             0x10000000UL
#define CKF_DECAPSULATE             0x20000000UL
#endif

#ifndef CKM_ML_KEM
#define CKM_ML_KEM_KEY_PAIR_GEN     0x0000000fUL
#define CKM_ML_KEM                  0x00000017UL
#endif
#ifndef CKM_ML_DSA
#define CKM_ML_DSA_KEY_PAIR_GEN     0x0000001cUL
#define CKM_ML_DSA                  0x0000001dUL
#define CKM_HASH_ML_DSA             0x0000001fUL
#define CKM_HASH_ML_DSA_SHA224      0x00000023UL
#define CKM_HASH_ML_DSA_SHA256      0x00000024UL
#define CKM_HASH_ML_DSA_SHA384      0x00000025UL
#define CKM_HASH_ML_DSA_SHA512      0x00000026UL
#define CKM_HASH_ML_DSA_SHA3_224    0x00000027UL
#define CKM_HASH_ML_DSA_SHA3_256    0x00000028UL
#define CKM_HASH_ML_DSA_SHA3_384    0x00000029UL
#define CKM_HASH_ML_DSA_SHA3_512    0x0000002aUL
#define CKM_HASH_ML_DSA_SHAKE128    0x0000002bUL
#define CKM_HASH_ML_DSA_SHAKE256    0x0000002cUL
#endif

/* CK_ML_DSA_PARAMETER_SET_TYPE / CK_ML_KEM_PARAMETER_SET_TYPE (CK_ULONG). */
#ifndef CKP_ML_DSA_44
#define CKP_ML_DSA_44               0x00000001UL
#define CKP_ML_DSA_65               0x00000002UL
#define CKP_ML_DSA_87               0x00000003UL
#define CKP_ML_KEM_512              0x00000001UL
#define CKP_ML_KEM_768              0x00000002UL
#define CKP_ML_KEM_1024             0x00000003UL
#endif

/* CK_HEDGE_TYPE (CK_ULONG), in CK_SIGN_ADDITIONAL_CONTEXT.hedgeVariant. */
#ifndef CKH_HEDGE_PREFERRED
#define CKH_HEDGE_PREFERRED         0x00000000UL
#define CKH_HEDGE_REQUIRED          0x00000001UL
#define CKH_DETERMINISTIC_REQUIRED  0x00000002UL

/* The parameter of CKM_ML_DSA and CKM_HASH_ML_DSA_<hash> (optional). */
typedef struct CK_SIGN_ADDITIONAL_CONTEXT {
    CK_ULONG hedgeVariant;
    CK_BYTE_PTR pContext;
    CK_ULONG ulContextLen;
} CK_SIGN_ADDITIONAL_CONTEXT;

/* The parameter of CKM_HASH_ML_DSA (the data is the hash's output). */
typedef struct CK_HASH_SIGN_ADDITIONAL_CONTEXT {
    CK_ULONG hedgeVariant;
    CK_BYTE_PTR pContext;
    CK_ULONG ulContextLen;
    CK_MECHANISM_TYPE hash;
} CK_HASH_SIGN_ADDITIONAL_CONTEXT;
#endif

#endif /* KEYWARD_PKCS11_3_2_H */
