"""Reliability of applinkd and applinkctl under bad input, faults, kills and concurrency.

The bad input is wrongly typed, empty, oversized and control-character arguments, on the
bus and on applinkctl's command line. The faults are Jira and Salesforce failing in the
middle of a call, a locked, frozen or stopped keyring and a missing session bus. applinkd
is killed with SIGKILL at each step of SetOutgoingAuth and CreateLink. The module also
covers concurrent callers, the modes of the settings files, the daemon's dumpable flag and
the check of the caller's uid.
"""

import errno
import json
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

import applinktest
from applinktest import (BUS_NAME, INTERFACE, JIRA_ADMIN, OBJECT_PATH, SALESFORCE_USER,
                         SECRET_SERVICE, Gio, GLib, asv)

BUS_FLAGS = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)

# A loopback URL on which nothing listens, for calls that must fail before any request.
CLOSED_URL = "http://127.0.0.1:1"
MY_DOMAIN_URL = "https://acme.my.salesforce.com"

# Caps that applinkd puts on caller strings, in bytes (service/applink-daemon-private.h and
# service/applink-url.h).
MAX_NAME = 255
MAX_URL = 2048
MAX_SECRET = 4096
MAX_SITE_ID = 64
# applinkd's worker threads per site, for Jira calls and, apart, for Salesforce logins.
WORKERS_PER_SITE = 4
MAX_MESSAGE = 1000
# Characters that applinkd rejects in caller text besides C0 controls and DEL: C1 controls
# (NEL, CSI) and the Unicode controls of text direction (RLO, LRI).
UNICODE_CONTROLS = ("\x85", "\x9b", "\u202e", "\u2066")

# Seconds applinkd gets for one keyring call in the keyring fault tests, and the slack
# allowed on top of it for the call around it.
KEYRING_TIMEOUT = 3
KEYRING_SLACK = 5

NOBODY_UID = 65534


def connect(address):
    """Open a new connection of its own to the bus at address."""
    return Gio.DBusConnection.new_for_address_sync(address, BUS_FLAGS, None, None)


def session_address():
    return os.environ["DBUS_SESSION_BUS_ADDRESS"]


def remote_name(error):
    """Return the D-Bus error name of a GLib.Error, or a description of a local error."""
    name = Gio.DBusError.get_remote_error(error)
    if name is not None:
        return name
    return f"local:{error.domain}:{error.code}"


def raw_call(connection, method, parameters, interface=INTERFACE, timeout_ms=10000):
    """Call applinkd without any client-side type check.

    Returns (reply, None) or (None, GLib.Error).
    """
    try:
        reply = connection.call_sync(BUS_NAME, OBJECT_PATH, interface, method, parameters,
                                     None, Gio.DBusCallFlags.NO_AUTO_START, timeout_ms, None)
    except GLib.Error as error:
        return None, error
    return reply, None


def interface_methods():
    """Return {method name: list of in-argument types} from the interface XML."""
    xml = (applinktest.SOURCE_DIR / "dbus-interfaces" / "org.applink.Manager.xml").read_text()
    info = Gio.DBusNodeInfo.new_for_xml(xml).lookup_interface(INTERFACE)
    return {method.name: [arg.signature for arg in method.in_args] for method in info.methods}


def sample_value(type_string):
    """Return a Python value for a GLib.Variant of type_string, for the types used here."""
    samples = {"s": "x", "i": 7, "u": 7, "b": True, "o": "/x", "as": ["x"], "ay": b"x",
               "a{sv}": {}, "a{ss}": {"key": "value"}, "v": GLib.Variant("s", "x")}
    return samples[type_string]


def wrong_signatures(types):
    """Return argument type lists that differ from types, for calls applinkd must reject."""
    if not types:
        return [["s"], ["i"], ["a{sv}"]]
    candidates = [[], types[:-1], types + ["s"]]
    for index, type_string in enumerate(types):
        for replacement in ("i", "o", "as", "a{ss}"):
            if replacement != type_string:
                candidates.append(types[:index] + [replacement] + types[index + 1:])
    unique = []
    for candidate in candidates:
        if candidate != types and candidate not in unique:
            unique.append(candidate)
    return unique


def variant_for(types):
    if not types:
        return None
    signature = "".join(types)
    return GLib.Variant(f"({signature})", tuple(sample_value(t) for t in types))


def split_salesforce_secret(secret):
    """Return (password, security token) from a Salesforce keyring item's secret.

    The secret is NUL-separated fields after the tag "applink-salesforce-1" (README, "Where
    credentials live").
    """
    fields = secret.split("\x00")
    if len(fields) < 3 or fields[0] != "applink-salesforce-1":
        raise AssertionError("a Salesforce keyring item has an unknown format")
    return fields[1], fields[2]


def parse_key_file(text):
    """Parse text as a GKeyFile, as applinkd writes its settings, and return it."""
    key_file = GLib.KeyFile()
    data = text.encode("utf-8")
    key_file.load_from_data(text, len(data), GLib.KeyFileFlags.NONE)
    return key_file


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate until it returns a true value, and return that value or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def proc_uids(pid):
    """Return (real uid, owner of /proc/PID/status) of a process.

    proc(5): the files in /proc/PID of a process that is not dumpable belong to root.
    """
    status = Path(f"/proc/{pid}/status")
    real = None
    for line in status.read_text().splitlines():
        if line.startswith("Uid:"):
            real = int(line.split()[1])
    return real, status.stat().st_uid


# Run by /usr/bin/python3 as the tracing user: prints the errno of PTRACE_ATTACH (0 on
# success, then detaches).
PTRACE_PROGRAM = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid = int(sys.argv[1])
if libc.ptrace(16, pid, None, None) != 0:
    print(ctypes.get_errno())
    sys.exit(0)
try:
    os.waitpid(pid, 0x40000000)  # __WALL: wait for the tracee, which is no child of ours
except ChildProcessError:
    time.sleep(0.2)
libc.ptrace(17, pid, None, None)
print(0)
"""


class PrivateBus:
    """A dbus-daemon of the test's own on an abstract unix socket.

    It has no activatable service at all, so nothing the test stops can be started again
    behind its back. With allow_all_users, processes of every uid may connect.
    """

    def __init__(self, workdir, name, allow_all_users=False):
        services = workdir / f"{name}-services"
        services.mkdir()
        self.config_path = workdir / f"{name}.conf"
        socket_name = f"applink-test-{secrets.token_hex(8)}"
        allow_users = '    <allow user="*"/>\n' if allow_all_users else ""
        self.config_path.write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            "<busconfig>\n"
            f"  <listen>unix:abstract={socket_name}</listen>\n"
            "  <auth>EXTERNAL</auth>\n"
            f"  <servicedir>{services}</servicedir>\n"
            '  <policy context="default">\n'
            f"{allow_users}"
            '    <allow send_destination="*" eavesdrop="true"/>\n'
            '    <allow eavesdrop="true"/>\n'
            '    <allow own="*"/>\n'
            "  </policy>\n"
            "</busconfig>\n")
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={self.config_path}", "--nofork", "--print-address=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log)
        self.address = self._read_address()
        self.connection = connect(self.address)

    def _read_address(self):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=applinktest.START_TIMEOUT)
        selector.close()
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"dbus-daemon printed no address. Its log: {self.log_path}")
        return line

    def stop(self):
        connection = getattr(self, "connection", None)
        if connection is not None and not connection.is_closed():
            connection.close_sync(None)
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process.stdout.close()
        if not self._log.closed:
            self._log.close()


class PrivateKeyring:
    """A gnome-keyring-daemon on a PrivateBus, with its own login keyring in home.

    The daemon runs in the foreground as a child of the test, so stopping it is certain.
    """

    def __init__(self, bus, home, password):
        self.bus = bus
        self.password = password
        self.process = None
        self.runtime = home / "runtime"
        self.runtime.mkdir(mode=0o700, parents=True)
        self.environment = dict(
            os.environ, DBUS_SESSION_BUS_ADDRESS=bus.address, HOME=str(home),
            XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
            XDG_CACHE_HOME=str(home / "cache"), XDG_RUNTIME_DIR=str(self.runtime))
        self.environment.pop("GNOME_KEYRING_CONTROL", None)
        self.log_path = home / "keyring.log"

    def start(self, unlock=True):
        """Start the daemon and return its pid.

        With unlock, the daemon unlocks (or creates) the login keyring with the password.
        Without, the login keyring stays locked, as after a restart outside a desktop login.
        """
        control = self.runtime / "keyring" / "control"
        command = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if unlock:
            command.append("--unlock")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=log, stderr=log, env=self.environment)
            if unlock:
                self.process.stdin.write(self.password.encode())
            self.process.stdin.close()
            if not wait_until(control.exists, applinktest.START_TIMEOUT):
                raise RuntimeError(f"the private keyring made no control socket (exit status "
                                   f"{self.process.poll()}). Its log: "
                                   f"{self.log_path.read_text(errors='replace')}")
            # The unlocking daemon serves the Secret Service once asked to start that
            # component, as in tests/applink-test-env.
            subprocess.run(["gnome-keyring-daemon", "--start", "--components=secrets"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                           env=self.environment, timeout=30, check=True)
        owner = wait_until(
            lambda: applinktest.name_owner_pid(self.bus.connection, SECRET_SERVICE),
            applinktest.START_TIMEOUT)
        if owner != self.process.pid:
            raise RuntimeError(f"{SECRET_SERVICE} is owned by pid {owner}, not by the private "
                               f"keyring {self.process.pid}. Its log: {self.log_path}")
        if unlock and not wait_until(self.default_collection_unlocked,
                                     applinktest.START_TIMEOUT):
            raise RuntimeError("the default collection of the private keyring is not unlocked")
        if not unlock and self.default_collection_unlocked():
            raise RuntimeError("the default collection of the private keyring is unlocked")
        return self.process.pid

    def default_collection_unlocked(self):
        connection = self.bus.connection
        try:
            reply = connection.call_sync(
                SECRET_SERVICE, applinktest.SECRET_SERVICE_PATH, "org.freedesktop.Secret.Service",
                "ReadAlias", GLib.Variant("(s)", ("default",)), GLib.VariantType("(o)"),
                Gio.DBusCallFlags.NONE, 5000, None)
            collection = reply.unpack()[0]
            if collection == "/":
                return False
            reply = connection.call_sync(
                SECRET_SERVICE, collection, "org.freedesktop.DBus.Properties", "Get",
                GLib.Variant("(ss)", ("org.freedesktop.Secret.Collection", "Locked")),
                GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, 5000, None)
        except GLib.Error:
            return False
        return reply.unpack()[0] is False

    def stop(self):
        """Stop the daemon with SIGTERM and wait until it and its bus name are gone."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        name_released = wait_until(
            lambda: applinktest.name_owner_pid(self.bus.connection, SECRET_SERVICE) is None, 10)
        if not name_released:
            raise RuntimeError(f"{SECRET_SERVICE} still has an owner after the keyring stopped")

    def items(self):
        """Return every item of the private keyring that has a site attribute."""
        completed = subprocess.run(["secret-tool", "search", "--all", "site", "jira"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=30, env=self.environment)
        items = applinktest.parse_secret_tool_search(completed.stdout)
        return sorted(items, key=lambda item: item["path"])


class BusDaemon(applinktest.Daemon):
    """applinkd on the bus at address, optionally run as another user."""

    def __init__(self, connection, workdir, index, address, extra_arguments=(), run_as=None,
                 environment=None):
        self.log_path = workdir / f"applinkd-{index}.log"
        self._log = open(self.log_path, "wb")
        command = [str(applinktest.DAEMON), "--verbose", "--idle-timeout", "0", "--timeout", "5",
                   *extra_arguments]
        if run_as is not None:
            command = ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups",
                       *command]
        full_environment = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
        full_environment.update(environment or {})
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=full_environment)
        self.connection = connection


class BackgroundCall:
    """A Manager call run in a thread, so that the test can act while it is in flight."""

    def __init__(self, manager, method, signature, *arguments):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(manager, method, signature,
                                                               arguments), daemon=True)
        self.thread.start()

    def _run(self, manager, method, signature, arguments):
        try:
            self.result = manager.call(method, signature, *arguments)
        except applinktest.ManagerError as error:
            self.error = error

    def join(self, timeout=30):
        self.thread.join(timeout)
        return not self.thread.is_alive()


class ReliabilityCase(applinktest.ApplinkTestCase):
    """Shared helpers: daemon restarts, snapshots of every store, private buses and daemons."""

    def assert_daemon_alive(self):
        self.assertIsNone(self.daemon.process.poll(), "applinkd exited")
        self.assertEqual(self.daemon.owner_pid(), self.daemon.process.pid)
        self.assertIsInstance(self.manager.list_sites(), list)

    def restart_daemon(self, *arguments):
        """Stop applinkd and start a new one, which has no credential cached in memory."""
        self.daemon.stop()
        return self.start_daemon(*arguments)

    def kill_daemon(self):
        self.daemon.process.kill()
        self.daemon.process.wait(timeout=10)

    def keyring_snapshot(self):
        """Return every applink keyring item with path, attributes, secret and times."""
        items = (self.keyring_items(applinktest.JIRA_SCHEMA)
                 + self.keyring_items(applinktest.SALESFORCE_SCHEMA))
        return sorted(items, key=lambda item: item["path"])

    def jira_snapshot(self):
        state = self.jira.state()
        return {"links": state["links"], "providers": state["providers"]}

    def settings_text(self):
        path = self.config_dir / "applink.conf"
        return path.read_text() if path.exists() else None

    def assertSnapshotEqual(self, before, after, description):
        """Compare two snapshots that contain secrets without printing them."""
        self.assertTrue(before == after, f"{description} changed")

    def new_connection(self, address=None):
        connection = connect(address or session_address())
        self.addCleanup(connection.close_sync, None)
        return connection

    def start_private_bus(self, name, allow_all_users=False):
        bus = PrivateBus(self.workdir, name, allow_all_users)
        self.addCleanup(bus.stop)
        # Cleanups run last-added first, so the leak check reads the bus's log.
        self.addCleanup(self.record_log, bus.log_path)
        return bus

    def record_log(self, path):
        if path.exists():
            self.record_output(f"log {path.name}", path.read_text(errors="replace"))

    def start_daemon_on(self, bus, *arguments, run_as=None, environment=None):
        """Start applinkd on a private bus and return a Manager for it."""
        daemon = BusDaemon(bus.connection, self.workdir, len(self.daemons) + 1, bus.address,
                           arguments, run_as, environment)
        self.daemons.append(daemon)
        self.addCleanup(daemon.stop)
        daemon.wait_for_name()
        return daemon, applinktest.Manager(bus.connection, self.record_output)

    def make_nobody_home(self):
        """Return a folder in the test's directory that the user nobody can write.

        The folders above it get the search bit for others, until the test ends.
        """
        home = self.workdir / "nobody-home"
        home.mkdir()
        os.chown(home, NOBODY_UID, NOBODY_UID)
        root = Path(os.environ["APPLINK_TEST_ROOT"])
        folder = self.workdir
        while True:
            mode = stat.S_IMODE(folder.stat().st_mode)
            folder.chmod(mode | stat.S_IXOTH)
            self.addCleanup(folder.chmod, mode)
            if folder == root or folder == folder.parent:
                break
            folder = folder.parent
        return home

    def set_salesforce_users(self, users):
        """Replace the Salesforce double's users with (username, password, token) triples."""
        for _, password, token in users:
            self.remember_secret(password)
            self.remember_secret(token)
        self.salesforce.control("POST", "users", [
            {"username": username, "password": password, "token": token}
            for username, password, token in users])

    def credentials(self, username, password, token):
        return {"username": username, "password": password, "security-token": token}

    def stored_credentials(self, site, link):
        """Return (username, password, token) for every Salesforce item of the link."""
        result = []
        for item in self.salesforce_items(site=site, link=link):
            password, token = split_salesforce_secret(item["secret"])
            result.append((item["attributes"]["username"], password, token))
        return result

    def truthful_in_sync(self, site, link):
        """Return what "in-sync" must be: whether Jira's provider has exactly every stored item."""
        provider = self.jira_basic_provider(link)
        stored = self.stored_credentials(site, link)
        if provider is None or not stored:
            return False
        return all(provider["username"] == username and provider["password"] == password + token
                   for username, password, token in stored)

    def verified_logins(self):
        """Return the usernames whose password and token the Salesforce double accepted."""
        return {request["username"] for request in self.salesforce.requests()
                if request["status"] == 200 and request["password_matched"]
                and request["token_present"]}

    def run_cli_bytes(self, arguments, stdin=None, environment=None):
        """Run applinkctl with byte-string arguments and input, in a given environment."""
        completed = subprocess.run([str(applinktest.CLI), *arguments], input=stdin,
                                   capture_output=True, timeout=applinktest.CLI_TIMEOUT,
                                   env=environment if environment is not None else os.environ)
        label = " ".join(os.fsdecode(argument) for argument in arguments)
        self.record_output(f"stdout of applinkctl {label}",
                           completed.stdout.decode("utf-8", "replace"))
        self.record_output(f"stderr of applinkctl {label}",
                           completed.stderr.decode("utf-8", "replace"))
        return completed


class WrongSignatureTest(ReliabilityCase):
    """Every method called with argument types that differ from the interface."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_daemon()

    def test_every_method_invalid_args(self):
        for method, types in sorted(interface_methods().items()):
            for wrong in wrong_signatures(types):
                with self.subTest(method=method, signature="".join(wrong)):
                    reply, error = raw_call(self.bus, method, variant_for(wrong))
                    self.assertIsNone(reply, "applinkd accepted a wrong signature")
                    self.assertEqual(remote_name(error), "org.freedesktop.DBus.Error.InvalidArgs")
        self.assert_daemon_alive()

    def test_properties_wrong_signature(self):
        cases = [("Get", GLib.Variant("(s)", (INTERFACE,))),
                 ("Get", GLib.Variant("(si)", (INTERFACE, 1))),
                 ("GetAll", GLib.Variant("(i)", (1,))),
                 ("Set", GLib.Variant("(ss)", (INTERFACE, "Version")))]
        for method, parameters in cases:
            with self.subTest(method=method, signature=parameters.get_type_string()):
                _, error = raw_call(self.bus, method, parameters,
                                    interface="org.freedesktop.DBus.Properties")
                self.assertIsNotNone(error)
                # GDBus itself handles these, and returns UnknownMethod in GLib 2.74.
                self.assertIn(remote_name(error), {"org.freedesktop.DBus.Error.InvalidArgs",
                                                   "org.freedesktop.DBus.Error.UnknownMethod"})
        self.assert_daemon_alive()

    def test_unknown_method(self):
        _, error = raw_call(self.bus, "NoSuchMethod", None)
        self.assertEqual(remote_name(error), "org.freedesktop.DBus.Error.UnknownMethod")
        self.assert_daemon_alive()


class DictionaryKeyTest(ReliabilityCase):
    """Unknown and wrongly typed keys in every a{sv} argument: InvalidArgument naming the key."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_daemon()

    # (method, signature, name of the a{sv} argument, function from that dictionary to the
    # arguments, accepted keys with their types)
    DICTIONARIES = [
        ("AddSite", "sa{sv}a{sv}", "credentials",
         lambda d: (CLOSED_URL, d, {}),
         {"token": "s", "username": "s", "password": "s"}),
        ("AddSite", "sa{sv}a{sv}", "options",
         lambda d: (CLOSED_URL, asv(token="x"), d),
         {"name": "s", "ca-file": "s", "link-type": "s"}),
        ("ProbeUrl", "sa{sv}", "options",
         lambda d: (MY_DOMAIN_URL, d),
         {"site": "s"}),
        ("CreateLink", "sssa{sv}", "options",
         lambda d: ("nosuchsite", CLOSED_URL, "Salesforce", d),
         {"type": "s", "primary": "b", "check": "b", "if-exists": "s"}),
        ("UpdateLink", "ssa{sv}", "changes",
         lambda d: ("nosuchsite", "nosuchlink", d),
         {"name": "s", "primary": "b", "url": "s"}),
        ("SetOutgoingAuth", "ssa{sv}a{sv}", "credentials",
         lambda d: ("nosuchsite", "nosuchlink", d, {}),
         {"username": "s", "password": "s", "security-token": "s", "consumer-key": "s",
          "consumer-secret": "s"}),
        ("SetOutgoingAuth", "ssa{sv}a{sv}", "options",
         lambda d: ("nosuchsite", "nosuchlink", asv(username="u", password="p"), d),
         {"login-url": "s", "sandbox": "b", "api-version": "s", "verify": "b"}),
    ]

    WRONG_VALUES = {
        "s": [GLib.Variant("i", 1), GLib.Variant("as", ["x"]), GLib.Variant("o", "/x")],
        "b": [GLib.Variant("s", "true"), GLib.Variant("i", 1)],
    }

    def test_unknown_keys(self):
        for method, signature, argument, build, known in self.DICTIONARIES:
            for key in ("no-such-key", "Token", "", "username ", "é"):
                if key in known:
                    continue
                with self.subTest(method=method, argument=argument, key=key):
                    dictionary = {key: GLib.Variant("s", "x")}
                    error = self.manager.error(method, signature, *build(dictionary))
                    self.assertEqual(error.name, "InvalidArgument")
                    self.assertIn(f"'{key}'", error.message)
                    self.assertIn(argument, error.message)
        self.assert_daemon_alive()

    def test_wrong_types(self):
        for method, signature, argument, build, known in self.DICTIONARIES:
            for key, expected_type in known.items():
                for value in self.WRONG_VALUES[expected_type]:
                    with self.subTest(method=method, key=key, type=value.get_type_string()):
                        error = self.manager.error(method, signature, *build({key: value}))
                        self.assertEqual(error.name, "InvalidArgument")
                        self.assertIn(f"'{key}'", error.message)
                        self.assertIn(f"'{expected_type}'", error.message)
        self.assert_daemon_alive()

    def test_many_keys(self):
        dictionary = {f"key-{index}": GLib.Variant("s", "x") for index in range(10000)}
        error = self.manager.error("ProbeUrl", "sa{sv}", MY_DOMAIN_URL, dictionary)
        self.assertEqual(error.name, "InvalidArgument")
        self.assert_daemon_alive()


class StringLimitTest(ReliabilityCase):
    """Empty, oversized and control-character strings in every string argument."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]

    def link_calls(self, link):
        """Return (method, signature, arguments) of every call that takes a link argument."""
        credentials = asv(username=SALESFORCE_USER, password="x")
        return [("GetLink", "ss", (self.site, link)),
                ("UpdateLink", "ssa{sv}", (self.site, link, asv(name="Other"))),
                ("DeleteLink", "ss", (self.site, link)),
                ("SetOutgoingAuth", "ssa{sv}a{sv}", (self.site, link, credentials, {})),
                ("GetOutgoingAuth", "ss", (self.site, link)),
                ("TestOutgoingAuth", "ss", (self.site, link)),
                ("ClearOutgoingAuth", "ss", (self.site, link))]

    def secret(self, length, kind="sec"):
        """Return a random secret of exactly length bytes, remembered for the leak check."""
        head = f"{kind}{secrets.token_hex(8)}"
        value = head + "s" * (length - len(head))
        self.remember_secret(value)
        return value

    def call_error(self, call):
        method, signature, arguments = call
        return self.manager.error(method, signature, *arguments)

    def assert_rejected(self, error, names, words):
        self.assertIn(error.name, names)
        for word in words:
            self.assertIn(word, error.message.lower())

    def test_link_argument_limits(self):
        too_long = "é" * 128  # 256 bytes in 128 characters
        longest = "é" * 127 + "a"
        for method, signature, arguments in self.link_calls(too_long):
            with self.subTest(method=method, length=256):
                error = self.manager.error(method, signature, *arguments)
                self.assert_rejected(error, {"InvalidArgument"}, ["the link", "255 bytes"])
        for method, signature, arguments in self.link_calls(longest):
            with self.subTest(method=method, length=255):
                error = self.manager.error(method, signature, *arguments)
                self.assertEqual(error.name, "NotFound")
        for method, signature, arguments in self.link_calls(""):
            with self.subTest(method=method, length=0):
                error = self.manager.error(method, signature, *arguments)
                self.assert_rejected(error, {"InvalidArgument"}, ["the link", "empty"])
        self.assert_daemon_alive()

    def test_link_argument_control_characters(self):
        for character in ("\x01", "\t", "\n", "\x1b", "\x1f", "\x7f", *UNICODE_CONTROLS):
            for method, signature, arguments in self.link_calls(f"Sales{character}force"):
                with self.subTest(method=method, character=hex(ord(character))):
                    error = self.manager.error(method, signature, *arguments)
                    self.assert_rejected(error, {"InvalidArgument"},
                                         ["the link", "control character"])
        self.assertEqual(len(self.jira_links()), 1)
        self.assert_daemon_alive()

    def test_link_name_limits(self):
        for length in (MAX_NAME + 1, 4 * MAX_URL):
            with self.subTest(call="CreateLink", length=length):
                error = self.manager.error("CreateLink", "sssa{sv}", self.site, MY_DOMAIN_URL,
                                           "n" * length, {})
                self.assert_rejected(error, {"InvalidArgument"}, ["link name", "255 bytes"])
            with self.subTest(call="UpdateLink", length=length):
                error = self.manager.error("UpdateLink", "ssa{sv}", self.site, self.link,
                                           asv(name="n" * length))
                self.assert_rejected(error, {"InvalidArgument"}, ["link name", "255 bytes"])
        for name in ("", "a\x02b", "tab\tname", "line\nname",
                     *(f"Sales{character}force" for character in UNICODE_CONTROLS)):
            with self.subTest(call="CreateLink", name=name):
                error = self.manager.error("CreateLink", "sssa{sv}", self.site, MY_DOMAIN_URL,
                                           name, {})
                self.assert_rejected(error, {"InvalidArgument"}, ["link name"])
            with self.subTest(call="UpdateLink", name=name):
                error = self.manager.error("UpdateLink", "ssa{sv}", self.site, self.link,
                                           asv(name=name))
                self.assert_rejected(error, {"InvalidArgument"}, ["link name"])
        self.assertEqual(len(self.jira_links()), 1)
        self.manager.update_link(self.site, self.link, {"name": "n" * MAX_NAME})
        self.assertEqual(self.jira_links()[0]["name"], "n" * MAX_NAME)

    def test_url_limits(self):
        path = MY_DOMAIN_URL + "/"
        longest = path + "p" * (MAX_URL - len(path))
        self.assertEqual(self.manager.probe_url(longest)["url"], MY_DOMAIN_URL)
        too_long = longest + "p"
        calls = [("ProbeUrl", "sa{sv}", (too_long, {}), "salesforce url"),
                 ("CreateLink", "sssa{sv}", (self.site, too_long, "Name", {}), "salesforce url"),
                 ("AddSite", "sa{sv}a{sv}", (CLOSED_URL + "/" + "p" * MAX_URL, asv(token="x"),
                                             {}), "jira url"),
                 ("SetOutgoingAuth", "ssa{sv}a{sv}",
                  (self.site, self.link, asv(username=SALESFORCE_USER, password="x"),
                   asv(**{"login-url": too_long})), "salesforce url")]
        for method, signature, arguments, label in calls:
            with self.subTest(method=method):
                error = self.manager.error(method, signature, *arguments)
                self.assert_rejected(error, {"InvalidUrl"}, [label, "2048 bytes"])

    def test_url_empty_and_control_characters(self):
        for url in ("", "   ", "https://acme.my.salesforce.com/\x01",
                    "https://ac\tme.my.salesforce.com", "https://acme.my.salesforce.com\n",
                    "https://acme\x7f.my.salesforce.com"):
            calls = [("ProbeUrl", "sa{sv}", (url, {})),
                     ("CreateLink", "sssa{sv}", (self.site, url, "Name", {})),
                     ("AddSite", "sa{sv}a{sv}", (url, asv(token="x"), {})),
                     ("SetOutgoingAuth", "ssa{sv}a{sv}",
                      (self.site, self.link, asv(username=SALESFORCE_USER, password="x"),
                       asv(**{"login-url": url})))]
            for method, signature, arguments in calls:
                with self.subTest(method=method, url=url):
                    error = self.manager.error(method, signature, *arguments)
                    self.assertEqual(error.name, "InvalidUrl")
                    self.assertIn("url", error.message.lower())
        self.assertEqual(len(self.jira_links()), 1)
        self.assert_daemon_alive()

    def test_secret_limits(self):
        site_url = self.jira.url
        cases = [
            ("the token", lambda value: ("AddSite", "sa{sv}a{sv}",
                                         (site_url, asv(token=value), asv(name="other")))),
            ("the jira password", lambda value: (
                "AddSite", "sa{sv}a{sv}",
                (site_url, asv(username=JIRA_ADMIN, password=value), asv(name="other")))),
            ("the salesforce password", lambda value: (
                "SetOutgoingAuth", "ssa{sv}a{sv}",
                (self.site, self.link, asv(username=SALESFORCE_USER, password=value), {}))),
            ("the security token", lambda value: (
                "SetOutgoingAuth", "ssa{sv}a{sv}",
                (self.site, self.link, asv(username=SALESFORCE_USER, password="x",
                                           **{"security-token": value}), {}))),
            ("the consumer key", lambda value: (
                "SetOutgoingAuth", "ssa{sv}a{sv}",
                (self.site, self.link, asv(username=SALESFORCE_USER, password="x",
                                           **{"consumer-key": value, "consumer-secret": "y"}),
                 {}))),
            ("the consumer secret", lambda value: (
                "SetOutgoingAuth", "ssa{sv}a{sv}",
                (self.site, self.link, asv(username=SALESFORCE_USER, password="x",
                                           **{"consumer-key": "k", "consumer-secret": value}),
                 {}))),
        ]
        for label, build in cases:
            with self.subTest(secret=label, length=MAX_SECRET + 1):
                error = self.call_error(build(self.secret(MAX_SECRET + 1)))
                self.assert_rejected(error, {"InvalidArgument"}, [label, "4096 bytes"])
            with self.subTest(secret=label, length=MAX_SECRET):
                error = self.call_error(build(self.secret(MAX_SECRET)))
                self.assertNotEqual(error.name, "InvalidArgument", error.message)
            for character in ("\x03", *UNICODE_CONTROLS):
                with self.subTest(secret=label, character=hex(ord(character))):
                    value = self.secret(40) + character
                    error = self.call_error(build(value))
                    self.assert_rejected(error, {"InvalidArgument"},
                                         [label, "control character"])
                    self.assertNotIn(value[:-1], error.message)
        self.assertEqual(self.stored_credentials(self.site, self.link), [])
        self.assertEqual([site["id"] for site in self.manager.list_sites()], ["jira"])

    def test_username_limits(self):
        cases = [
            ("the jira user name", lambda value: (
                "AddSite", "sa{sv}a{sv}",
                (self.jira.url, asv(username=value, password="x"), asv(name="other")))),
            ("the salesforce username", lambda value: (
                "SetOutgoingAuth", "ssa{sv}a{sv}",
                (self.site, self.link, asv(username=value, password="x"), {}))),
        ]
        for label, build in cases:
            for value, words in (("u" * (MAX_NAME + 1), ["255 bytes"]), ("", ["empty"]),
                                 ("user\nname", ["control character"]),
                                 ("user\u202ename", ["control character", "u+202e"])):
                with self.subTest(argument=label, value=value[:20]):
                    error = self.call_error(build(value))
                    self.assert_rejected(error, {"InvalidArgument"}, [label, *words])
            with self.subTest(argument=label, length=MAX_NAME):
                error = self.call_error(build("u" * MAX_NAME))
                self.assertNotEqual(error.name, "InvalidArgument", error.message)
        self.assert_daemon_alive()

    def test_option_values_checked(self):
        cases = [
            ("CreateLink", "sssa{sv}", (self.site, MY_DOMAIN_URL, "Name", asv(type="")),
             "link type"),
            ("CreateLink", "sssa{sv}", (self.site, MY_DOMAIN_URL, "Name", asv(type="t" * 65)),
             "link type"),
            ("CreateLink", "sssa{sv}",
             (self.site, MY_DOMAIN_URL, "Name", asv(**{"if-exists": ""})), "if-exists"),
            ("AddSite", "sa{sv}a{sv}", (self.jira.url, asv(token="x"), asv(name="")),
             "site name"),
            ("AddSite", "sa{sv}a{sv}", (self.jira.url, asv(token="x"), asv(name="n" * 65)),
             "site name"),
            ("AddSite", "sa{sv}a{sv}",
             (self.jira.url, asv(token="x"), asv(**{"link-type": "bad type"})), "link type"),
            ("AddSite", "sa{sv}a{sv}",
             (self.jira.url, asv(token="x"), asv(**{"ca-file": "relative.pem"})), "ca file"),
            ("SetOutgoingAuth", "ssa{sv}a{sv}",
             (self.site, self.link, asv(username=SALESFORCE_USER, password="x"),
              asv(**{"api-version": ""})), "api version"),
            ("SetOutgoingAuth", "ssa{sv}a{sv}",
             (self.site, self.link, asv(username=SALESFORCE_USER, password="x"),
              asv(**{"api-version": "9" * 300 + ".0"})), "api version"),
        ]
        mutating = len(self.jira_mutating_requests())
        for method, signature, arguments, label in cases:
            with self.subTest(method=method, option=label, value=repr(arguments[-1])[:40]):
                error = self.manager.error(method, signature, *arguments)
                self.assert_rejected(error, {"InvalidArgument"}, [label])
        self.assertEqual(len(self.jira_links()), 1)
        self.assertEqual(len(self.jira_mutating_requests()), mutating)


    def test_jira_link_name_with_control(self):
        # Jira accepts control characters in a link name, which applinkd shows as U+FFFD.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for name, type_id, url in (("Wiki\x85team", "confluence", "https://wiki.example.com"),
                                   ("Sales\x85force\u202e", "salesforce",
                                    "https://other.my.salesforce.com")):
            body = {"name": name, "typeId": type_id, "rpcUrl": url, "displayUrl": url,
                    "isPrimary": False}
            request = urllib.request.Request(
                f"{self.jira.url}/rest/applinks/2.0/applicationlink",
                data=json.dumps(body).encode("utf-8"), method="PUT",
                headers={"Content-Type": "application/json",
                         "Authorization": f"Bearer {self.jira_admin_token}"})
            with opener.open(request, timeout=10) as reply:
                self.assertEqual(reply.status, 201)
        names = sorted(link["name"] for link in self.manager.list_links(self.site))
        self.assertEqual(names, ["Salesforce", "Sales\ufffdforce\ufffd"])
        self.assertEqual(self.manager.get_link(self.site, self.link)["id"], self.link)
        self.assertEqual(self.manager.get_outgoing_auth(self.site, self.link)["state"],
                         "not-configured")

    def test_site_id_limit(self):
        for method, signature, arguments in (
                ("RemoveSite", "s", ("s" * (MAX_SITE_ID + 1),)),
                ("ListLinks", "s", ("s" * (MAX_SITE_ID + 1),)),
                ("GetLink", "ss", ("s" * (MAX_SITE_ID + 1), self.link))):
            with self.subTest(method=method):
                error = self.manager.error(method, signature, *arguments)
                self.assert_rejected(error, {"InvalidArgument"}, ["site id", "64 bytes"])
        error = self.manager.error("ListLinks", "s", "s" * MAX_SITE_ID)
        self.assertEqual(error.name, "NotFound")

    def test_long_value_message_keeps_fix(self):
        # The message quotes the whole value; cutting it must keep the rule at its end.
        cases = [
            ("AddSite", "sa{sv}a{sv}", (self.jira.url, asv(token="x"), asv(name="a" * 4097)),
             "starting with a letter or digit"),
            ("ProbeUrl", "sa{sv}", ("https://bad_host.example/" + "p" * 1900, {}),
             "or an IP address"),
        ]
        for method, signature, arguments, ending in cases:
            with self.subTest(method=method):
                error = self.manager.error(method, signature, *arguments)
                self.assertIn(error.name, {"InvalidArgument", "InvalidUrl"})
                self.assertLessEqual(len(error.message), MAX_MESSAGE)
                self.assertIn("…", error.message)
                self.assertIn(ending, error.message)


class CallerTextTest(ReliabilityCase):
    """Caller text that applinkd does not check before it reaches errors and the log."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]

    def site_calls(self, site):
        credentials = asv(username=SALESFORCE_USER, password="x")
        return [("RemoveSite", "s", (site,)),
                ("ListLinks", "s", (site,)),
                ("GetLink", "ss", (site, self.link)),
                ("CreateLink", "sssa{sv}", (site, MY_DOMAIN_URL, "Name", {})),
                ("UpdateLink", "ssa{sv}", (site, self.link, asv(name="Other"))),
                ("DeleteLink", "ss", (site, self.link)),
                ("SetOutgoingAuth", "ssa{sv}a{sv}", (site, self.link, credentials, {})),
                ("GetOutgoingAuth", "ss", (site, self.link)),
                ("TestOutgoingAuth", "ss", (site, self.link)),
                ("ClearOutgoingAuth", "ss", (site, self.link)),
                ("ProbeUrl", "sa{sv}", (MY_DOMAIN_URL, asv(site=site)))]

    def test_site_argument_checked(self):
        # An empty site id means the only site, so it is not among these values.
        for site, words in (("s" * (MAX_SITE_ID + 1), ["64 bytes"]),
                            ("ji\nra", ["control character"]), ("ji\x1bra", ["control character"])):
            for method, signature, arguments in self.site_calls(site):
                with self.subTest(method=method, site=site[:20]):
                    error = self.manager.error(method, signature, *arguments)
                    self.assertEqual(error.name, "InvalidArgument")
                    self.assertIn("site", error.message.lower())
                    for word in words:
                        self.assertIn(word, error.message.lower())

    def test_log_lines_not_forged(self):
        marker = f"FORGED-{secrets.token_hex(4)}"
        payload = f"x\napplinkd-Message: 00:00:00.000: {marker}"
        calls = [call for call in self.site_calls(payload) if call[0] != "RemoveSite"]
        calls += [
            ("ProbeUrl", "sa{sv}", (MY_DOMAIN_URL, {payload: GLib.Variant("s", "x")})),
            ("CreateLink", "sssa{sv}",
             (self.site, MY_DOMAIN_URL, "Name", asv(**{"if-exists": payload}))),
            ("AddSite", "sa{sv}a{sv}", (self.jira.url, asv(token="x"), asv(name=payload))),
            ("AddSite", "sa{sv}a{sv}",
             (self.jira.url, asv(token="x"), asv(**{"ca-file": payload}))),
            ("SetOutgoingAuth", "ssa{sv}a{sv}",
             (self.site, self.link, asv(username=SALESFORCE_USER, password="x"),
              asv(**{"api-version": payload}))),
        ]
        for method, signature, arguments in calls:
            self.manager.error(method, signature, *arguments)
        forged = [line for line in self.daemon.log_text().splitlines()
                  if line.startswith(("applinkd-Message: 00:00:00.000", marker))]
        self.assertEqual(forged, [], "caller text started lines of its own in the daemon log")


class OneReplyTest(ReliabilityCase):
    """Every call, good or bad, gets exactly one reply and none times out."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]

    def messages(self):
        """Return method-call messages of every kind this module sends, good and bad."""
        calls = []
        for method, types in interface_methods().items():
            for wrong in wrong_signatures(types):
                calls.append((INTERFACE, method, variant_for(wrong)))
        calls += [
            (INTERFACE, "ListSites", None),
            (INTERFACE, "ListLinks", GLib.Variant("(s)", (self.site,))),
            (INTERFACE, "GetLink", GLib.Variant("(ss)", (self.site, self.link))),
            (INTERFACE, "GetLink", GLib.Variant("(ss)", (self.site, "x" * 300))),
            (INTERFACE, "GetOutgoingAuth", GLib.Variant("(ss)", (self.site, self.link))),
            (INTERFACE, "ProbeUrl", GLib.Variant("(sa{sv})", ("x" * 5000, {}))),
            (INTERFACE, "ProbeUrl", GLib.Variant("(sa{sv})", (MY_DOMAIN_URL,
                                                              {"bad": GLib.Variant("i", 1)}))),
            (INTERFACE, "CreateLink", GLib.Variant("(sssa{sv})",
                                                   (self.site, "", "", {}))),
            (INTERFACE, "AddSite", GLib.Variant("(sa{sv}a{sv})", ("", {}, {}))),
            (INTERFACE, "NoSuchMethod", None),
            ("org.applink.NoSuchInterface", "ListSites", None),
            ("org.freedesktop.DBus.Properties", "Get",
             GLib.Variant("(ss)", (INTERFACE, "Version"))),
            ("org.freedesktop.DBus.Properties", "Get",
             GLib.Variant("(ss)", (INTERFACE, "NoSuchProperty"))),
            ("org.freedesktop.DBus.Properties", "Set",
             GLib.Variant("(ssv)", (INTERFACE, "Version", GLib.Variant("s", "9")))),
            ("org.freedesktop.DBus.Properties", "GetAll", GLib.Variant("(s)", (INTERFACE,))),
            ("org.freedesktop.DBus.Introspectable", "Introspect", None),
            ("org.freedesktop.DBus.Peer", "Ping", None),
        ]
        messages = []
        for interface, method, body in calls * 3:
            message = Gio.DBusMessage.new_method_call(BUS_NAME, OBJECT_PATH, interface, method)
            if body is not None:
                message.set_body(body)
            messages.append(message)
        return messages

    def test_exactly_one_reply(self):
        connection = self.new_connection()
        replies = {}
        lock = threading.Lock()

        def count_replies(_connection, message, incoming, *_user_data):
            if incoming and message.get_message_type() in (Gio.DBusMessageType.METHOD_RETURN,
                                                           Gio.DBusMessageType.ERROR):
                with lock:
                    serial = message.get_reply_serial()
                    replies[serial] = replies.get(serial, 0) + 1
            return message

        filter_id = connection.add_filter(count_replies)
        self.addCleanup(connection.remove_filter, filter_id)
        outcomes = {}

        def on_reply(source, result, index):
            try:
                source.send_message_with_reply_finish(result)
                outcomes[index] = "reply"
            except GLib.Error as error:
                timed_out = error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT)
                outcomes[index] = "timeout" if timed_out else remote_name(error)

        serials = []
        for index, message in enumerate(self.messages()):
            serial = connection.send_message_with_reply(
                message, Gio.DBusSendMessageFlags.NONE, 30000, None, on_reply, index)
            serials.append(serial)
        context = GLib.MainContext.default()
        deadline = time.monotonic() + 60
        while len(outcomes) < len(serials) and time.monotonic() < deadline:
            context.iteration(True)
        # Any second reply would arrive soon after the first.
        time.sleep(0.5)
        while context.pending():
            context.iteration(False)

        self.assertEqual(len(outcomes), len(serials), "some calls got no reply within 60 s")
        timed_out = [index for index, outcome in outcomes.items() if outcome == "timeout"]
        self.assertEqual(timed_out, [])
        with lock:
            counts = {serial: replies.get(serial, 0) for serial in serials}
        self.assertEqual({serial: count for serial, count in counts.items() if count != 1}, {})
        self.assert_daemon_alive()


class CliInputTest(ReliabilityCase):
    """Invalid UTF-8 and control characters in applinkctl's arguments and standard input."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]

    def daemon_calls_since(self, offset, method=""):
        text = self.daemon.log_text()[offset:]
        return [line for line in text.splitlines() if f"{method} from :" in line]

    def assert_usage_error(self, completed, words):
        stderr = completed.stderr.decode("utf-8", "replace")
        self.assertEqual(completed.returncode, 2, stderr)
        first_line = stderr.splitlines()[0] if stderr else ""
        for word in words:
            self.assertIn(word, first_line)
        completed.stderr.decode("utf-8")  # raises on bytes that are not UTF-8
        self.assertFalse(any(ord(c) < 0x20 and c != "\n" or ord(c) == 0x7f for c in stderr),
                         f"stderr contains a control character: {stderr!r}")

    def argument_cases(self, bad):
        url = self.jira.url.encode()
        return [
            ([b"link", b"show", bad], ["LINK"]),
            ([b"--site", bad, b"link", b"list"], ["--site"]),
            ([b"link", b"create", bad, b"--name", b"N"], ["URL"]),
            ([b"link", b"create", MY_DOMAIN_URL.encode(), b"--name", bad], ["--name"]),
            ([b"link", b"edit", b"Salesforce", b"--name", bad], ["--name"]),
            ([b"site", b"add", bad, b"--stdin"], ["URL"]),
            ([b"site", b"add", url, b"--name", bad, b"--stdin"], ["--name"]),
            ([b"site", b"add", url, b"--user", bad, b"--stdin"], ["--user"]),
            ([b"auth", b"set", b"Salesforce", b"--username", bad, b"--stdin"], ["--username"]),
            ([b"auth", b"set", bad, b"--username", b"u", b"--stdin"], ["LINK"]),
            ([b"auth", b"set", b"Salesforce", b"--username", b"u", b"--login-url", bad,
              b"--stdin"], ["--login-url"]),
            ([bad], ["command"]),
            ([b"link", bad], ["command"]),
        ]

    def test_argv_invalid_utf8(self):
        offset = len(self.daemon.log_text())
        for arguments, words in self.argument_cases(b"Sales\xff\xfeforce"):
            with self.subTest(arguments=arguments):
                completed = self.run_cli_bytes(arguments, stdin=b"x\ny\n")
                self.assert_usage_error(completed, words + ["UTF-8"])
        self.assertEqual(self.daemon_calls_since(offset), [])

    def test_argv_control_characters(self):
        offset = len(self.daemon.log_text())
        for bad in (b"Sales\x1b[2Jforce", b"Sales\nforce", b"Sales\x7fforce", b"\x07"):
            for arguments, words in self.argument_cases(bad):
                with self.subTest(arguments=arguments):
                    completed = self.run_cli_bytes(arguments, stdin=b"x\ny\n")
                    self.assert_usage_error(completed, words + ["control character"])
        self.assertEqual(self.daemon_calls_since(offset), [])

    def test_probe_argument_named(self):
        for bad in (b"Sales\xff\xfeforce", b"Sales\x1b[2Jforce"):
            with self.subTest(argument=bad):
                completed = self.run_cli_bytes([b"probe", bad])
                self.assert_usage_error(completed, ["URL"])

    def test_stdin_secrets_checked(self):
        auth_set = [b"auth", b"set", b"Salesforce", b"--username", SALESFORCE_USER.encode(),
                    b"--stdin"]
        with_key = auth_set + [b"--consumer-key", b"key"]
        site_add = [b"site", b"add", self.jira.url.encode(), b"--name", b"other", b"--stdin"]
        basic_add = site_add + [b"--user", JIRA_ADMIN.encode()]
        secret = self.new_secret("stdin").encode()
        cases = [
            (auth_set, secret + b"\xff\n" + secret + b"\n", "Salesforce password", "UTF-8"),
            (auth_set, secret + b"\x07\n" + secret + b"\n", "Salesforce password",
             "control character"),
            (auth_set, secret + b"\x00x\n" + secret + b"\n", "Salesforce password", "NUL"),
            (auth_set, b"s" * (MAX_SECRET + 1) + b"\n\n", "Salesforce password", "4096 bytes"),
            (auth_set, secret + b"\n\xc3\n", "security token", "UTF-8"),
            (auth_set, secret + b"\n" + secret + b"\x1b\n", "security token",
             "control character"),
            (with_key, secret + b"\n\n" + secret + b"\x7f\n", "consumer secret",
             "control character"),
            (site_add, secret + b"\xfe\n", "Jira personal access token", "UTF-8"),
            (basic_add, secret + b"\x08\n", "Jira password", "control character"),
        ]
        offset = len(self.daemon.log_text())
        for arguments, stdin, label, problem in cases:
            with self.subTest(label=label, problem=problem):
                completed = self.run_cli_bytes(arguments, stdin=stdin)
                self.assert_usage_error(completed, [label, problem])
        self.assertEqual(self.daemon_calls_since(offset, "SetOutgoingAuth"), [])
        self.assertEqual(self.daemon_calls_since(offset, "AddSite"), [])
        self.assertEqual(self.salesforce.requests(), [])

    def test_argv_unicode_controls(self):
        offset = len(self.daemon.log_text())
        for character in UNICODE_CONTROLS:
            bad = f"Sales{character}force".encode()
            for arguments, words in self.argument_cases(bad):
                with self.subTest(arguments=arguments):
                    completed = self.run_cli_bytes(arguments, stdin=b"x\ny\n")
                    self.assert_usage_error(completed, words + ["control character"])
        self.assertEqual(self.daemon_calls_since(offset), [])

    def test_longest_secret_with_crlf(self):
        # A "\r\n" line end does not count against the limit.
        password = self.secret_of_length(MAX_SECRET)
        token = self.new_secret("tok")
        self.set_salesforce_users([(SALESFORCE_USER, password, token)])
        completed = self.run_cli_bytes(
            [b"auth", b"set", b"Salesforce", b"--username", SALESFORCE_USER.encode(),
             b"--stdin"], stdin=f"{password}\r\n{token}\r\n".encode())
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(self.stored_credentials(self.site, self.link),
                         [(SALESFORCE_USER, password, token)])
        completed = self.run_cli_bytes(
            [b"auth", b"set", b"Salesforce", b"--username", SALESFORCE_USER.encode(),
             b"--stdin"], stdin=f"{password}x\r\n{token}\r\n".encode())
        self.assert_usage_error(completed, ["Salesforce password", "4096 bytes"])

    def secret_of_length(self, length):
        head = self.new_secret("long")
        value = head + "s" * (length - len(head))
        self.remember_secret(value)
        return value

    def test_stdin_closed(self):
        # The shell closes descriptor 0 for "<&-"; the secret is then missing, not unreadable.
        completed = subprocess.run(
            [str(applinktest.CLI), "site", "add", self.jira.url, "--name", "other", "--stdin"],
            stdin=None, capture_output=True, timeout=applinktest.CLI_TIMEOUT,
            preexec_fn=lambda: os.close(0))
        self.record_output("stderr of applinkctl site add with stdin closed",
                           completed.stderr.decode("utf-8", "replace"))
        self.assert_usage_error(completed, ["standard input ended", "token"])

    def test_json_usage_errors(self):
        cases = [
            ([b"--json", b"--bogus", b"version"], "--bogus"),
            ([b"--json", b"--site"], "--site"),
            ([b"link", b"list", b"--json", b"--bogus"], "--bogus"),
            ([b"--json", b"link", b"create", MY_DOMAIN_URL.encode(), b"--name", b"N",
              b"--primary=no"], "--primary takes no value"),
        ]
        for arguments, words in cases:
            with self.subTest(arguments=arguments):
                completed = self.run_cli_bytes(arguments)
                self.assertEqual(completed.returncode, 2, completed.stderr)
                reply = json.loads(completed.stdout)
                self.assertEqual(reply["error"]["name"], "UsageError")
                self.assertIn(words, reply["error"]["message"])
        # GLib alone would take --json=no as --json.
        completed = self.run_cli_bytes([b"--json=no", b"version"])
        self.assert_usage_error(completed, ["--json takes no value"])
        self.assertEqual(completed.stdout, b"")
        self.assertEqual(len(self.jira_links()), 1)

    def test_local_values_before_secrets(self):
        # Values that applinkctl can check itself fail before it reads any secret.
        cases = [
            ([b"site", b"add", self.jira.url.encode(), b"--name", b"other", b"--ca-file",
              b"/nonexistent/ca.pem", b"--stdin"], ["--ca-file", "/nonexistent/ca.pem"]),
            ([b"auth", b"set", b"Salesforce", b"--username", SALESFORCE_USER.encode(),
              b"--api-version", b"64", b"--stdin"], ["--api-version", "'64'"]),
        ]
        offset = len(self.daemon.log_text())
        for arguments, words in cases:
            with self.subTest(arguments=arguments):
                completed = self.run_cli_bytes(arguments, stdin=b"")
                self.assert_usage_error(completed, words)
        self.assertEqual(self.daemon_calls_since(offset, "SetOutgoingAuth"), [])
        self.assertEqual(self.daemon_calls_since(offset, "AddSite"), [])


class JiraFaultTest(ReliabilityCase):
    """Jira down, slow, hanging or closing the connection in the middle of a call."""

    def setUp(self):
        super().setUp()
        self.start_services()
        self.manager = self.restart_daemon("--timeout", "2")
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, self.link, self.salesforce_credentials())

    def calls(self):
        """Return (method, signature, arguments) of every call that needs Jira."""
        return [("ListLinks", "s", (self.site,)),
                ("GetLink", "ss", (self.site, self.link)),
                ("CreateLink", "sssa{sv}", (self.site, MY_DOMAIN_URL, "Other", {})),
                ("UpdateLink", "ssa{sv}", (self.site, self.link, asv(name="Other"))),
                ("DeleteLink", "ss", (self.site, self.link)),
                ("GetOutgoingAuth", "ss", (self.site, self.link)),
                ("TestOutgoingAuth", "ss", (self.site, self.link)),
                ("SetOutgoingAuth", "ssa{sv}a{sv}",
                 (self.site, self.link, asv(self.salesforce_credentials()), {})),
                ("ClearOutgoingAuth", "ss", (self.site, self.link)),
                ("ProbeUrl", "sa{sv}", (MY_DOMAIN_URL, asv(site=self.site)))]

    def assert_every_call_fails(self, names, max_seconds):
        keyring = self.keyring_snapshot()
        for method, signature, arguments in self.calls():
            with self.subTest(method=method):
                started = time.monotonic()
                error = self.manager.error(method, signature, *arguments)
                elapsed = time.monotonic() - started
                self.assertIn(error.name, names, error.message)
                self.assertLess(elapsed, max_seconds)
        self.assertSnapshotEqual(self.keyring_snapshot(), keyring, "the keyring")
        self.assert_daemon_alive()

    def test_jira_down(self):
        self.jira.stop()
        self.assert_every_call_fails({"Unreachable"}, 5)

    def test_jira_hangs(self):
        self.jira.configure(hang=True)
        self.assert_every_call_fails({"Timeout"}, 15)

    def test_jira_trickles_reply(self):
        # A byte every half second never trips libsoup's limit on each read; applinkd limits
        # the whole request to --timeout.
        self.jira.configure(trickle={"interval": 0.5})
        self.assert_every_call_fails({"Timeout"}, 15)
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertIn("its reply was not complete within 2 s", error.message)

    def test_jira_closes_mid_reply(self):
        self.jira.configure(close=True)
        jira = self.jira_snapshot()
        self.assert_every_call_fails({"Unreachable", "JiraError"}, 5)
        self.jira.configure(close=False)
        self.assertSnapshotEqual(self.jira_snapshot(), jira, "Jira's links and providers")

    def test_jira_closes_before_reply(self):
        self.jira.configure(close={"stage": "before-reply"})
        self.assert_every_call_fails({"Unreachable", "JiraError"}, 5)

    def test_jira_slow_within_timeout(self):
        self.jira.configure(delay={"seconds": 1, "path": "/rest"})
        self.assertEqual([link["id"] for link in self.manager.list_links(self.site)],
                         [self.link])
        status = self.manager.set_outgoing_auth(self.site, self.link,
                                                self.salesforce_credentials())
        self.assertEqual(status["state"], "configured")

    def test_provider_put_hangs(self):
        old = self.stored_credentials(self.site, self.link)
        provider = self.jira_basic_provider(self.link)
        password, token = self.new_secret("sfpw"), self.new_secret("sftok")
        self.set_salesforce_users([(SALESFORCE_USER, password, token)])
        self.jira.configure(hang={"path": f"/rest/applinks/2.0/applicationlink/{self.link}",
                                  "method": "PUT"})
        error = self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site, self.link,
                                   asv(self.credentials(SALESFORCE_USER, password, token)), {})
        self.assertEqual(error.name, "Timeout")
        self.jira.configure(hang=False)
        self.assertSecretEqual(self.stored_credentials(self.site, self.link), old,
                               "the earlier credential was not put back")
        self.assertSecretEqual(self.jira_basic_provider(self.link), provider,
                               "Jira's provider changed")
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)

    def test_provider_reply_lost(self):
        password, token = self.new_secret("sfpw"), self.new_secret("sftok")
        self.set_salesforce_users([(SALESFORCE_USER, password, token)])
        self.jira.configure(hang={"path": f"/rest/applinks/2.0/applicationlink/{self.link}",
                                  "method": "PUT", "stage": "after-handling"})
        error = self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site, self.link,
                                   asv(self.credentials(SALESFORCE_USER, password, token)), {})
        self.assertEqual(error.name, "Timeout")
        self.jira.configure(hang=False)
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["in-sync"], self.truthful_in_sync(self.site, self.link))
        self.manager.set_outgoing_auth(self.site, self.link,
                                       self.credentials(SALESFORCE_USER, password, token))
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)


class SalesforceFaultTest(ReliabilityCase):
    """Salesforce down, slow, hanging or closing the connection during a login."""

    def setUp(self):
        super().setUp()
        self.start_services()
        self.manager = self.restart_daemon("--timeout", "2")
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, self.link, self.salesforce_credentials())
        self.addCleanup(self.release_salesforce)

    def release_salesforce(self):
        if self.salesforce.process.poll() is None:
            self.salesforce.configure(hang=False)

    def assert_test_auth_fails(self, names):
        keyring = self.keyring_snapshot()
        provider = self.jira_basic_provider(self.link)
        started = time.monotonic()
        error = self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertLess(time.monotonic() - started, 15)
        self.assertIn(error.name, names, error.message)
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["last-error"], error.name)
        self.assertIs(status["in-sync"], True)
        self.assertSnapshotEqual(self.keyring_snapshot(), keyring, "the keyring")
        self.assertSecretEqual(self.jira_basic_provider(self.link), provider,
                               "Jira's provider changed")
        self.assert_daemon_alive()

    def assert_set_auth_fails(self, names):
        keyring = self.keyring_snapshot()
        password, token = self.new_secret("sfpw"), self.new_secret("sftok")
        error = self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site, self.link,
                                   asv(self.credentials(SALESFORCE_USER, password, token)), {})
        self.assertIn(error.name, names, error.message)
        self.assertSnapshotEqual(self.keyring_snapshot(), keyring, "the keyring")
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)

    def test_down_during_test(self):
        self.salesforce.stop()
        self.assert_test_auth_fails({"Unreachable"})

    def test_hang_during_test(self):
        self.salesforce.configure(hang=True)
        self.assert_test_auth_fails({"Timeout"})

    def test_close_during_test(self):
        self.salesforce.configure(close=True)
        self.assert_test_auth_fails({"Unreachable", "SalesforceError"})

    def test_close_during_set(self):
        self.salesforce.configure(close=True)
        self.assert_set_auth_fails({"Unreachable", "SalesforceError"})

    def test_status_500_during_set(self):
        self.salesforce.configure(status=500)
        self.assert_set_auth_fails({"SalesforceError"})

    def test_hang_leaves_jira_calls(self):
        # Hanging logins fill every login worker of the site. Calls that only read Jira run
        # on other workers and return while the logins wait. Each login uses its own link,
        # because the logins of one link run one at a time.
        links = [self.link] + [
            self.manager.create_link(self.site, f"https://org{index}.my.salesforce.com",
                                     f"Org {index}")["id"]
            for index in range(WORKERS_PER_SITE + 1)]
        for link in links[1:]:
            self.manager.set_outgoing_auth(self.site, link, self.salesforce_credentials(),
                                           {"login-url": self.salesforce.url})
        manager = self.restart_daemon("--timeout", "30")
        self.salesforce.configure(hang=True)
        before = len(self.salesforce.requests())
        logins = [BackgroundCall(manager, "TestOutgoingAuth", "ss", self.site, link)
                  for link in links]
        self.assertTrue(wait_until(
            lambda: len(self.salesforce.requests()) - before >= WORKERS_PER_SITE, 10))
        listed = manager.list_links(self.site)
        status = manager.get_outgoing_auth(self.site, self.link)
        waiting = [call.thread.is_alive() for call in logins]
        self.salesforce.configure(hang=False)
        self.assertEqual(sorted(link["id"] for link in listed), sorted(links))
        self.assertEqual(status["state"], "configured")
        self.assertEqual(waiting, [True] * len(logins))
        for call in logins:
            self.assertTrue(call.join())
            self.assertIsNone(call.error)
            self.assertEqual(call.result["state"], "configured")

    def test_slow_within_timeout(self):
        self.salesforce.configure(delay=1)
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")
        self.assertNotIn("last-error", status)


class LockedKeyringTest(ReliabilityCase):
    """A locked keyring under a daemon that has no credential cached: KeyringLocked only."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, self.link, self.salesforce_credentials())
        self.keyring = self.keyring_snapshot()
        self.jira_state = self.jira_snapshot()
        self.settings = self.settings_text()
        self.lock_keyring()

    def every_call(self):
        credentials = asv(token=self.jira_admin_token)
        return [("ListLinks", "s", (self.site,)),
                ("GetLink", "ss", (self.site, self.link)),
                ("CreateLink", "sssa{sv}", (self.site, MY_DOMAIN_URL, "Other", {})),
                ("UpdateLink", "ssa{sv}", (self.site, self.link, asv(name="Other"))),
                ("DeleteLink", "ss", (self.site, self.link)),
                ("SetOutgoingAuth", "ssa{sv}a{sv}",
                 (self.site, self.link, asv(self.salesforce_credentials()), {})),
                ("GetOutgoingAuth", "ss", (self.site, self.link)),
                ("TestOutgoingAuth", "ss", (self.site, self.link)),
                ("ClearOutgoingAuth", "ss", (self.site, self.link)),
                ("ProbeUrl", "sa{sv}", (MY_DOMAIN_URL, asv(site=self.site))),
                ("AddSite", "sa{sv}a{sv}", (self.jira.url, credentials, asv(name="jira"))),
                ("RemoveSite", "s", (self.site,))]

    def assert_nothing_changed(self):
        self.unlock_keyring()
        self.assertSnapshotEqual(self.keyring_snapshot(), self.keyring, "the keyring")
        self.assertSnapshotEqual(self.jira_snapshot(), self.jira_state,
                                 "Jira's links and providers")
        self.assertEqual(self.settings_text(), self.settings)

    def test_fresh_daemon_every_call(self):
        self.restart_daemon()
        for method, signature, arguments in self.every_call():
            with self.subTest(method=method):
                error = self.manager.error(method, signature, *arguments)
                self.assertEqual(error.name, "KeyringLocked", error.message)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        self.assert_nothing_changed()

    def test_cached_site_get_auth(self):
        error = self.manager.error("GetOutgoingAuth", "ss", self.site, self.link)
        self.assertEqual(error.name, "KeyringLocked", error.message)
        self.assert_nothing_changed()

    def test_delete_stops_before_jira(self):
        # The keyring is checked first, so the link is not deleted in Jira while its
        # credential could not be deleted after.
        error = self.manager.error("DeleteLink", "ss", self.site, self.link)
        self.assertEqual(error.name, "KeyringLocked", error.message)
        self.assertEqual([link["id"] for link in self.jira_links()], [self.link])
        self.unlock_keyring()
        self.manager.delete_link(self.site, self.link)
        self.assertEqual(self.jira_links(), [])
        self.assertEqual(self.salesforce_items(site=self.site), [])


class FrozenKeyringTest(ReliabilityCase):
    """A keyring that never replies (SIGSTOP): bounded by --keyring-timeout, then unharmed."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, self.link, self.salesforce_credentials())
        self.keyring = self.keyring_snapshot()
        self.keyring_pid = applinktest.name_owner_pid(self.bus, SECRET_SERVICE)
        self.assertIsNotNone(self.keyring_pid)

    def freeze_keyring(self):
        os.kill(self.keyring_pid, signal.SIGSTOP)
        self.addCleanup(os.kill, self.keyring_pid, signal.SIGCONT)

    def test_calls_bounded(self):
        self.manager = self.restart_daemon("--keyring-timeout", str(KEYRING_TIMEOUT))
        self.freeze_keyring()
        calls = [("ListLinks", "s", (self.site,)),
                 ("AddSite", "sa{sv}a{sv}", (self.jira.url, asv(token=self.jira_admin_token),
                                             asv(name="other"))),
                 ("RemoveSite", "s", (self.site,))]
        for method, signature, arguments in calls:
            with self.subTest(method=method):
                started = time.monotonic()
                error = self.manager.error(method, signature, *arguments)
                elapsed = time.monotonic() - started
                self.assertIn(error.name, {"KeyringLocked", "KeyringUnavailable"}, error.message)
                self.assertLess(elapsed, KEYRING_TIMEOUT + KEYRING_SLACK)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        os.kill(self.keyring_pid, signal.SIGCONT)
        self.assertSnapshotEqual(self.keyring_snapshot(), self.keyring, "the keyring")
        self.assertEqual([link["id"] for link in self.manager.list_links(self.site)],
                         [self.link])

    def test_cached_site_bounded(self):
        self.manager = self.restart_daemon("--keyring-timeout", str(KEYRING_TIMEOUT))
        self.manager.list_links(self.site)
        self.freeze_keyring()
        for method in ("TestOutgoingAuth", "GetOutgoingAuth", "ClearOutgoingAuth"):
            with self.subTest(method=method):
                started = time.monotonic()
                error = self.manager.error(method, "ss", self.site, self.link)
                self.assertIn(error.name, {"KeyringLocked", "KeyringUnavailable"}, error.message)
                self.assertLess(time.monotonic() - started, KEYRING_TIMEOUT + KEYRING_SLACK)
        os.kill(self.keyring_pid, signal.SIGCONT)
        self.assertSnapshotEqual(self.keyring_snapshot(), self.keyring, "the keyring")


class StoppedKeyringTest(ReliabilityCase):
    """No Secret Service at all: a private bus whose keyring is stopped with SIGTERM.

    The private bus has no activation files, so nothing can start a keyring again.
    """

    def setUp(self):
        super().setUp()
        self.start_services()
        self.daemon.stop()
        self.private_bus = self.start_private_bus("keyring-bus")
        password = secrets.token_hex(16)
        self.remember_secret(password)
        # The keyring's control socket path must fit in 108 bytes, which a folder named
        # after the test can exceed.
        home = Path(tempfile.mkdtemp(prefix="keyring-", dir=self.workdir.parent))
        self.addCleanup(shutil.rmtree, home, True)
        self.private_keyring = PrivateKeyring(self.private_bus, home, password)
        self.addCleanup(self.record_log, self.private_keyring.log_path)
        self.private_keyring.start()
        self.addCleanup(self.private_keyring.stop)
        self.manager = self.start_private_daemon()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, self.link, self.salesforce_credentials())
        self.items = self.private_keyring.items()
        self.assertEqual(len(self.items), 2)

    def start_private_daemon(self):
        self.daemon, manager = self.start_daemon_on(self.private_bus, "--keyring-timeout",
                                                    str(KEYRING_TIMEOUT))
        self.manager = manager
        return manager

    def assert_keyring_error(self, method, signature, *arguments):
        started = time.monotonic()
        error = self.manager.error(method, signature, *arguments)
        self.assertIn(error.name, {"KeyringUnavailable", "KeyringLocked"}, error.message)
        self.assertLess(time.monotonic() - started, KEYRING_TIMEOUT + KEYRING_SLACK)

    def test_fresh_daemon_unavailable(self):
        self.private_keyring.stop()
        self.daemon.stop()
        self.start_private_daemon()
        self.assert_keyring_error("ListLinks", "s", self.site)
        self.assert_keyring_error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                  asv(token=self.jira_admin_token), asv(name="other"))
        self.assert_keyring_error("RemoveSite", "s", self.site)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        self.private_keyring.start()
        self.assertSnapshotEqual(self.private_keyring.items(), self.items, "the keyring")
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)

    def test_running_daemon_unavailable(self):
        self.private_keyring.stop()
        for method in ("TestOutgoingAuth", "GetOutgoingAuth"):
            with self.subTest(method=method):
                self.assert_keyring_error(method, "ss", self.site, self.link)
        self.assertIsNotNone(self.jira_basic_provider(self.link))
        self.private_keyring.start()
        self.assertSnapshotEqual(self.private_keyring.items(), self.items, "the keyring")

    def test_clear_stops_before_jira(self):
        self.private_keyring.stop()
        self.assert_keyring_error("ClearOutgoingAuth", "ss", self.site, self.link)
        # The keyring is checked before Jira changes.
        self.assertIsNotNone(self.jira_basic_provider(self.link))
        self.private_keyring.start()
        self.assertSnapshotEqual(self.private_keyring.items(), self.items, "the keyring")
        self.manager.clear_outgoing_auth(self.site, self.link)
        self.assertEqual([item["schema"] for item in self.private_keyring.items()],
                         [applinktest.JIRA_SCHEMA])

    def test_restarted_locked(self):
        # A restarted keyring whose login collection stays locked finds no item in a search:
        # that is KeyringLocked, never "nothing stored", and nothing is deleted or changed.
        self.private_keyring.stop()
        self.private_keyring.start(unlock=False)
        for method in ("GetOutgoingAuth", "TestOutgoingAuth", "ClearOutgoingAuth",
                       "DeleteLink"):
            with self.subTest(method=method):
                error = self.manager.error(method, "ss", self.site, self.link)
                self.assertEqual(error.name, "KeyringLocked", error.message)
        error = self.manager.error("RemoveSite", "s", self.site)
        self.assertEqual(error.name, "KeyringLocked", error.message)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        self.assertEqual([link["id"] for link in self.jira_links()], [self.link])
        self.assertIsNotNone(self.jira_basic_provider(self.link))
        self.private_keyring.stop()
        self.private_keyring.start()
        self.assertSnapshotEqual(self.private_keyring.items(), self.items, "the keyring")
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)

    def test_orphan_items_removed(self):
        # An item of a site that is not registered, as an AddSite interrupted in the keyring
        # leaves, goes with RemoveSite of that id.
        self.manager.add_site(self.jira.url, {"token": self.jira_admin_token}, {"name": "spare"})
        self.settings_remove_site("spare")
        self.daemon.stop()
        self.start_private_daemon()
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        self.manager.remove_site("spare")
        self.assertSnapshotEqual(self.private_keyring.items(), self.items, "the keyring")
        error = self.manager.error("RemoveSite", "s", "spare")
        self.assertEqual(error.name, "NotFound")

    def settings_remove_site(self, site):
        key_file = GLib.KeyFile()
        path = str(self.config_dir / "applink.conf")
        key_file.load_from_file(path, GLib.KeyFileFlags.KEEP_COMMENTS)
        key_file.remove_group(f"site {site}")
        key_file.save_to_file(path)

    def test_keyring_restarted(self):
        self.private_keyring.stop()
        self.private_keyring.start()
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")
        password, token = self.new_secret("sfpw"), self.new_secret("sftok")
        self.set_salesforce_users([(SALESFORCE_USER, password, token)])
        self.manager.set_outgoing_auth(self.site, self.link,
                                       self.credentials(SALESFORCE_USER, password, token))
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)


class SettingsFaultTest(ReliabilityCase):
    """A settings file that cannot be written: SettingsError, and the call changes nothing."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.path = self.config_dir / "applink.conf"
        self.saved = self.path.read_text()
        # Writing replaces the file by renaming a new one over it, which fails on a folder.
        self.path.unlink()
        self.path.mkdir()
        self.addCleanup(self.restore_file)

    def restore_file(self):
        if self.path.is_dir():
            self.path.rmdir()
            self.path.write_text(self.saved)
            self.path.chmod(0o600)

    def test_add_site_changes_nothing(self):
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                   asv(token=self.jira_admin_token), asv(name="second"))
        self.assertEqual(error.name, "SettingsError", error.message)
        self.assertIn(str(self.path), error.message)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        self.assertEqual(self.keyring_items(applinktest.JIRA_SCHEMA, site="second"), [])
        self.restore_file()
        self.manager.add_site(self.jira.url, {"token": self.jira_admin_token}, {"name": "third"})
        text = self.path.read_text()
        self.assertNotIn("[site second]", text)
        self.assertIn("[site third]", text)

    def test_remove_site_finished_later(self):
        # RemoveSite deletes the credential first, then the settings, which stay.
        error = self.manager.error("RemoveSite", "s", self.site)
        self.assertEqual(error.name, "SettingsError", error.message)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], [self.site])
        self.restore_file()
        self.manager.add_site(self.jira.url, {"token": self.jira_admin_token}, {"name": "third"})
        self.assertIn(f"[site {self.site}]", self.path.read_text())
        self.manager.remove_site(self.site)
        self.assertNotIn(f"[site {self.site}]", self.path.read_text())
        self.assertEqual(self.keyring_items(applinktest.JIRA_SCHEMA, site=self.site), [])


class NoSessionBusTest(ReliabilityCase):
    """applinkctl without a session bus: one line, at once, and no X11 autolaunch."""

    def environment(self, runtime_dir=True, address=None, runtime_name="runtime-without-bus"):
        """Return an environment without a bus, with a DISPLAY and a recording dbus-launch."""
        fake_bin = self.workdir / "bin"
        fake_bin.mkdir(exist_ok=True)
        self.launch_marker = self.workdir / "dbus-launch-ran"
        launcher = fake_bin / "dbus-launch"
        launcher.write_text(f"#!/bin/sh\necho \"$@\" >> '{self.launch_marker}'\nexit 1\n")
        launcher.chmod(0o755)
        environment = dict(os.environ, DISPLAY=":97",
                           PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
        environment.pop("DBUS_SESSION_BUS_ADDRESS", None)
        if address is not None:
            environment["DBUS_SESSION_BUS_ADDRESS"] = address
        runtime = self.workdir / runtime_name
        runtime.mkdir(mode=0o700, exist_ok=True)
        if runtime_dir:
            environment["XDG_RUNTIME_DIR"] = str(runtime)
        else:
            environment.pop("XDG_RUNTIME_DIR", None)
        return environment

    def environment_with_bus_file(self):
        """Return an environment whose runtime folder has a regular file named bus."""
        environment = self.environment(runtime_name="runtime-with-bus-file")
        (Path(environment["XDG_RUNTIME_DIR"]) / "bus").write_text("")
        return environment

    def test_one_line_error(self):
        for label, environment in (("no variable", self.environment()),
                                   ("empty variable", self.environment(address="")),
                                   ("no runtime dir", self.environment(runtime_dir=False)),
                                   ("autolaunch", self.environment(address="autolaunch:")),
                                   ("bus not a socket", self.environment_with_bus_file())):
            with self.subTest(case=label):
                started = time.monotonic()
                completed = self.run_cli_bytes([b"site", b"list"], environment=environment)
                elapsed = time.monotonic() - started
                stderr = completed.stderr.decode()
                self.assertEqual(completed.returncode, 1, stderr)
                self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
                self.assertIn("session bus", stderr)
                self.assertLess(elapsed, 5)
                self.assertFalse(self.launch_marker.exists(), "applinkctl ran dbus-launch")

    def test_version_names_missing_bus(self):
        completed = self.run_cli_bytes([b"version"], environment=self.environment())
        self.assertEqual(completed.returncode, 1)
        self.assertIn(b"applinkd: no session bus", completed.stdout)

    def test_json_error(self):
        completed = self.run_cli_bytes([b"--json", b"link", b"list"],
                                       environment=self.environment())
        self.assertEqual(completed.returncode, 1)
        error = json.loads(completed.stdout)["error"]
        self.assertEqual(error["name"], "NoSessionBus")
        self.assertFalse(self.launch_marker.exists(), "applinkctl ran dbus-launch")


class KillSetOutgoingAuthTest(ReliabilityCase):
    """applinkd killed with SIGKILL at each step of SetOutgoingAuth, then restarted.

    The steps are held with the doubles: the Salesforce login (step 1) with the Salesforce
    double's hang, Jira's provider PUT (step 4) with the Jira double's hang before or after
    the provider is set. The README's table lists what each stop leaves.
    """

    def setUp(self):
        super().setUp()
        self.start_services()
        self.manager = self.restart_daemon("--timeout", "30")
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.addCleanup(self.release_salesforce)
        self.old = None

    def release_salesforce(self):
        if self.salesforce.process.poll() is None:
            self.salesforce.configure(hang=False, delay=0)

    def set_earlier_credential(self, username=SALESFORCE_USER):
        self.old = (username, self.new_secret("oldpw"), self.new_secret("oldtok"))
        self.set_salesforce_users([self.old])
        self.manager.set_outgoing_auth(self.site, self.link, self.credentials(*self.old))
        self.assertIs(self.manager.get_outgoing_auth(self.site, self.link)["in-sync"], True)

    def new_credential(self, username=SALESFORCE_USER):
        """Give the Salesforce double a new credential and return it.

        An earlier credential under another username stays valid.
        """
        new = (username, self.new_secret("newpw"), self.new_secret("newtok"))
        users = [new] if self.old is None or self.old[0] == username else [self.old, new]
        self.set_salesforce_users(users)
        return new

    def start_set_auth(self, credential):
        return BackgroundCall(self.manager, "SetOutgoingAuth", "ssa{sv}a{sv}", self.site,
                              self.link, asv(self.credentials(*credential)), {})

    def hold_login(self):
        self.salesforce.configure(hang=True)

    def wait_for_held_login(self):
        held_requests = wait_until(lambda: [request for request in self.salesforce.requests()
                                            if request["status"] is None], 10)
        self.assertTrue(held_requests, "applinkd did not reach the Salesforce login")

    def hold_provider_put(self, stage):
        self.jira.configure(hang={"path": f"/rest/applinks/2.0/applicationlink/{self.link}",
                                  "method": "PUT", "stage": stage, "count": 1})

    def wait_for_held_put(self):
        def held_requests():
            return [request for request in self.jira.requests()
                    if request["method"] == "PUT" and request["status"] is None]
        self.assertTrue(wait_until(held_requests, 10),
                        "applinkd did not reach Jira's provider PUT")

    def kill_and_restart(self, call):
        self.kill_daemon()
        self.assertTrue(call.join(), "the call did not return after applinkd was killed")
        self.assertIsNotNone(call.error, "the call succeeded although applinkd was killed")
        self.release_salesforce()
        self.jira.configure(hang=False)
        self.manager = self.start_daemon("--timeout", "30")

    def assert_truthful_state(self, allowed):
        """Check that the keyring has only allowed, verified credentials and that the
        status of GetOutgoingAuth is the truth. Returns the stored credentials and status.
        """
        stored = self.stored_credentials(self.site, self.link)
        verified = self.verified_logins()
        for credential in stored:
            self.assertTrue(credential in allowed, "the keyring holds a credential that is "
                            "neither the earlier nor the new one")
            self.assertIn(credential[0], verified, "the keyring holds an unverified credential")
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["in-sync"], self.truthful_in_sync(self.site, self.link))
        self.assertEqual(status["stored"], bool(stored))
        if len(stored) == 1:
            self.assertEqual(status["salesforce-username"], stored[0][0],
                             "the status names another user than the keyring holds")
        provider = self.jira_basic_provider(self.link)
        self.assertEqual(status["state"],
                         "configured" if provider is not None else "not-configured")
        return stored, status

    def assert_finished_by_set_again(self, credential):
        self.manager.set_outgoing_auth(self.site, self.link, self.credentials(*credential))
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertIs(status["in-sync"], True)
        self.assertSecretEqual(self.stored_credentials(self.site, self.link), [credential],
                               "the keyring does not hold exactly the new credential")

    def test_login_fresh(self):
        new = self.new_credential()
        self.hold_login()
        call = self.start_set_auth(new)
        self.wait_for_held_login()
        self.kill_and_restart(call)
        stored, status = self.assert_truthful_state([])
        self.assertEqual(stored, [])
        self.assertIsNone(self.jira_basic_provider(self.link))
        self.assertIs(status["in-sync"], False)
        self.assert_finished_by_set_again(new)

    def test_login_earlier(self):
        self.set_earlier_credential()
        new = self.new_credential()
        self.hold_login()
        call = self.start_set_auth(new)
        self.wait_for_held_login()
        self.kill_and_restart(call)
        stored, status = self.assert_truthful_state([self.old])
        self.assertSecretEqual(stored, [self.old], "the earlier credential changed")
        self.assertIs(status["in-sync"], True)

    def test_login_rejected_slowly(self):
        self.set_earlier_credential()
        wrong = (SALESFORCE_USER, self.new_secret("wrongpw"), self.new_secret("wrongtok"))
        self.salesforce.configure(delay=5)
        call = self.start_set_auth(wrong)
        self.wait_for_held_login()
        self.kill_and_restart(call)
        stored, _ = self.assert_truthful_state([self.old])
        self.assertSecretEqual(stored, [self.old], "the earlier credential changed")

    def test_keyring_read_earlier(self):
        self.set_earlier_credential()
        new = self.new_credential()
        self.manager = self.restart_daemon("--timeout", "30", "--keyring-timeout", "60")
        self.manager.list_links(self.site)
        keyring_pid = applinktest.name_owner_pid(self.bus, SECRET_SERVICE)
        self.hold_login()
        call = self.start_set_auth(new)
        self.wait_for_held_login()
        os.kill(keyring_pid, signal.SIGSTOP)
        self.addCleanup(os.kill, keyring_pid, signal.SIGCONT)
        self.salesforce.configure(hang=False)
        self.assertTrue(wait_until(lambda: new[0] in self.verified_logins(), 10))
        time.sleep(0.5)
        self.kill_daemon()
        os.kill(keyring_pid, signal.SIGCONT)
        self.assertTrue(call.join())
        self.manager = self.start_daemon("--timeout", "30")
        self.assert_truthful_state([self.old, new])
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"],
                               self.old[1] + self.old[2], "Jira's provider changed")

    def test_provider_put_fresh(self):
        new = self.new_credential()
        self.hold_provider_put("before-handling")
        call = self.start_set_auth(new)
        self.wait_for_held_put()
        self.kill_and_restart(call)
        stored, status = self.assert_truthful_state([new])
        self.assertSecretEqual(stored, [new], "the keyring lacks the new, verified credential")
        self.assertIs(status["in-sync"], False)
        self.assert_finished_by_set_again(new)

    def test_provider_put_earlier(self):
        self.set_earlier_credential()
        new = self.new_credential()
        self.hold_provider_put("before-handling")
        call = self.start_set_auth(new)
        self.wait_for_held_put()
        self.kill_and_restart(call)
        stored, status = self.assert_truthful_state([self.old, new])
        self.assertSecretEqual(stored, [new], "the keyring lacks the new, verified credential")
        self.assertIs(status["in-sync"], False)
        self.assert_finished_by_set_again(new)

    def test_provider_put_other_user(self):
        self.set_earlier_credential("first@example.com")
        new = self.new_credential("second@example.com")
        self.hold_provider_put("before-handling")
        call = self.start_set_auth(new)
        self.wait_for_held_put()
        self.kill_and_restart(call)
        stored = self.stored_credentials(self.site, self.link)
        verified = self.verified_logins()
        # The new item replaced the earlier one before Jira was asked to change.
        self.assertSecretEqual(stored, [new], "the keyring lacks the new, verified credential")
        for username, _, _ in stored:
            self.assertIn(username, verified, "the keyring holds an unverified credential")
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"],
                               self.old[1] + self.old[2], "Jira's provider changed")
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertIs(status["stored"], True)
        self.assertEqual(status["state"], "configured")
        self.assertIs(status["in-sync"], False)
        # The settings still describe the earlier login; the status names the stored user.
        self.assertEqual(status["salesforce-username"], "second@example.com")
        self.assertNotIn("verified-at", status)
        self.assert_finished_by_set_again(new)

    def test_provider_set_reply_lost(self):
        self.set_earlier_credential()
        new = self.new_credential()
        self.hold_provider_put("after-handling")
        call = self.start_set_auth(new)
        self.wait_for_held_put()
        self.kill_and_restart(call)
        stored, status = self.assert_truthful_state([self.old, new])
        self.assertSecretEqual(stored, [new], "the keyring lacks the new, verified credential")
        self.assertIs(status["in-sync"], True)


class KillCreateLinkTest(ReliabilityCase):
    """applinkd killed with SIGKILL while CreateLink waits for Jira, then restarted."""

    def setUp(self):
        super().setUp()
        self.start_services()
        self.manager = self.restart_daemon("--timeout", "30")
        self.site = self.add_site("jira")

    def kill_during(self, hang):
        self.jira.configure(hang=hang)
        call = BackgroundCall(self.manager, "CreateLink", "sssa{sv}", self.site,
                              self.salesforce.url, "Salesforce", {})

        def held_requests():
            return [request for request in self.jira.requests() if request["status"] is None]
        self.assertTrue(wait_until(held_requests, 10),
                        "applinkd did not reach the held Jira request")
        self.kill_daemon()
        self.assertTrue(call.join())
        self.assertIsNotNone(call.error)
        self.jira.configure(hang=False)
        self.manager = self.start_daemon()

    def create_if_exists(self):
        result = self.cli("--json", "link", "create", self.salesforce.url, "--name",
                          "Salesforce", "--if-exists")
        self.assertEqual(result.code, 0, repr(result))
        return result.json()

    def test_url_check_held(self):
        self.kill_during({"path": "/rest/applinks/1.0/applicationlinkForm/manifest"})
        self.assertEqual(self.jira_links(), [])
        link = self.create_if_exists()
        self.assertEqual([item["id"] for item in self.jira_links()], [link["id"]])

    def test_create_held(self):
        self.kill_during({"path": "/rest/applinks/2.0/applicationlink", "method": "PUT"})
        self.assertEqual(self.jira_links(), [])
        link = self.create_if_exists()
        self.assertEqual([item["id"] for item in self.jira_links()], [link["id"]])

    def test_create_reply_lost(self):
        self.kill_during({"path": "/rest/applinks/2.0/applicationlink", "method": "PUT",
                          "stage": "after-handling"})
        created = self.jira_links()
        self.assertEqual(len(created), 1)
        listed = self.cli("--json", "link", "list")
        self.assertEqual([item["id"] for item in listed.json()], [created[0]["id"]])
        for _ in range(2):
            self.assertEqual(self.create_if_exists()["id"], created[0]["id"])
        self.assertEqual(len(self.jira_links()), 1)
        again = self.cli("--json", "link", "create", self.salesforce.url, "--name", "Salesforce")
        self.assertEqual(again.code, 1)
        self.assertEqual(again.json()["error"]["name"], "AlreadyExists")


class ShutdownTest(ReliabilityCase):
    """SIGTERM while calls wait for Jira."""

    def test_sigterm_with_calls_in_flight(self):
        self.start_services()
        self.manager = self.restart_daemon("--timeout", "30")
        site = self.add_site("jira")
        self.create_link(site)
        self.jira.configure(hang={"path": "/rest/applinks/1.0/applicationlink"})
        calls = [BackgroundCall(self.manager, "ListLinks", "s", site) for _ in range(3)]
        self.assertTrue(wait_until(lambda: len([request for request in self.jira.requests()
                                                if request["status"] is None]) == 3, 10))
        started = time.monotonic()
        self.daemon.process.send_signal(signal.SIGTERM)
        try:
            status = self.daemon.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            status = None
            self.kill_daemon()
        elapsed = time.monotonic() - started
        self.jira.configure(hang=False)
        for call in calls:
            self.assertTrue(call.join(), "a call got no answer")
        self.assertEqual(status, 0)
        self.assertLess(elapsed, 5, "applinkd took too long to stop")
        self.assertNotIn("CRITICAL", self.daemon.log_text())


class ConcurrencyTest(ReliabilityCase):
    """Many callers at once: every call gets a reply and the stores agree afterwards."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")

    def run_threads(self, count, target):
        """Run target(index, manager) in count threads that start together.

        Each thread has a connection of its own. Returns ("ok", value) or ("error",
        ManagerError) per thread.
        """
        barrier = threading.Barrier(count)
        results = [None] * count
        connections = [self.new_connection() for _ in range(count)]

        def run(index):
            manager = applinktest.Manager(connections[index], self.record_output)
            barrier.wait()
            try:
                results[index] = ("ok", target(index, manager))
            except applinktest.ManagerError as error:
                results[index] = ("error", error)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a call got no reply")
        return results

    def test_auth_test_holds_link(self):
        # A SetOutgoingAuth that starts while TestOutgoingAuth logs in runs after the test has
        # recorded its outcome, so the status describes the new credential.
        link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, link, self.salesforce_credentials())
        password, token = self.new_secret("sfpw"), self.new_secret("sftok")
        other = self.start_double("salesforce-double", applinktest.SALESFORCE_DOUBLE,
                                  ["--user", f"other@example.com:{password}:{token}"])
        self.salesforce.configure(delay=2)
        before = len(self.salesforce.requests())
        test = BackgroundCall(self.manager, "TestOutgoingAuth", "ss", self.site, link)
        self.assertTrue(wait_until(lambda: len(self.salesforce.requests()) > before, 10))
        self.manager.set_outgoing_auth(
            self.site, link, self.credentials("other@example.com", password, token),
            {"login-url": other.url})
        self.assertTrue(test.join())
        self.assertIsNone(test.error)
        status = self.manager.get_outgoing_auth(self.site, link)
        self.assertEqual(status["salesforce-username"], "other@example.com")
        self.assertEqual(status["login-url"], other.url)
        self.assertIs(status["in-sync"], True)
        self.assertEqual(self.stored_credentials(self.site, link),
                         [("other@example.com", password, token)])

    def test_parallel_cli_link_list(self):
        for index in range(2):
            self.manager.create_link(self.site, f"https://org{index}.my.salesforce.com",
                                     f"Org {index}")
        expected = sorted(link["id"] for link in self.manager.list_links(self.site))
        processes = [subprocess.Popen([str(applinktest.CLI), "--json", "link", "list"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for _ in range(64)]
        outputs = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=applinktest.CLI_TIMEOUT)
            self.record_output("stdout of a parallel applinkctl link list", stdout.decode())
            self.record_output("stderr of a parallel applinkctl link list", stderr.decode())
            outputs.append((process.returncode, stdout, stderr))
        for index, (code, stdout, stderr) in enumerate(outputs):
            with self.subTest(process=index):
                self.assertEqual(code, 0, stderr.decode())
                self.assertEqual(sorted(link["id"] for link in json.loads(stdout)), expected)
        self.assert_daemon_alive()

    def test_same_link_set_auth(self):
        link = self.create_link(self.site)["id"]
        users = [(f"user{index}@example.com", self.new_secret("sfpw"), self.new_secret("sftok"))
                 for index in range(8)]
        self.set_salesforce_users(users)
        results = self.run_threads(8, lambda index, manager: manager.set_outgoing_auth(
            self.site, link, self.credentials(*users[index])))
        self.assertEqual([outcome for outcome, _ in results], ["ok"] * 8,
                         [str(value) for _, value in results])
        stored = self.stored_credentials(self.site, link)
        self.assertEqual(len(stored), 1)
        self.assertTrue(stored[0] in users, "the stored credential is none of those set")
        provider = self.jira_basic_provider(link)
        self.assertEqual(provider["username"], stored[0][0])
        self.assertSecretEqual(provider["password"], stored[0][1] + stored[0][2],
                               "Jira's provider holds another credential than the keyring")
        status = self.manager.get_outgoing_auth(self.site, link)
        self.assertIs(status["in-sync"], True)
        self.assertEqual(status["salesforce-username"], stored[0][0])
        settings = parse_key_file(self.settings_text())
        self.assertEqual(settings.get_string(f"link {self.site} {link}", "salesforce-username"),
                         stored[0][0])

    def test_same_url_create(self):
        results = self.run_threads(8, lambda index, manager: manager.create_link(
            self.site, self.salesforce.url, f"Salesforce {index}"))
        created = [value for outcome, value in results if outcome == "ok"]
        errors = [value for outcome, value in results if outcome == "error"]
        self.assertEqual(len(created), 1, [str(error) for error in errors])
        self.assertEqual([error.name for error in errors], ["AlreadyExists"] * 7)
        for error in errors:
            self.assertIn(created[0]["id"], error.message)
        self.assertEqual([link["id"] for link in self.jira_links()], [created[0]["id"]])

    def test_settings_writes_while_reading(self):
        links = [self.manager.create_link(self.site, f"https://org{index}.my.salesforce.com",
                                          f"Org {index}")["id"] for index in range(6)]
        path = self.config_dir / "applink.conf"
        stop_reading = threading.Event()
        reads = {"count": 0, "failures": [], "site_counts": []}

        def read_loop():
            while not stop_reading.is_set():
                try:
                    text = path.read_text()
                    key_file = parse_key_file(text)
                except (OSError, GLib.Error) as error:
                    reads["failures"].append(repr(error))
                    continue
                groups = key_file.get_groups()[0]
                reads["site_counts"].append(len([g for g in groups if g.startswith("site ")]))
                reads["count"] += 1

        reader = threading.Thread(target=read_loop)
        reader.start()
        login = {"login-url": self.salesforce.url}

        def work(index, manager):
            if index < 12:
                return manager.add_site(self.jira.url, {"token": self.jira_admin_token},
                                        {"name": f"site-{index:02d}"})
            if index < 18:
                return manager.update_link(self.site, links[index - 12],
                                           {"name": f"Renamed {index - 12}"})
            return manager.set_outgoing_auth(self.site, links[index - 18],
                                             self.salesforce_credentials(), login)

        try:
            results = self.run_threads(24, work)
        finally:
            stop_reading.set()
            reader.join(30)
        self.assertEqual([outcome for outcome, _ in results], ["ok"] * 24,
                         [str(value) for _, value in results])
        self.assertEqual(reads["failures"], [])
        self.assertGreater(reads["count"], 0)
        self.assertEqual(reads["site_counts"], sorted(reads["site_counts"]),
                         "a reader saw the number of sites go down")

        expected_sites = sorted(["jira"] + [f"site-{index:02d}" for index in range(12)])
        self.manager = self.restart_daemon()
        self.assertEqual([site["id"] for site in self.manager.list_sites()], expected_sites)
        names = {link["id"]: link["name"] for link in self.jira_links()}
        self.assertEqual([names[link] for link in links],
                         [f"Renamed {index}" for index in range(6)])
        for link in links:
            with self.subTest(link=link):
                status = self.manager.get_outgoing_auth(self.site, link)
                self.assertIs(status["in-sync"], True)
                self.assertEqual(status["salesforce-username"], SALESFORCE_USER)


class SecretHygieneTest(ReliabilityCase):
    """Modes of the settings files and the daemon's dumpable flag."""

    def test_settings_modes_with_loose_umask(self):
        self.config_dir.mkdir(mode=0o755, parents=True)
        self.config_dir.chmod(0o755)
        settings = self.config_dir / "applink.conf"
        settings.write_text("")
        settings.chmod(0o644)
        previous = os.umask(0)
        try:
            self.start_services()
        finally:
            os.umask(previous)
        self.add_site("jira")
        self.create_link("jira")
        self.assertEqual(oct(stat.S_IMODE(self.config_dir.stat().st_mode)), oct(0o700))
        self.assertEqual([path.name for path in self.config_dir.iterdir()], ["applink.conf"])
        self.assertEqual(oct(stat.S_IMODE(settings.stat().st_mode)), oct(0o600))

    def ptrace_errno(self, pid, run_as=None):
        """Return the errno of PTRACE_ATTACH to pid from a new process, 0 on success."""
        command = ["/usr/bin/python3", "-c", PTRACE_PROGRAM, str(pid)]
        if run_as is not None:
            command = ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups",
                       *command]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        return int(completed.stdout.strip())

    def start_sleeper(self, run_as=None):
        command = ["sleep", "60"]
        if run_as is not None:
            command = ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups",
                       *command]
        process = subprocess.Popen(command)
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        return process

    @unittest.skipIf(os.getuid() == 0, "as root, /proc and ptrace ignore the dumpable flag")
    def test_not_dumpable_same_user(self):
        self.start_daemon()
        pid = self.daemon.process.pid
        self.assertEqual(proc_uids(pid), (os.getuid(), 0))
        self.assertEqual(self.ptrace_errno(pid), errno.EPERM)
        sleeper = self.start_sleeper()
        self.assertEqual(proc_uids(sleeper.pid), (os.getuid(), os.getuid()))

    @unittest.skipUnless(os.getuid() == 0, "running applinkd as another user needs root")
    def test_not_dumpable_as_nobody(self):
        bus = self.start_private_bus("all-users-bus", allow_all_users=True)
        home = self.make_nobody_home()
        environment = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                       "XDG_CACHE_HOME": str(home / "cache"), "XDG_RUNTIME_DIR": str(home)}
        self.daemon, self.manager = self.start_daemon_on(bus, run_as=NOBODY_UID,
                                                         environment=environment)
        pid = self.daemon.process.pid
        self.assertEqual(proc_uids(pid), (NOBODY_UID, 0))
        self.assertEqual(self.ptrace_errno(pid, run_as=NOBODY_UID), errno.EPERM)
        sleeper = self.start_sleeper(run_as=NOBODY_UID)
        # Between setpriv's change of uid and its exec of sleep, /proc shows root as owner.
        wait_until(lambda: proc_uids(sleeper.pid) == (NOBODY_UID, NOBODY_UID), 5)
        self.assertEqual(proc_uids(sleeper.pid), (NOBODY_UID, NOBODY_UID))
        self.assertEqual(self.ptrace_errno(sleeper.pid, run_as=NOBODY_UID), 0)


@unittest.skipUnless(os.getuid() == 0, "calling as another user needs root")
class CallerUidTest(ReliabilityCase):
    """A bus that admits every user: applinkd still refuses calls from another uid."""

    def setUp(self):
        super().setUp()
        self.start_jira("--token", f"{self.new_secret('jiratok')}:{JIRA_ADMIN}")
        self.private_bus = self.start_private_bus("all-users-bus", allow_all_users=True)
        self.daemon, self.manager = self.start_daemon_on(self.private_bus)

    def gdbus_call(self, method, *arguments, run_as=None):
        command = ["gdbus", "call", "--address", self.private_bus.address, "--dest", BUS_NAME,
                   "--object-path", OBJECT_PATH, "--method", f"{INTERFACE}.{method}", *arguments]
        if run_as is not None:
            command = ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups",
                       *command]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
        self.record_output(f"output of gdbus call {method}", completed.stdout + completed.stderr)
        return completed

    def test_other_user_daemon_not_used(self):
        # A process of another user takes the name over; applinkctl sends it nothing.
        home = self.make_nobody_home()
        environment = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                       "XDG_CACHE_HOME": str(home / "cache"), "XDG_RUNTIME_DIR": str(home)}
        self.start_daemon_on(self.private_bus, "--replace", run_as=NOBODY_UID,
                             environment=environment)
        self.assertEqual(self.daemons[0].process.wait(timeout=10), 0)
        cli_environment = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.private_bus.address)
        password = self.new_secret("sfpw")
        for arguments, stdin in (([b"site", b"list"], None),
                                 ([b"auth", b"set", b"Salesforce", b"--username",
                                   SALESFORCE_USER.encode(), b"--stdin"],
                                  f"{password}\n\n".encode())):
            with self.subTest(arguments=arguments):
                completed = self.run_cli_bytes(arguments, stdin=stdin,
                                               environment=cli_environment)
                self.assertEqual(completed.returncode, 1, completed.stderr)
                self.assertIn(f"belongs to a process of uid {NOBODY_UID}".encode(),
                              completed.stderr)
        self.assertNotIn("SetOutgoingAuth from", self.daemons[1].log_text())
        self.assertNotIn("ListSites from", self.daemons[1].log_text())

    def test_own_user_answered(self):
        completed = self.gdbus_call("ListSites")
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(completed.stdout.strip(), "(@aa{sv} [],)")

    def test_other_user_refused(self):
        token = self.new_secret("tok")
        calls = [("ListSites",),
                 ("AddSite", self.jira.url, f"{{'token': <'{token}'>}}", "{'name': <'jira'>}"),
                 ("ProbeUrl", MY_DOMAIN_URL, "{}")]
        for method, *arguments in calls:
            with self.subTest(method=method):
                completed = self.gdbus_call(method, *arguments, run_as=NOBODY_UID)
                self.assertNotEqual(completed.returncode, 0)
                self.assertIn("org.applink.Error.AccessDenied", completed.stderr)
        self.assertEqual(self.jira.requests(), [])
        self.assertEqual(self.manager.list_sites(), [])
        log = self.daemon.log_text()
        self.assertIn("refused a call", log)
        self.assertIn(f"uid {NOBODY_UID}", log)


if __name__ == "__main__":
    applinktest.main()
