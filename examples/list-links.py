#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""List the registered Jira sites and the Salesforce links of each, through D-Bus.

Calls ListSites and ListLinks of org.applink.Manager on the session bus. The bus starts
applinkd through D-Bus activation when it is not running. Exits with status 1 when a call
fails, printing the org.applink.Error name and message.
"""

import sys

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = "org.applink.Manager"
OBJECT_PATH = "/org/applink/Manager"
INTERFACE = "org.applink.Manager"
# Above applinkd's own HTTP time limit, so that applinkd reports a slow Jira itself.
CALL_TIMEOUT_MS = 120 * 1000


def call(manager, method, signature, *arguments):
    """Call a method of the manager and return its first output value."""
    parameters = GLib.Variant(signature, arguments) if signature else None
    reply = manager.call_sync(method, parameters, Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
    return reply.unpack()[0]


def print_site(manager, site):
    print(f"site {site['id']}: {site['url']} (Jira {site.get('jira-version', '?')}, "
          f"{site['auth']} as {site['username']})")
    links = call(manager, "ListLinks", "(s)", site["id"])
    if not links:
        print("  no Salesforce link")
    for link in links:
        primary = ", primary" if link.get("primary") else ""
        print(f"  link {link['id']}: {link['name']} -> {link['url']} "
              f"(outgoing authentication {link['outgoing-auth']}{primary})")


def main():
    try:
        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        manager = Gio.DBusProxy.new_sync(
            bus, Gio.DBusProxyFlags.DO_NOT_LOAD_PROPERTIES, None,
            BUS_NAME, OBJECT_PATH, INTERFACE, None)
        sites = call(manager, "ListSites", None)
        if not sites:
            print("no Jira site registered: add one with 'applinkctl site add URL'")
        for site in sites:
            print_site(manager, site)
    except GLib.Error as error:
        name = Gio.DBusError.get_remote_error(error) or error.domain
        Gio.DBusError.strip_remote_error(error)
        print(f"list-links.py: {error.message} ({name})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
