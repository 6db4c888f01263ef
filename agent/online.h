/* Waiting for network-online.target before the steps that need the internet (the
 * Darktrace installer, apt, a legacy script): the unit itself starts after
 * network.target only, since IMDS and the wireserver answer on the primary
 * interface's DHCP lease long before every interface is configured. */
#pragma once

#include "context.h"

/* Waits (polling systemd over D-Bus, at most timeout_s) until network-online.target
 * is active. Does nothing under --root or without a system bus; a timeout is a
 * warning, not a failure: the downloads retry connection errors themselves. */
void wait_network_online(Context *c, int timeout_s);
