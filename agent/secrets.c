/* secrets: Key Vault references resolved for load and refresh (see secrets.h). */
#include "secrets.h"

#include "log.h"
#include "msi.h"
#include "notify.h"
#include "preflight.h"
#include "retry-log.h"

/* A fetch that failed for a network reason carries preflight's key_vault check of that
 * vault (DESIGN "Diagnosis"), so the operator learns what blocks it without logging in. */
char *secrets_network_diagnosis(Context *c, const KeyVaultRef *ref, const KeyVaultFailure *f) {
        if (!c->config.preflight_on_failure) return NULL;
        _cleanup_free_ char *ca = isempty(c->config.key_vault_ca_file) ? NULL
                                                                        : context_path(c, c->config.key_vault_ca_file);
        char d[768];
        if (preflight_diagnose_key_vault(c, ref->uri, ca, d, sizeof d) < 0) return NULL;
        return strdup(d);
}

/* The vault's name, for "grant ... on vault X": the first label of its host. */
static void vault_name(const KeyVaultRef *ref, char *buf, size_t size) {
        const char *dot = strchr(ref->host, '.');
        snprintf(buf, size, "%.*s", dot ? (int)(dot - ref->host) : (int)strlen(ref->host), ref->host);
}

/* The one-line message for a failed fetch, and its exit code. */
static int describe_failure(Context *c, const char *key, const KeyVaultRef *ref, int r, const KeyVaultFailure *f,
                            const char *client_id, char *msg, size_t msgsize) {
        char vault[128];
        vault_name(ref, vault, sizeof vault);
        char what[192];
        if (ref->version)
                snprintf(what, sizeof what, "secret %s version %s", ref->name, ref->version);
        else
                snprintf(what, sizeof what, "secret %s", ref->name);

        switch (r) {
        case -ENOENT:
                snprintf(msg, msgsize, "%s: %s not found in Key Vault %s (%s, %s); create it or correct the reference",
                         key, what, ref->host, f->last, ref->uri);
                return EX_DATAERR;
        case -EINVAL:
                snprintf(msg, msgsize, "%s: Key Vault %s refused the request for %s (%s, %s); correct the reference",
                         key, ref->host, what, f->last, ref->uri);
                return EX_DATAERR;
        case -EBADMSG:
                snprintf(msg, msgsize, "%s: Key Vault %s answered for %s without a usable value (%s)", key, ref->host,
                         what, f->last);
                return EX_UNAVAILABLE;
        default:
                break;
        }
        if (f->token) {
                snprintf(msg, msgsize, "%s: could not read %s from Key Vault %s within %d s (last: %s); %s", key, what,
                         ref->host, c->config.key_vault_deadline, f->last,
                         client_id ? "check that the user-assigned identity of vsensor.managed_identity.client_id is "
                                     "assigned to the scale set"
                                   : "assign a managed identity to the scale set");
                return EX_UNAVAILABLE;
        }
        if (f->status == 401) {
                /* A fresh token each time and still refused: not a role, the token itself. */
                snprintf(msg, msgsize, "%s: Key Vault %s did not accept the managed identity's token for %s within %d s "
                         "(last: %s); check that vault %s is in the scale set identity's tenant", key, ref->host, what,
                         c->config.key_vault_deadline, f->last, vault);
                return EX_UNAVAILABLE;
        }
        if (f->status == 403) {
                snprintf(msg, msgsize, "%s: Key Vault %s refused access to %s for %d s (last: %s); grant the scale set's "
                         "identity 'Key Vault Secrets User' on vault %s", key, ref->host, what,
                         c->config.key_vault_deadline, f->last, vault);
                return EX_UNAVAILABLE;
        }
        _cleanup_free_ char *diag = f->network ? secrets_network_diagnosis(c, ref, f) : NULL;
        snprintf(msg, msgsize, "%s: Key Vault %s did not give %s within %d s (last: %s)%s%s", key, ref->host, what,
                 c->config.key_vault_deadline, f->last, diag ? "; " : "", diag ? diag : "");
        return EX_UNAVAILABLE;
}

int secrets_resolve(Context *c, CustomData *d, const char *source, int *ret_exit, char *msg, size_t msgsize) {
        _cleanup_free_ char *ca = isempty(c->config.key_vault_ca_file) ? NULL
                                                                        : context_path(c, c->config.key_vault_ca_file);
        const MsiClient msi = {
                .imds_url = c->config.imds_url,
                .client_id = d->managed_identity_client_id,
                .notify = retry_log_notify,
                .userdata = (void *)"managed identity token (IMDS)",
        };
        KeyVaultClient kv = {
                .msi = &msi,
                .ca_file = ca,
                .deadline_ms = (int64_t)c->config.key_vault_deadline * 1000,
                .notify = retry_log_notify,
        };
        Problems problems;
        if (problems_init(&problems, source) < 0) {
                *ret_exit = EX_SOFTWARE;
                snprintf(msg, msgsize, "out of memory");
                return -1;
        }
        notify_extend_timeout(c->config.key_vault_deadline);
        int64_t start = now_monotonic_ms();
        int ret = 0;
        size_t n = 0;
        for (int id = 0; id < _CUSTOMDATA_SECRET_MAX && ret == 0; id++) {
                const KeyVaultRef *ref = &d->refs[id].ref;
                if (!ref->uri) continue;
                const char *key = customdata_secret_key((CustomDataSecret)id);
                char label[256];
                snprintf(label, sizeof label, "Key Vault %s, secret %s", ref->host, ref->name);
                kv.userdata = label;
                Secret *value = NULL;
                char *version = NULL;
                KeyVaultFailure f;
                int r = keyvault_get_secret(&kv, ref, &value, &version, &f);
                if (r == -ENOMEM) {
                        *ret_exit = EX_SOFTWARE;
                        snprintf(msg, msgsize, "out of memory");
                        ret = -1;
                        break;
                }
                if (r < 0) {
                        *ret_exit = describe_failure(c, key, ref, r, &f, d->managed_identity_client_id, msg, msgsize);
                        log_error("%s", msg);
                        ret = -1;
                        break;
                }
                r = customdata_set_secret(d, (CustomDataSecret)id, secret_reveal(value), secret_len(value), &problems);
                secret_free(value);
                if (r < 0) {
                        free(version);
                        *ret_exit = r == -ENOMEM ? EX_SOFTWARE : EX_DATAERR;
                        _cleanup_free_ char *first = problems_first(&problems);
                        snprintf(msg, msgsize, "%s", first ? first : "invalid value from Key Vault");
                        log_error("%s", msg);
                        ret = -1;
                        break;
                }
                if (!version && ref->version) version = strdup(ref->version);
                free(c->secret_versions[id]);
                c->secret_versions[id] = version;
                log_info("%s: from Key Vault %s, secret %s, version %s", key, ref->host, ref->name,
                         version ? version : "(unknown)");
                n++;
        }
        keyvault_client_done(&kv);
        problems_done(&problems);
        if (ret == 0 && n > 0)
                log_info("%zu secret%s read from Key Vault in %lld ms", n, n == 1 ? "" : "s",
                         (long long)(now_monotonic_ms() - start));
        return ret;
}

int secrets_record_applied(Context *c, CustomDataSecret id) {
        if (id < 0 || id >= _CUSTOMDATA_SECRET_MAX || !c->secret_versions[id] || !c->state) return 0;
        return state_set_secret_version(c->state, customdata_secret_key(id), c->secret_versions[id]);
}
