/*
 * fuzz_pki.h — the signing key of the http_request fuzz target's SNS
 * stand-in. A throwaway test key, published here on purpose: the harness
 * issues a certificate for it from a CA it makes at start-up, and the seed
 * generator signs the seed deliveries with it. It signs nothing real.
 */
#ifndef TWOWAYD_FUZZ_PKI_H
#define TWOWAYD_FUZZ_PKI_H

static const char fuzz_signing_key_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCWO0eSFNEmB5ga\n"
        "3jKKwN2sQBWzh/Ijll1Io6zmbxoV37oCJaulAngF91E6W7NTTjMXlkxOT1IbU7QX\n"
        "U5QP0KExD0RJ+3YzSD5wJ6r1ofnh/8+KBWHPcg0ieo5amd9HB48Fi3dIdiVh0uOh\n"
        "xOBXDRxNY9ayP66NONGGhLzdBBX7+vaHws8tHTWeNKiuisbc6TcuLnTBXbWpiKxA\n"
        "cio77HLxXqUYt9oMuCOjORFBee73c9ctMl1FwXOqjt8iEalN5F0ADsP8t/Ii6nvm\n"
        "LaUJSm8tWs8Ud3r8u0AIo6vALjC3WaeXxEn58Ha8O01GRZ8hu2147dErqz5yW3vw\n"
        "n41yiBd1AgMBAAECggEAI5JUO0LqFeDg82Wu3ntV0aIX8VtMaoBBRMCaoTJn4QuJ\n"
        "KdZ9GrRnsnPxvAl3/87pmploJneyJ43Ne+N6kLcT37+vafwca/6caCaAXKp2djyB\n"
        "yfrFwt6MvR/7QnkiLNmdlBDGlPYCmnPamdR50Srly25LKQgans44EGuwI34C7ZeN\n"
        "Ja5ku+fQP4wgpiGwBFzGTiRGACcubFUZh3FOcd5CKdozDWNSPviVnWJRFzQHTg/T\n"
        "RTxVxMRp7Tvqgvpb6ozcX+IqLwO4nGXRFDksbSHlGYl5XPhkDJnmtQvz1chUrc1m\n"
        "2Jd63endPDyz0G/S6Fno8+8kciTaLbze/es4W4bbAQKBgQDLrtCutpqOmYouM+FN\n"
        "8ijhdknDF89wmfyNGOVR6hKw+IweZI0p1VukuKpVBHTDcs+c8xAcTCHZPHwqe6NU\n"
        "z2npQNTi1jlFG1jz11KMjzIkQ/qtj2iWaTFNawiMlp6ugLkzTgDzWpN8i/X2Wyd+\n"
        "ARUJHT+ztzOkTovdRKEu8MihAQKBgQC80cTSmnk63mcTY0R6WOkyGzax/lUAolO3\n"
        "PvZkXbNVyhzaGIrKcSmElFX8N+urVDhQRDIEUCTyfFRLbJst9k45ar47Sc8JNtN1\n"
        "fV7sLUMP343nd4a4YV8fwc+E1tUbZGSVVQu/4ogxh+8fxiyJxl4jKeLCfRP1JTmO\n"
        "obqV8RSCdQKBgHQnp35bSFzWFsUudOg8ly+sg3gslfIC/tGARxalxC8ELvQOJ6qZ\n"
        "r/+KCCkft27WhKteuetJR2xZX/3iMEznU+DfRghuXo6Yf+ve+YaLCu8/jS95Pw23\n"
        "w5QA3AlAxBGD+xnU/BnLp5w5PPVXGnhzKYnfEjrs2Rh0arKutrTMP74BAoGAbvFm\n"
        "D0R6VK+WqtqZwrV5F1rMEVtZwIygWbwh86jmlVKzDyZ6biZ9eYva1d5Zl4pdqDPZ\n"
        "m5UnkF6i/Mosh54AKlZgvd9JSaWwK4lle6nAjJQTAdzGCJIV3Uf4UZoVDwo221Nk\n"
        "GvPUiB3Rz76WLsGiUFDtDs+FKXYc0oSOaEmFfn0CgYBKJvO2bcyE4uJLXKTdfuPC\n"
        "dmiHsMIUlQn8jetXzAEG6e3Q3tuh7Wra/+C28UL5gp082Xz1L0JnGCZG8TO7WIwn\n"
        "BOOcsVoMeIkxt0DdWWmBj1kvP1g7ny4HMD18ItQsoVPqq23hjL61HDU9tSF2pxqh\n"
        "NCOX4idhYTU2yyG2MwDGrA==\n"
        "-----END PRIVATE KEY-----\n";

#endif
