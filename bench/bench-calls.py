#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drive applinkd over the session bus for bench/run-benchmarks.sh.

Subcommands:
  add-site URL NAME           AddSite with the personal access token read from stdin
  create-link SITE URL NAME   CreateLink with the default options
  throughput METHOD [SITE]    issue many asynchronous calls from one connection and
                              print one JSON object with the median rate
  latency METHOD [SITE]       make calls one at a time and print the median time of one
                              call in milliseconds; METHOD GetId calls the bus itself
  daemon-pid                  print the process id of the org.applink.Manager owner

Run it with /usr/bin/python3, which is Debian's and has PyGObject (python3-gi).
"""

import argparse
import json
import statistics
import sys
import time

from gi.repository import Gio, GLib

BUS_NAME = "org.applink.Manager"
OBJECT_PATH = "/org/applink/Manager"
INTERFACE = "org.applink.Manager"

# Longer than applinkd's default HTTP timeout of 30 s, so that applinkd reports a slow
# Jira itself.
CALL_TIMEOUT_MS = 60_000


def call_manager(bus, method, parameters, reply_type):
    return bus.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, method, parameters,
                         GLib.VariantType.new(reply_type), Gio.DBusCallFlags.NONE,
                         CALL_TIMEOUT_MS, None)


def add_site(bus, args):
    token = sys.stdin.readline().rstrip("\n")
    if not token:
        sys.exit("bench-calls.py: add-site: no token on standard input")
    credentials = {"token": GLib.Variant("s", token)}
    options = {"name": GLib.Variant("s", args.name)}
    parameters = GLib.Variant("(sa{sv}a{sv})", (args.url, credentials, options))
    reply = call_manager(bus, "AddSite", parameters, "(s)")
    print(reply.unpack()[0])


def create_link(bus, args):
    parameters = GLib.Variant("(sssa{sv})", (args.site, args.url, args.name, {}))
    reply = call_manager(bus, "CreateLink", parameters, "(a{sv})")
    print(reply.unpack()[0]["id"])


def daemon_pid(bus, _args):
    reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "GetConnectionUnixProcessID", GLib.Variant("(s)", (BUS_NAME,)),
                          GLib.VariantType.new("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    print(reply.unpack()[0])


class CallBatch:
    """A batch of `total` asynchronous calls, of which `in_flight` are outstanding at once."""

    def __init__(self, bus, method, parameters, total, in_flight):
        self.bus = bus
        self.method = method
        self.parameters = parameters
        self.total = total
        self.in_flight = in_flight
        self.sent = 0
        self.finished = 0
        self.errors = []
        self.loop = GLib.MainLoop()

    def send_next(self):
        self.sent += 1
        self.bus.call(BUS_NAME, OBJECT_PATH, INTERFACE, self.method, self.parameters, None,
                      Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None, self.on_reply, None)

    def on_reply(self, bus, result, _user_data):
        try:
            bus.call_finish(result)
        except GLib.Error as error:
            self.errors.append(error.message)
        self.finished += 1
        if self.sent < self.total:
            self.send_next()
        elif self.finished == self.total:
            self.loop.quit()

    def on_time_limit(self):
        self.errors.append(f"time limit reached after {self.finished} of {self.total} replies")
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def run(self, time_limit):
        """Return the seconds from the first call to the last reply."""
        limit_source = GLib.timeout_add_seconds(time_limit, self.on_time_limit)
        start = time.monotonic()
        for _ in range(min(self.in_flight, self.total)):
            self.send_next()
        self.loop.run()
        elapsed = time.monotonic() - start
        if self.finished == self.total:
            GLib.source_remove(limit_source)
        return elapsed


def throughput(bus, args):
    if args.method == "ListSites":
        parameters = None
    elif args.site is None:
        sys.exit(f"bench-calls.py: throughput: {args.method} needs a SITE")
    else:
        parameters = GLib.Variant("(s)", (args.site,))

    rates = []
    errors = []
    for _ in range(args.repeat):
        batch = CallBatch(bus, args.method, parameters, args.calls, args.in_flight)
        seconds = batch.run(args.time_limit)
        rates.append(batch.finished / seconds)
        errors.extend(batch.errors)
        if batch.errors:
            break
    print(json.dumps({
        "method": args.method,
        "calls": args.calls,
        "in_flight": args.in_flight,
        "runs": len(rates),
        "median_calls_per_second": round(statistics.median(rates), 1),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }))
    if errors:
        sys.exit(1)


def latency(bus, args):
    if args.method == "GetId":
        target = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
    else:
        target = (BUS_NAME, OBJECT_PATH, INTERFACE)
    if args.method == "ListLinks":
        if args.site is None:
            sys.exit("bench-calls.py: latency: ListLinks needs a SITE")
        parameters = GLib.Variant("(s)", (args.site,))
    else:
        parameters = None

    deadline = time.monotonic() + args.time_limit
    times = []
    while len(times) < args.calls and time.monotonic() < deadline:
        start = time.perf_counter()
        bus.call_sync(*target, args.method, parameters, None, Gio.DBusCallFlags.NONE,
                      CALL_TIMEOUT_MS, None)
        times.append(time.perf_counter() - start)
    print(f"{statistics.median(times) * 1000:.3f}")


def main():
    parser = argparse.ArgumentParser(description="Drive applinkd for the benchmarks.")
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("add-site", help="AddSite, token on standard input")
    command.add_argument("url")
    command.add_argument("name")
    command.set_defaults(func=add_site)

    command = commands.add_parser("create-link", help="CreateLink with default options")
    command.add_argument("site")
    command.add_argument("url")
    command.add_argument("name")
    command.set_defaults(func=create_link)

    command = commands.add_parser("throughput", help="many asynchronous calls from one client")
    command.add_argument("method", choices=["ListSites", "ListLinks"])
    command.add_argument("site", nargs="?")
    command.add_argument("--calls", type=int, default=2000, help="calls per run (default 2000)")
    command.add_argument("--in-flight", type=int, default=64,
                         help="calls outstanding at once (default 64)")
    command.add_argument("--repeat", type=int, default=1,
                         help="number of runs, whose median rate is printed (default 1)")
    command.add_argument("--time-limit", type=int, default=120,
                         help="seconds one run may take before it is stopped (default 120)")
    command.set_defaults(func=throughput)

    command = commands.add_parser("latency", help="median time of one call, one call at a time")
    command.add_argument("method", choices=["GetId", "ListSites", "ListLinks"])
    command.add_argument("site", nargs="?")
    command.add_argument("--calls", type=int, default=500, help="calls (default 500)")
    command.add_argument("--time-limit", type=int, default=60,
                         help="seconds after which no further call is made (default 60)")
    command.set_defaults(func=latency)

    command = commands.add_parser("daemon-pid", help="process id of the org.applink.Manager owner")
    command.set_defaults(func=daemon_pid)

    args = parser.parse_args()
    if args.command == "throughput" and (args.calls < 1 or args.in_flight < 1 or args.repeat < 1):
        parser.error("--calls, --in-flight and --repeat must be at least 1")
    if args.command == "latency" and args.calls < 1:
        parser.error("--calls must be at least 1")
    bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    try:
        args.func(bus, args)
    except GLib.Error as error:
        sys.exit(f"bench-calls.py: {args.command} failed: {error.message}")


if __name__ == "__main__":
    main()
