/* http-private: the parts of lib/http that lib/probe shares, so that a preflight probe
 * reads response headers and trusts certificates exactly as a real request does. For
 * lib/ only (it takes libcurl handles); the agent uses http.h and probe.h. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* For a libcurl header callback: whether the line (data, n bytes) is a status line,
 * which starts a new response (100 Continue, a proxy's CONNECT answer): the headers
 * of the response before it no longer count. */
bool http_header_is_status_line(const char *data, size_t n);
/* When the line is the header name (given with its colon, "date:"; matched without
 * regard to case), copies its value without surrounding blanks or the line end, cut
 * to vsize - 1 bytes, into v and returns true; false for any other line. */
bool http_header_value(const char *data, size_t n, const char *name, char *v, size_t vsize);

/* Reads ca_file (at most 1 MiB) into memory for http_set_trust; on failure also
 * writes "cannot read CA file '...': why" to msg. */
int http_ca_load(const char *ca_file, char **ret, size_t *ret_len, char *msg, size_t msg_size);
/* The trust of a handle: the CA blob from http_ca_load plus the system store, or, with
 * no blob and tls true, the system store alone; both as a hashed directory, which
 * OpenSSL searches only for the issuer it needs (parsing the whole system bundle costs
 * ~60 ms CPU and ~1 MiB per request). Returns NULL, or the name of the option libcurl
 * refused. */
const char *http_set_trust(CURL *h, char *blob, size_t len, bool tls);
