"""Shared fixture for the applink integration tests.

Each test module runs under tests/applink-test-env, which gives it a private session bus, an
unlocked gnome-keyring and a temporary home. ApplinkTestCase starts the Jira and Salesforce
doubles and applinkd for each test, and talks to the daemon over D-Bus and through
applinkctl. After each test it checks that no secret the test used appears in a log, an
output or a settings file, then empties the keyring and the settings so that tests stay
independent.
"""

import base64
import html
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = "org.applink.Manager"
OBJECT_PATH = "/org/applink/Manager"
INTERFACE = "org.applink.Manager"
ERROR_PREFIX = "org.applink.Error."

BASIC_PROVIDER = "com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider"

JIRA_SCHEMA = "org.applink.JiraCredential"
SALESFORCE_SCHEMA = "org.applink.SalesforceCredential"

SECRET_SERVICE = "org.freedesktop.secrets"
SECRET_SERVICE_PATH = "/org/freedesktop/secrets"
GNOME_KEYRING_INTERFACE = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"

# Seconds to wait for a process to start listening or to own its bus name.
START_TIMEOUT = 15
# Milliseconds a D-Bus call may take. One call makes a few HTTP requests, each limited to 5 s
# by the daemon's --timeout 5, so this stays well above their sum.
CALL_TIMEOUT_MS = 60000
CLI_TIMEOUT = 60

SOURCE_DIR = Path(os.environ.get("APPLINK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("APPLINK_BUILD_DIR", SOURCE_DIR / "build"))
DAEMON = BUILD_DIR / "service" / "applinkd"
CLI = BUILD_DIR / "client" / "applinkctl"
JIRA_DOUBLE = SOURCE_DIR / "tests" / "doubles" / "jira-double.py"
SALESFORCE_DOUBLE = SOURCE_DIR / "tests" / "doubles" / "salesforce-double.py"

# Names of the accounts that start_services() creates on the doubles.
JIRA_ADMIN = "jira-admin"
JIRA_USER = "jira-user"
SALESFORCE_USER = "integration@example.com"

# The doubles are reached directly, never through a proxy from the environment.
_DIRECT_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def require_test_environment():
    """Raise unless the process runs inside tests/applink-test-env."""
    if "APPLINK_TEST_ROOT" not in os.environ:
        raise RuntimeError(
            "the integration tests must run under tests/applink-test-env, which provides "
            "a private bus, keyring and home; run them with meson test")


def asv(values=None, **keywords):
    """Build an a{sv} variant from Python values: bool is b, int is i, str is s.

    A GLib.Variant value is taken as it is, which lets a test send a wrong type on purpose.
    """
    merged = dict(values or {})
    merged.update(keywords)
    return {key: to_variant(value) for key, value in merged.items()}


def to_variant(value):
    if isinstance(value, GLib.Variant):
        return value
    if isinstance(value, bool):
        return GLib.Variant("b", value)
    if isinstance(value, int):
        return GLib.Variant("i", value)
    if isinstance(value, str):
        return GLib.Variant("s", value)
    raise TypeError(f"no a{{sv}} mapping for {type(value).__name__} value")


class ManagerError(Exception):
    """A D-Bus error returned by applinkd, split into its short name and its message."""

    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def manager_error_from(error):
    """Convert a GLib.Error from a D-Bus call into a ManagerError.

    A name in the org.applink.Error domain becomes its short name, e.g.
    "org.applink.Error.SecurityTokenRequired" becomes "SecurityTokenRequired". Other D-Bus
    error names are kept whole.
    """
    remote_name = Gio.DBusError.get_remote_error(error)
    message = error.message
    if remote_name is None:
        return ManagerError(f"local:{error.domain}:{error.code}", message)
    prefix = f"GDBus.Error:{remote_name}: "
    if message.startswith(prefix):
        message = message[len(prefix):]
    name = remote_name
    if name.startswith(ERROR_PREFIX):
        name = name[len(ERROR_PREFIX):]
    return ManagerError(name, message)


class Manager:
    """A Gio.DBusProxy for org.applink.Manager that returns unpacked Python values."""

    def __init__(self, connection, record_reply):
        """record_reply(label, text) is called with every reply and error."""
        self.connection = connection
        self.record_reply = record_reply
        self.proxy = Gio.DBusProxy.new_sync(
            connection,
            Gio.DBusProxyFlags.DO_NOT_AUTO_START | Gio.DBusProxyFlags.DO_NOT_CONNECT_SIGNALS,
            None, BUS_NAME, OBJECT_PATH, INTERFACE, None)

    def call(self, method, signature="", *arguments):
        """Call method with arguments of the given D-Bus signature and return the out values.

        Returns None for no out value, the value itself for one, and a tuple for several.
        Raises ManagerError when the daemon returns an error.
        """
        parameters = GLib.Variant(f"({signature})", arguments) if signature else None
        try:
            reply = self.proxy.call_sync(method, parameters, Gio.DBusCallFlags.NO_AUTO_START,
                                         CALL_TIMEOUT_MS, None)
        except GLib.Error as error:
            converted = manager_error_from(error)
            self.record_reply(f"{method} error", f"{converted.name}: {converted.message}")
            raise converted from None
        values = reply.unpack()
        self.record_reply(f"{method} reply", repr(values))
        if len(values) == 0:
            return None
        if len(values) == 1:
            return values[0]
        return values

    def error(self, method, signature="", *arguments):
        """Call method, expecting it to fail, and return the ManagerError."""
        try:
            values = self.call(method, signature, *arguments)
        except ManagerError as error:
            return error
        raise AssertionError(f"{method} succeeded with {values!r} where an error was expected")

    def get_property(self, name):
        reply = self.connection.call_sync(
            BUS_NAME, OBJECT_PATH, "org.freedesktop.DBus.Properties", "Get",
            GLib.Variant("(ss)", (INTERFACE, name)), GLib.VariantType("(v)"),
            Gio.DBusCallFlags.NO_AUTO_START, CALL_TIMEOUT_MS, None)
        return reply.unpack()[0]

    # Wrappers with the signatures of org.applink.Manager.xml.

    def add_site(self, url, credentials, options=None):
        return self.call("AddSite", "sa{sv}a{sv}", url, asv(credentials), asv(options))

    def remove_site(self, site):
        return self.call("RemoveSite", "s", site)

    def list_sites(self):
        return self.call("ListSites")

    def probe_url(self, url, options=None):
        return self.call("ProbeUrl", "sa{sv}", url, asv(options))

    def create_link(self, site, url, name, options=None):
        return self.call("CreateLink", "sssa{sv}", site, url, name, asv(options))

    def list_links(self, site):
        return self.call("ListLinks", "s", site)

    def get_link(self, site, link):
        return self.call("GetLink", "ss", site, link)

    def update_link(self, site, link, changes):
        return self.call("UpdateLink", "ssa{sv}", site, link, asv(changes))

    def delete_link(self, site, link):
        return self.call("DeleteLink", "ss", site, link)

    def set_outgoing_auth(self, site, link, credentials, options=None):
        return self.call("SetOutgoingAuth", "ssa{sv}a{sv}", site, link, asv(credentials),
                         asv(options))

    def get_outgoing_auth(self, site, link):
        return self.call("GetOutgoingAuth", "ss", site, link)

    def test_outgoing_auth(self, site, link):
        return self.call("TestOutgoingAuth", "ss", site, link)

    def clear_outgoing_auth(self, site, link):
        return self.call("ClearOutgoingAuth", "ss", site, link)


class SignalRecorder:
    """Recorder of the org.applink.Manager signals that arrive on a connection."""

    def __init__(self, connection):
        self.connection = connection
        self.signals = []
        self.subscription = connection.signal_subscribe(
            None, INTERFACE, None, OBJECT_PATH, None, Gio.DBusSignalFlags.NONE,
            self._on_signal)

    def _on_signal(self, _connection, _sender, _path, _interface, name, parameters):
        self.signals.append((name, parameters.unpack()))

    def clear(self):
        """Forget the signals received so far, including those still queued for dispatch."""
        self._dispatch()
        self.signals.clear()

    def wait_for(self, name, predicate=lambda arguments: True, timeout=5):
        """Return the arguments of the first signal name that predicate accepts, or None."""
        deadline = time.monotonic() + timeout
        while True:
            self._dispatch()
            for signal_name, arguments in self.signals:
                if signal_name == name and predicate(arguments):
                    return arguments
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def collect(self, seconds):
        """Dispatch the signals that arrive within seconds, and return all received so far."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._dispatch()
            time.sleep(0.02)
        self._dispatch()
        return list(self.signals)

    @staticmethod
    def _dispatch():
        context = GLib.MainContext.default()
        while context.pending():
            context.iteration(False)

    def close(self):
        self.connection.signal_unsubscribe(self.subscription)


def name_owner_pid(connection, name=BUS_NAME):
    """Return the process id of the owner of a bus name, or None when it has no owner."""
    try:
        reply = connection.call_sync(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetConnectionUnixProcessID", GLib.Variant("(s)", (name,)),
            GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    except GLib.Error:
        return None
    return reply.unpack()[0]


class Double:
    """A test double process: started with flags, it prints PORT=<n> once it listens."""

    def __init__(self, name, script, arguments, workdir):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, str(script), *arguments],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            env=environment)
        self.port = self._read_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Whatever else the double prints goes to its log, so the pipe never fills up.
        self._drain = threading.Thread(target=self._copy_stdout, daemon=True)
        self._drain.start()

    def _read_port(self):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.1):
                if self.process.poll() is not None:
                    break
                continue
            line = self.process.stdout.readline()
            if not line:
                break
            self._log.write(line)
            match = re.fullmatch(rb"PORT=(\d+)\s*", line)
            if match:
                selector.close()
                return int(match.group(1))
        selector.close()
        self.stop()
        raise RuntimeError(f"{self.name} printed no PORT=<n> line within {START_TIMEOUT} s. "
                           f"Its log: {self.log_path}")

    def _copy_stdout(self):
        for line in self.process.stdout:
            self._log.write(line)
            self._log.flush()

    def control(self, method, endpoint, body=None):
        """Send a request to a /_double/ control endpoint and return the JSON reply."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self.url}/_double/{endpoint}", data=data,
                                         method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with _DIRECT_OPENER.open(request, timeout=10) as reply:
            text = reply.read().decode("utf-8")
        return json.loads(text) if text else None

    def configure(self, **patch):
        """Change the double's run-time configuration. Underscores in names become dashes."""
        body = {key.replace("_", "-"): value for key, value in patch.items()}
        return self.control("POST", "config", body)

    def state(self):
        return self.control("GET", "state")

    def requests(self):
        return self.control("GET", "requests")

    def stats(self):
        return self.control("GET", "stats")

    def reset(self):
        return self.control("POST", "reset", {})

    def log_text(self):
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # The drain thread ends at end of file, once the process has exited.
        drain = getattr(self, "_drain", None)
        if drain is not None:
            drain.join(timeout=5)
        self.process.stdout.close()
        if not self._log.closed:
            self._log.close()


class Daemon:
    """applinkd started by the test, logging to a file in the test's directory."""

    def __init__(self, connection, workdir, index, extra_arguments=()):
        self.log_path = workdir / f"applinkd-{index}.log"
        self._log = open(self.log_path, "wb")
        command = [str(DAEMON), "--verbose", "--idle-timeout", "0", "--timeout", "5",
                   *extra_arguments]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self.connection = connection

    def wait_for_name(self):
        """Wait until this process owns org.applink.Manager, or raise if it exits first."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"applinkd exited with status {self.process.returncode} before owning "
                    f"{BUS_NAME}. Its log: {self.log_path}")
            if self.owner_pid() == self.process.pid:
                return
            time.sleep(0.05)
        raise RuntimeError(f"applinkd did not own {BUS_NAME} within {START_TIMEOUT} s")

    def owner_pid(self):
        return name_owner_pid(self.connection)

    def stop(self, timeout=10):
        """Stop the daemon with SIGTERM (SIGKILL after timeout) and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()
        return self.process.returncode

    def log_text(self):
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class CliResult:
    """The exit status and outputs of one applinkctl run."""

    def __init__(self, arguments, code, stdout, stderr):
        self.arguments = arguments
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return (f"applinkctl {' '.join(self.arguments)} -> {self.code}\n"
                f"stdout: {self.stdout}\nstderr: {self.stderr}")


def parse_secret_tool_search(text):
    """Parse `secret-tool search --all` output (stdout and stderr merged, in order).

    Returns one dictionary per item, with "path", "label", "secret", "schema" and the
    item's attributes under "attributes".
    """
    items = []
    current = None
    for line in text.splitlines():
        header = re.fullmatch(r"\[(.*)\]", line)
        if header:
            current = {"path": header.group(1), "attributes": {}}
            items.append(current)
            continue
        if current is None or " = " not in line:
            continue
        key, value = line.split(" = ", 1)
        if key.startswith("attribute."):
            current["attributes"][key[len("attribute."):]] = value
        else:
            current[key] = value
    return items


def secret_forms(secret):
    """Return the encodings under which a secret could appear in a log or a request dump."""
    forms = {secret, html.escape(secret, quote=True), urllib.parse.quote_plus(secret),
             urllib.parse.quote(secret, safe=""), json.dumps(secret, ensure_ascii=True)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {form for form in forms if form}


class ApplinkTestCase(unittest.TestCase):
    """Base class: per-test doubles, daemon, CLI runner, keyring helpers and leak check."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_test_environment()
        cls.bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)

    def setUp(self):
        base = Path(os.environ.get("TMPDIR", tempfile.gettempdir()))
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self._testMethodName}-", dir=base))
        self.config_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "applink"
        self.used_secrets = set()
        self.transcripts = []
        self.daemons = []
        self.daemon = None
        self.doubles = []
        self.jira = None
        self.salesforce = None
        self.manager = None
        self.signals = None
        # Cleanups run last-added first: the daemon and doubles stop, then the leak check
        # reads their logs, then the keyring and settings are emptied.
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.addCleanup(self.reset_storage)
        self.addCleanup(self.check_no_secret_leaked)
        self.addCleanup(self._report_logs_on_failure)

    # --- secrets

    def new_secret(self, kind):
        """Return a fresh random secret and remember it for the leak check."""
        value = f"{kind}{secrets.token_hex(12)}"
        self.used_secrets.add(value)
        return value

    def record_output(self, label, text):
        """Keep an output of the test for the leak check, under a label that names it."""
        self.transcripts.append((label, text))

    def remember_secret(self, value):
        self.used_secrets.add(value)

    def remember_basic_credentials(self, username, password):
        """Remember the Basic Authorization value of username and password as a secret."""
        pair = f"{username}:{password}".encode("utf-8")
        self.used_secrets.add(base64.b64encode(pair).decode("ascii"))

    def _secret_haystacks(self):
        """Yield (source, text) for every place a secret must not reach."""
        for daemon in self.daemons:
            yield str(daemon.log_path.name), daemon.log_text()
        for double in self.doubles:
            yield double.log_path.name, double.log_text()
        yield from self.transcripts
        if self.signals is not None:
            yield "signal arguments", repr(self.signals.signals)
        if self.config_dir.is_dir():
            for path in sorted(self.config_dir.rglob("*")):
                if path.is_file():
                    yield f"settings file {path}", path.read_text(errors="replace")

    def find_leaks(self):
        """Return the sources in which one of the test's secrets appears."""
        forms = set()
        for secret in self.used_secrets:
            if len(secret) >= 6:
                forms |= secret_forms(secret)
        return sorted({source for source, text in self._secret_haystacks()
                       if any(form in text for form in forms)})

    def check_no_secret_leaked(self):
        leaks = self.find_leaks()
        self.assertEqual(leaks, [], "a secret used by the test appears in these outputs")

    def mask_secrets(self, text):
        for secret in sorted(self.used_secrets, key=len, reverse=True):
            for form in secret_forms(secret):
                text = text.replace(form, "<secret>")
        return text

    def _report_logs_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None or getattr(outcome, "success", True):
            return
        for daemon in self.daemons:
            text = self.mask_secrets(daemon.log_text())
            tail = "\n".join(text.splitlines()[-60:])
            print(f"\n--- {daemon.log_path.name} of {self.id()} (secrets masked) ---\n{tail}",
                  file=sys.stderr)

    # --- processes

    def start_double(self, name, script, arguments):
        double = Double(f"{name}-{len(self.doubles) + 1}", script, arguments, self.workdir)
        self.doubles.append(double)
        self.addCleanup(double.stop)
        return double

    def start_jira(self, *arguments):
        """Start a Jira double, which becomes self.jira."""
        self.jira = self.start_double("jira-double", JIRA_DOUBLE, arguments)
        return self.jira

    def start_salesforce(self, *arguments):
        """Start a Salesforce double, which becomes self.salesforce."""
        self.salesforce = self.start_double("salesforce-double", SALESFORCE_DOUBLE, arguments)
        return self.salesforce

    def start_daemon(self, *extra_arguments):
        """Start applinkd, wait until it owns its name, and return a Manager proxy for it."""
        daemon = Daemon(self.bus, self.workdir, len(self.daemons) + 1, extra_arguments)
        self.daemons.append(daemon)
        self.addCleanup(daemon.stop)
        daemon.wait_for_name()
        self.daemon = daemon
        if self.signals is None:
            self.signals = SignalRecorder(self.bus)
            self.addCleanup(self.signals.close)
        self.manager = Manager(self.bus, self.record_output)
        return self.manager

    def start_services(self, salesforce_arguments=(), jira_arguments=()):
        """Start both doubles with the standard accounts, and the daemon.

        Jira: JIRA_ADMIN (administrator) and JIRA_USER (not an administrator), each with a
        password and a personal access token. Salesforce: SALESFORCE_USER with a password
        and a security token. The secrets are in self.jira_admin_password,
        self.jira_admin_token, self.jira_user_password, self.jira_user_token,
        self.salesforce_password and self.salesforce_token.
        """
        self.jira_admin_password = self.new_secret("jirapw")
        self.jira_admin_token = self.new_secret("jiratok")
        self.jira_user_password = self.new_secret("jirapw")
        self.jira_user_token = self.new_secret("jiratok")
        self.salesforce_password = self.new_secret("sfpw")
        self.salesforce_token = self.new_secret("sftok")
        self.remember_basic_credentials(JIRA_ADMIN, self.jira_admin_password)
        self.remember_basic_credentials(JIRA_USER, self.jira_user_password)
        self.start_jira(
            "--user", f"{JIRA_ADMIN}:{self.jira_admin_password}:admin",
            "--user", f"{JIRA_USER}:{self.jira_user_password}:user",
            "--token", f"{self.jira_admin_token}:{JIRA_ADMIN}",
            "--token", f"{self.jira_user_token}:{JIRA_USER}",
            *jira_arguments)
        self.start_salesforce(
            "--user", f"{SALESFORCE_USER}:{self.salesforce_password}:{self.salesforce_token}",
            *salesforce_arguments)
        return self.start_daemon()

    # --- common steps

    def add_site(self, name="jira", token=None):
        """Add the Jira double as a site with the administrator's token and return its id."""
        credentials = {"token": token or self.jira_admin_token}
        return self.manager.add_site(self.jira.url, credentials, {"name": name})

    def create_link(self, site, name="Salesforce", options=None):
        """Create a link to the Salesforce double and return the link dictionary."""
        return self.manager.create_link(site, self.salesforce.url, name, options)

    def salesforce_credentials(self, token=None):
        return {"username": SALESFORCE_USER, "password": self.salesforce_password,
                "security-token": self.salesforce_token if token is None else token}

    # --- Jira double state

    def jira_links(self):
        """Return the links stored in the Jira double, as applinks renders them."""
        return self.jira.state()["links"]

    def jira_basic_provider(self, link_id):
        """Return the config of the link's Basic Access provider in the Jira double, or None."""
        for entry in self.jira.state()["providers"].get(link_id, []):
            if entry["provider"] == BASIC_PROVIDER:
                return entry["config"]
        return None

    def jira_mutating_requests(self):
        """Return the requests other than GET that the Jira double received."""
        return [request for request in self.jira.requests() if request["method"] != "GET"]

    # --- applinkctl

    def cli(self, *arguments, stdin=None, env=None):
        """Run applinkctl with arguments. stdin is the text that --stdin reads.

        env contains variables to set on top of the test's environment.
        """
        environment = dict(os.environ, **(env or {}))
        completed = subprocess.run(
            [str(CLI), *arguments], input=stdin, capture_output=True, text=True,
            timeout=CLI_TIMEOUT, env=environment)
        result = CliResult(list(arguments), completed.returncode, completed.stdout,
                           completed.stderr)
        command = " ".join(["applinkctl", *arguments])
        self.record_output(f"stdout of {command}", completed.stdout)
        self.record_output(f"stderr of {command}", completed.stderr)
        return result

    # --- keyring and settings

    def keyring_items(self, schema=None, **attributes):
        """Return the keyring items of schema whose attributes match.

        Attribute names are given with underscores for dashes, e.g. login_url="...".
        """
        command = ["secret-tool", "search", "--all"]
        if schema is not None:
            command += ["xdg:schema", schema]
        for key, value in attributes.items():
            command += [key.replace("_", "-"), value]
        if len(command) == 3:
            raise ValueError("keyring_items needs a schema or an attribute")
        # secret-tool prints the attributes on stderr and the rest on stdout, flushing each
        # line, so one pipe for both keeps every item's lines together.
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=30)
        if completed.returncode != 0:
            raise RuntimeError(f"secret-tool search failed with status {completed.returncode}")
        return parse_secret_tool_search(completed.stdout)

    def jira_items(self, **attributes):
        return self.keyring_items(JIRA_SCHEMA, **attributes)

    def salesforce_items(self, **attributes):
        return self.keyring_items(SALESFORCE_SCHEMA, **attributes)

    def keyring_lookup(self, **attributes):
        """Return the secret of the first matching item, or None."""
        command = ["secret-tool", "lookup"]
        for key, value in attributes.items():
            command += [key.replace("_", "-"), value]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if completed.returncode != 0:
            return None
        return completed.stdout

    def default_collection(self):
        reply = self.bus.call_sync(
            SECRET_SERVICE, SECRET_SERVICE_PATH, "org.freedesktop.Secret.Service", "ReadAlias",
            GLib.Variant("(s)", ("default",)), GLib.VariantType("(o)"), Gio.DBusCallFlags.NONE,
            CALL_TIMEOUT_MS, None)
        return reply.unpack()[0]

    def lock_keyring(self):
        """Lock the default collection, and unlock it again when the test ends."""
        collection = self.default_collection()
        self.bus.call_sync(
            SECRET_SERVICE, SECRET_SERVICE_PATH, "org.freedesktop.Secret.Service", "Lock",
            GLib.Variant("(ao)", ([collection],)), None, Gio.DBusCallFlags.NONE,
            CALL_TIMEOUT_MS, None)
        self.addCleanup(self.unlock_keyring)

    def unlock_keyring(self):
        """Unlock the default collection with the test keyring's password, without a prompt.

        A Secret Service unlock would need a prompt, which has no display here, so this uses
        gnome-keyring's own UnlockWithMasterPassword with a plain-text session.
        """
        password = Path(os.environ["APPLINK_TEST_KEYRING_PASSWORD_FILE"]).read_bytes()
        collection = self.default_collection()
        reply = self.bus.call_sync(
            SECRET_SERVICE, SECRET_SERVICE_PATH, "org.freedesktop.Secret.Service", "OpenSession",
            GLib.Variant("(sv)", ("plain", GLib.Variant("s", ""))), GLib.VariantType("(vo)"),
            Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        session = reply.unpack()[1]
        secret = (session, b"", password, "text/plain")
        self.bus.call_sync(
            SECRET_SERVICE, SECRET_SERVICE_PATH, GNOME_KEYRING_INTERFACE,
            "UnlockWithMasterPassword", GLib.Variant("(o(oayays))", (collection, secret)), None,
            Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        self.bus.call_sync(
            SECRET_SERVICE, session, "org.freedesktop.Secret.Session", "Close", None, None,
            Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)

    def keyring_locked(self):
        reply = self.bus.call_sync(
            SECRET_SERVICE, self.default_collection(), "org.freedesktop.DBus.Properties", "Get",
            GLib.Variant("(ss)", ("org.freedesktop.Secret.Collection", "Locked")),
            GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        return reply.unpack()[0]

    def reset_storage(self):
        """Delete every applink keyring item and the settings folder."""
        for schema in (JIRA_SCHEMA, SALESFORCE_SCHEMA):
            subprocess.run(["secret-tool", "clear", "xdg:schema", schema],
                           capture_output=True, timeout=30)
        shutil.rmtree(self.config_dir, ignore_errors=True)

    def assertSecretEqual(self, actual, expected, message):
        """Compare two secrets without printing either one on failure."""
        self.assertTrue(actual == expected, message)


def main():
    """Run the calling module's tests with verbose output."""
    require_test_environment()
    unittest.main(module="__main__", verbosity=2)
