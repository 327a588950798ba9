"""
The PGXN META.json against the PGXN Meta Spec 1.0.0 and against the rest of
the tree: the one version of a release is the same in META.json, the
control file's default_version, src/bqstream.h and debian/changelog, and the
files META.json names are there.

    python3 -m unittest test.package.meta_check      (from the tree)
    BQSTREAM_DIST_DIR=/path/to/unpacked/archive python3 -m unittest ...
"""

import json
import os
import re
import unittest

ROOT = os.environ.get("BQSTREAM_DIST_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# semantic versions as the spec requires them (semver 1.0.0)
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$")
RANGE_PART = re.compile(r"^((==|!=|<=|>=|<|>)\s*)?(0|(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))$")
# the license strings the spec names
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
            "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


class MetaJson(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.meta = json.loads(read("META.json"))

    def test_required_keys(self):
        for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
            self.assertIn(key, self.meta)
        self.assertEqual(self.meta["meta-spec"]["version"], "1.0.0")
        self.assertTrue(self.meta["abstract"].strip())
        self.assertIsInstance(self.meta["maintainer"], list)
        self.assertTrue(all(m.strip() for m in self.meta["maintainer"]))
        self.assertIn(self.meta.get("release_status", "stable"), ("stable", "testing", "unstable"))

    def test_license(self):
        self.assertIn(self.meta["license"], LICENSES)
        self.assertTrue(os.path.exists(os.path.join(ROOT, "LICENSE")))

    def test_name_is_the_extension(self):
        control = read("bqstream.control")
        self.assertEqual(self.meta["name"], "bqstream")
        self.assertEqual(set(self.meta["provides"]), {"bqstream"})
        self.assertIn("EXTENSION = bqstream", read("Makefile"))
        self.assertIn("module_pathname = '$libdir/bqstream'", control)

    def test_one_version_everywhere(self):
        version = self.meta["version"]
        self.assertRegex(version, SEMVER)
        self.assertEqual(self.meta["provides"]["bqstream"]["version"], version)
        default = re.search(r"^default_version\s*=\s*'([^']+)'", read("bqstream.control"), re.M).group(1)
        # the extension's versions are major.minor; the release adds .0
        self.assertEqual(default + ".0", version)
        self.assertIn('#define BQSTREAM_VERSION "%s"' % version, read("src/bqstream.h"))
        changelog = re.match(r"^bqstream \(([^)]+)\)", read("debian/changelog")).group(1)
        self.assertEqual(changelog, version)

    def test_files_named_exist(self):
        for ext in self.meta["provides"].values():
            self.assertTrue(os.path.isfile(os.path.join(ROOT, ext["file"])), ext["file"])
            if "docfile" in ext:
                self.assertTrue(os.path.isfile(os.path.join(ROOT, ext["docfile"])), ext["docfile"])
        for directory in self.meta.get("no_index", {}).get("directory", []):
            self.assertTrue(os.path.isdir(os.path.join(ROOT, directory)), directory)

    def test_prereqs(self):
        requires = self.meta["prereqs"]["runtime"]["requires"]
        for part in requires["PostgreSQL"].split(","):
            self.assertRegex(part.strip(), RANGE_PART)
        # the one major version debian/pgversions builds for is inside the range
        self.assertEqual(read("debian/pgversions").split(), ["15"])
        self.assertIn(">= 15.0.0", requires["PostgreSQL"])
        self.assertIn("< 16.0.0", requires["PostgreSQL"])


if __name__ == "__main__":
    unittest.main()
