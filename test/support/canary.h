/* Canary secret values: every test that needs a secret uses these, and the scans
 * (test output, logs, state, KVP pool) look for them. Each matches DESIGN.md's rule. */
#pragma once

#define CANARY_UPDATE_KEY   "CanaryUpd8Key:Sekr1tValue9"
#define CANARY_PUSH_TOKEN   "canary-push-7:CanaryPushSecret42"
#define CANARY_PUSH_SECRET  "CanaryPushSecret42"
#define CANARY_HMAC_TOKEN   "CanaryHmac0Secret77"
#define CANARY_PROXY_PW     "CanaryProxyPw5"
#define CANARY_PROXY_URL    "http://proxyuser:" CANARY_PROXY_PW "@127.0.0.1:3128"
/* Key Vault (issue 12): the managed identity token the fake IMDS hands out (a second
 * one for "expired, take a new one"), and the push token of a rotated secret version. */
#define CANARY_MSI_TOKEN    "eyJ0eXAiOiJKV1QifQ.CanaryMsiToken5Secret.c2ln"
#define CANARY_MSI_TOKEN_2  "eyJ0eXAiOiJKV1QifQ.CanaryMsiToken6Renewed.c2ln"
#define CANARY_PUSH_TOKEN_2 "canary-push-8:CanaryPushRotated43"
/* A value from the vault that breaks the HMAC rule ('-' is not a letter or digit). */
#define CANARY_BAD_HMAC     "CanaryBadHmac-Value3"

static const char *const canary_values[] = {
        CANARY_UPDATE_KEY, "Sekr1tValue9", CANARY_PUSH_TOKEN, CANARY_PUSH_SECRET,
        CANARY_HMAC_TOKEN, CANARY_PROXY_PW,
        CANARY_MSI_TOKEN, "CanaryMsiToken5Secret", CANARY_MSI_TOKEN_2, "CanaryMsiToken6Renewed",
        CANARY_PUSH_TOKEN_2, "CanaryPushRotated43", CANARY_BAD_HMAC, NULL,
};
