"""applinkd itself: bus name, options, activation, introspection, signals and its log."""

import os
import re
import signal
import subprocess
import time

from gi.repository import Gio, GLib

import applinktest
from applinktest import BUS_NAME, INTERFACE, OBJECT_PATH, SALESFORCE_USER


def project_version():
    text = (applinktest.SOURCE_DIR / "meson.build").read_text()
    return re.search(r"version:\s*'([^']+)'", text).group(1)


def wait_for_exit(process, timeout):
    """Return the exit status of process, or None if it still runs after timeout seconds."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


class DaemonProcessTest(applinktest.ApplinkTestCase):
    def test_version_property(self):
        manager = self.start_daemon()
        self.assertEqual(manager.get_property("Version"), project_version())

    def test_exits_zero_on_sigterm(self):
        self.start_daemon()
        self.assertEqual(self.daemon.stop(), 0)

    def test_exits_zero_on_sigint(self):
        self.start_daemon()
        self.daemon.process.send_signal(signal.SIGINT)
        self.assertEqual(wait_for_exit(self.daemon.process, 10), 0)

    def test_name_taken(self):
        self.start_daemon()
        second = subprocess.run([str(applinktest.DAEMON), "--idle-timeout", "0"],
                                capture_output=True, text=True, timeout=30)
        self.record_output("output of a second applinkd", second.stdout + second.stderr)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn(BUS_NAME, second.stderr)
        self.assertEqual(self.daemon.owner_pid(), self.daemon.process.pid)

    def test_replace(self):
        self.start_daemon()
        first = self.daemon
        manager = self.start_daemon("--replace")
        self.assertEqual(manager.list_sites(), [])
        self.assertIsNotNone(wait_for_exit(first.process, 10), "the replaced daemon still runs")

    def test_idle_timeout(self):
        self.start_daemon("--idle-timeout", "1")
        self.assertEqual(wait_for_exit(self.daemon.process, 10), 0)

    def test_bad_option(self):
        completed = subprocess.run([str(applinktest.DAEMON), "--no-such-option"],
                                   capture_output=True, text=True, timeout=30)
        self.assertNotEqual(completed.returncode, 0)
        self.assertIn("no-such-option", completed.stderr)

    def test_logs_start(self):
        self.start_daemon()
        self.assertNotEqual(self.daemon.log_text().strip(), "")

    def test_bus_activation(self):
        connection = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = connection.call_sync(
            BUS_NAME, OBJECT_PATH, INTERFACE, "ListSites", None, GLib.VariantType("(aa{sv})"),
            Gio.DBusCallFlags.NONE, applinktest.CALL_TIMEOUT_MS, None)
        self.addCleanup(self.stop_activated_daemon)
        self.assertEqual(reply.unpack(), ([],))

    def stop_activated_daemon(self):
        """Stop the applinkd that the bus started for test_bus_activation, by its process id."""
        pid = applinktest.name_owner_pid(self.bus)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if applinktest.name_owner_pid(self.bus) != pid:
                return
            time.sleep(0.1)


class InterfaceTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_daemon()
        xml = (applinktest.SOURCE_DIR / "dbus-interfaces" / "org.applink.Manager.xml").read_text()
        self.expected = Gio.DBusNodeInfo.new_for_xml(xml).lookup_interface(INTERFACE)
        reply = self.bus.call_sync(
            BUS_NAME, OBJECT_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", None,
            GLib.VariantType("(s)"), Gio.DBusCallFlags.NO_AUTO_START,
            applinktest.CALL_TIMEOUT_MS, None)
        self.actual = Gio.DBusNodeInfo.new_for_xml(reply.unpack()[0]).lookup_interface(INTERFACE)

    @staticmethod
    def method_signatures(info):
        return {method.name: ("".join(arg.signature for arg in method.in_args),
                              "".join(arg.signature for arg in method.out_args))
                for method in info.methods}

    def test_interface_exported(self):
        self.assertIsNotNone(self.actual)

    def test_methods_match_xml(self):
        self.assertEqual(self.method_signatures(self.actual),
                         self.method_signatures(self.expected))

    def test_signals_match_xml(self):
        def signatures(info):
            return {sig.name: "".join(arg.signature for arg in sig.args) for sig in info.signals}
        self.assertEqual(signatures(self.actual), signatures(self.expected))

    def test_gdbus_call(self):
        completed = subprocess.run(
            ["gdbus", "call", "--session", "--dest", BUS_NAME, "--object-path", OBJECT_PATH,
             "--method", f"{INTERFACE}.ListSites"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(completed.stdout.strip(), "(@aa{sv} [],)")


class LogTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def run_main_job(self):
        """Run the main job with its failures, so that every secret passes through."""
        credentials = {"username": applinktest.JIRA_ADMIN, "password": self.jira_admin_password}
        site = self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                           applinktest.asv(token=self.new_secret("badtok")),
                           applinktest.asv(name="other"))
        link = self.create_link(site)["id"]
        self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", site, link,
                           applinktest.asv(self.salesforce_credentials(token="")), {})
        self.manager.set_outgoing_auth(site, link, self.salesforce_credentials())
        self.manager.get_outgoing_auth(site, link)
        self.manager.test_outgoing_auth(site, link)
        self.salesforce.control("POST", "users", [{"username": SALESFORCE_USER,
                                                   "password": self.new_secret("newpw"),
                                                   "token": self.salesforce_token}])
        self.manager.error("TestOutgoingAuth", "ss", site, link)
        self.manager.get_link(site, link)
        return site, link

    def test_no_secret_in_verbose_log(self):
        self.run_main_job()
        self.daemon.stop()
        self.assertEqual(self.find_leaks(), [])

    def test_verbose_log_not_empty(self):
        self.run_main_job()
        self.assertGreater(len(self.daemon.log_text().splitlines()), 3)

    def test_caught_error_logged(self):
        self.manager.error("RemoveSite", "s", "nosuchsite")
        self.assertIn("nosuchsite", self.daemon.log_text())

    def test_no_authorization_header_logged(self):
        self.run_main_job()
        self.assertNotRegex(self.daemon.log_text(), r"(?i)authorization:\s*(basic|bearer)\s+\S")


class SignalTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_sequence(self):
        site = self.add_site("jira")
        link = self.create_link(site)["id"]
        self.manager.set_outgoing_auth(site, link, self.salesforce_credentials())
        self.manager.clear_outgoing_auth(site, link)
        self.manager.delete_link(site, link)
        self.manager.remove_site(site)
        names = [name for name, _ in self.signals.collect(1)]
        self.assertEqual(names, ["SitesChanged", "LinksChanged", "OutgoingAuthChanged",
                                 "OutgoingAuthChanged", "LinksChanged", "SitesChanged"])

    def test_no_signal_on_failure(self):
        self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                           applinktest.asv(token=self.new_secret("badtok")),
                           applinktest.asv(name="jira"))
        self.assertIsNone(self.signals.wait_for("SitesChanged", timeout=1))

    def test_no_secret_in_signal(self):
        site = self.add_site("jira")
        link = self.create_link(site)["id"]
        self.manager.set_outgoing_auth(site, link, self.salesforce_credentials())
        arguments = self.signals.wait_for("OutgoingAuthChanged")
        self.assertIsNotNone(arguments)
        self.assertFalse(self.salesforce_password in repr(arguments),
                         "OutgoingAuthChanged carries the password")


if __name__ == "__main__":
    applinktest.main()
