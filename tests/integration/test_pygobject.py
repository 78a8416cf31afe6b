"""A GNOME integration script in Python with PyGObject, calling the running daemon."""

import json
import subprocess
import sys

import applinktest

# What a user's script would contain: a proxy for the manager, then ListSites and ListLinks
# through PyGObject's method-call syntax.
SCRIPT = r"""
import json

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio

manager = Gio.DBusProxy.new_for_bus_sync(
    Gio.BusType.SESSION, Gio.DBusProxyFlags.NONE, None,
    "org.applink.Manager", "/org/applink/Manager", "org.applink.Manager", None)
summary = []
for site in manager.ListSites():
    links = manager.ListLinks("(s)", site["id"])
    summary.append({
        "site": site["id"],
        "links": [(link["name"], link["outgoing-auth"]) for link in links],
    })
print(json.dumps(summary))
"""


class PyGObjectScriptTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def run_script(self):
        completed = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                                   text=True, timeout=60)
        self.record_output("output of the PyGObject script", completed.stdout + completed.stderr)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        return json.loads(completed.stdout)

    def test_no_sites(self):
        self.assertEqual(self.run_script(), [])

    def test_sites_and_links(self):
        site = self.add_site("jira")
        link = self.create_link(site)["id"]
        self.manager.set_outgoing_auth(site, link, self.salesforce_credentials())
        summary = self.run_script()
        self.assertEqual(summary, [{"site": "jira", "links": [["Salesforce", "configured"]]}])


if __name__ == "__main__":
    applinktest.main()
