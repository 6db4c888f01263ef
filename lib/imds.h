/* imds: Azure Instance Metadata Service. GET with "Metadata: true", never through a
 * proxy, no redirects; 404, 410, 429, 5xx, connection errors and timeouts are retried
 * until the deadline (retry_status_imds). JSON primitives may arrive as strings. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "retry.h"
#include "util.h"

#define IMDS_INSTANCE_PATH "/metadata/instance?api-version=2021-02-01"
#define IMDS_USERDATA_PATH "/metadata/instance/compute/userData?api-version=2021-01-01&format=text"
#define IMDS_MAX_BODY (4u * 1024 * 1024)

typedef struct ImdsPublicKey {
        char *key_data;
        char *path;          /* e.g. /home/azureuser/.ssh/authorized_keys; may be NULL */
} ImdsPublicKey;

typedef struct ImdsInstance {
        char *vm_id;                  /* compute.vmId, lower case */
        char *name;                   /* compute.name */
        char *computer_name;          /* compute.osProfile.computerName */
        char *admin_username;         /* compute.osProfile.adminUsername */
        bool disable_password_authentication; /* compute.osProfile.disablePasswordAuthentication */
        ImdsPublicKey *public_keys;   /* compute.publicKeys */
        size_t n_public_keys;
        char *location;               /* compute.location */
        char *resource_group;         /* compute.resourceGroupName */
        char *subscription_id;        /* compute.subscriptionId */
        char *vm_scale_set_name;      /* compute.vmScaleSetName */
        char *vm_size;                /* compute.vmSize */
        char *zone;                   /* compute.zone */
        char *private_ipv4;           /* network.interface[0].ipv4.ipAddress[0].privateIpAddress */
        /* Optional fields that were malformed and left out (NULL when none), e.g.
         * "compute.vmId: not a UUID; compute.zone: expected a string", for a warning. */
        char *ignored;
} ImdsInstance;

typedef struct ImdsClient {
        const char *base_url;         /* e.g. http://169.254.169.254 */
        int64_t deadline_ms;          /* duration of the whole retry budget */
        RetryNotifyFn notify;         /* may be NULL */
        void *userdata;
} ImdsClient;

/* Parses an instance document. Missing members are NULL/false/0. A malformed field
 * provisioning needs (compute, osProfile and its members, publicKeys) is an error; a
 * malformed optional one (vmId that is not a UUID, name, location, zone, network, ...)
 * is left out and named in ->ignored: it must not sink the document (DESIGN, Field
 * rules). Booleans accept true/false and "true"/"false" in any case. Returns 0 or
 * -EBADMSG with a message in err (line:column for JSON syntax errors). */
int imds_parse_instance(const char *json, size_t len, ImdsInstance **ret, char *err, size_t errsize);
ImdsInstance *imds_instance_free(ImdsInstance *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImdsInstance *, imds_instance_free);

/* Fetches and parses the instance metadata, retrying until the deadline. Returns 0,
 * -ETIMEDOUT (deadline passed; last_error describes the last failure), -EBADMSG
 * (the 200 body did not parse; not retried), or another -errno. */
int imds_fetch_instance(const ImdsClient *c, ImdsInstance **ret, char *last_error, size_t errsize);

/* Fetches compute/userData and base64-decodes it (cap 64 KiB decoded).
 * Returns 0 with the decoded bytes, -ENOENT when userData is empty, -EBADMSG when it
 * is not base64, -ETIMEDOUT as above. */
int imds_fetch_userdata(const ImdsClient *c, char **ret, size_t *ret_len, char *last_error, size_t errsize);
