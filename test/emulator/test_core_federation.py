"""Keyless credentials in auth mode: the STS token exchange (POST /v1/token),
IAM Credentials' generateAccessToken, the refresh_token grant of gcloud user
credentials, and the stand-in identity provider (see core/federation.py)."""

import shutil
import subprocess
import tempfile
import unittest
from urllib.parse import urlencode

from test.emulator.helpers import PYTHON, REPO_ROOT, EmulatorProcess

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
AUDIENCE = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/emu"
SUBJECT = "eyJhbGciOiJSUzI1NiJ9.subject-token-for-tests.sig"
TARGET = "loader@fed-project.iam.gserviceaccount.com"
HOP = "hop@fed-project.iam.gserviceaccount.com"
GENERATE = "/v1/projects/-/serviceAccounts/%s:generateAccessToken"


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is needed")
class FederationTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="emulator-federation-test-")
        pub = cls.tmp + "/sa.pub.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
                        "-out", cls.tmp + "/sa.pem"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "pkey", "-in", cls.tmp + "/sa.pem", "-pubout", "-out", pub], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.emu = EmulatorProcess(services=("pubsub",), data_dir=None, extra_args=[
            "--auth-public-key", pub, "--auth-subject-token", SUBJECT, "--auth-audience", AUDIENCE,
            "--auth-impersonable", TARGET, "--auth-impersonable", HOP, "--auth-refresh-token", "1//refresh"])

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def exchange(self, **over):
        form = {"grant_type": EXCHANGE, "audience": AUDIENCE, "requested_token_type": ACCESS,
                "scope": "https://www.googleapis.com/auth/cloud-platform", "subject_token": SUBJECT,
                "subject_token_type": JWT}
        form.update(over)
        form = {k: v for k, v in form.items() if v is not None}
        return self.emu.call("POST", "/v1/token", urlencode(form).encode(), headers=FORM)

    def bearer(self, token):
        return {"Authorization": "Bearer " + token}

    def test_exchange_gives_a_token_the_api_accepts(self):
        status, body = self.exchange()
        self.assertEqual(status, 200, body)
        self.assertEqual(body["issued_token_type"], ACCESS)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertGreater(body["expires_in"], 3000)
        status, body = self.emu.call("PUT", "/v1/projects/p/topics/federated",
                                     headers=self.bearer(body["access_token"]))
        self.assertEqual(status, 200, body)
        status, body = self.exchange(options='{"userProject":"123"}')
        self.assertEqual(status, 200, body)

    def test_exchange_refusals_use_the_oauth_shape_and_quote_no_token(self):
        cases = [
            ({"subject_token": "forged-" + SUBJECT}, "invalid_grant"),
            ({"audience": AUDIENCE + "-other"}, "invalid_target"),
            ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
            ({"requested_token_type": JWT}, "invalid_request"),
            ({"subject_token_type": "urn:x"}, "invalid_request"),
            ({"subject_token": None}, "invalid_request"),
            ({"options": "not json"}, "invalid_request"),
        ]
        for over, error in cases:
            with self.subTest(over=over):
                status, body = self.exchange(**over)
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"], error)
                self.assertIn("error_description", body)
                self.assertNotIn(SUBJECT, body["error_description"])

    def test_impersonation(self):
        _, sts = self.exchange()
        status, body = self.emu.call("POST", GENERATE % TARGET,
                                     {"scope": ["https://www.googleapis.com/auth/cloud-platform"],
                                      "lifetime": "1200s"}, headers=self.bearer(sts["access_token"]))
        self.assertEqual(status, 200, body)
        self.assertRegex(body["expireTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        status, api = self.emu.call("PUT", "/v1/projects/p/topics/impersonated",
                                    headers=self.bearer(body["accessToken"]))
        self.assertEqual(status, 200, api)
        # through a delegation chain of impersonable accounts
        status, body = self.emu.call("POST", GENERATE % TARGET,
                                     {"scope": ["x"], "delegates": ["projects/-/serviceAccounts/" + HOP]},
                                     headers=self.bearer(sts["access_token"]))
        self.assertEqual(status, 200, body)

    def test_impersonation_refusals_use_the_rpc_shape(self):
        _, sts = self.exchange()
        auth = self.bearer(sts["access_token"])
        cases = [
            (GENERATE % "other@p.iam.gserviceaccount.com", {"scope": ["x"]}, auth, 403, "PERMISSION_DENIED"),
            (GENERATE % TARGET, {"scope": ["x"], "delegates": ["projects/-/serviceAccounts/no@p"]}, auth,
             403, "PERMISSION_DENIED"),
            (GENERATE % TARGET, {"scope": ["x"], "delegates": [HOP]}, auth, 400, "INVALID_ARGUMENT"),
            (GENERATE % TARGET, {"scope": []}, auth, 400, "INVALID_ARGUMENT"),
            (GENERATE % TARGET, {"scope": ["x"], "lifetime": "an hour"}, auth, 400, "INVALID_ARGUMENT"),
            (GENERATE % TARGET, {"scope": ["x"]}, {}, 401, "UNAUTHENTICATED"),
            (GENERATE % TARGET, {"scope": ["x"]}, self.bearer("ya29.made-up"), 401, "UNAUTHENTICATED"),
        ]
        for path, body, headers, code, status_name in cases:
            with self.subTest(path=path, body=body, code=code):
                status, answer = self.emu.call("POST", path, body, headers=headers)
                self.assertEqual(status, code, answer)
                self.assertEqual(answer["error"]["status"], status_name)
                self.assertEqual(answer["error"]["code"], code)

    def test_refresh_token_grant(self):
        form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s",
                "refresh_token": "1//refresh"}
        status, body = self.emu.call("POST", "/token", urlencode(form).encode(), headers=FORM)
        self.assertEqual(status, 200, body)
        status, _ = self.emu.call("PUT", "/v1/projects/p/topics/user", headers=self.bearer(body["access_token"]))
        self.assertEqual(status, 200)
        form["refresh_token"] = "1//revoked"
        status, body = self.emu.call("POST", "/token", urlencode(form).encode(), headers=FORM)
        self.assertEqual((status, body["error"]), (400, "invalid_grant"))
        del form["client_secret"]
        status, body = self.emu.call("POST", "/token", urlencode(form).encode(), headers=FORM)
        self.assertEqual((status, body["error"]), (401, "invalid_client"))

    def test_identity_provider(self):
        path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://x"
        status, body = self.emu.call("GET", path)
        self.assertEqual(status, 400, "the Metadata header is required")
        status, body = self.emu.call("GET", path, headers={"Metadata": "True"})
        self.assertEqual((status, body["access_token"]), (200, SUBJECT))
        path = "/computeMetadata/v1/instance/service-accounts/default/identity?audience=x"
        status, _ = self.emu.call("GET", path)
        self.assertEqual(status, 403)
        status, body = self.emu.call("GET", path, headers={"Metadata-Flavor": "Google"})
        self.assertEqual((status, body), (200, SUBJECT))

    def test_counters(self):
        before = self.emu.call("GET", "/emulator/counters")[1]
        self.exchange()
        after = self.emu.call("GET", "/emulator/counters")[1]
        self.assertEqual(after["sts_token_exchanges"], before["sts_token_exchanges"] + 1)
        self.assertNotIn("stsExchangeToken", after["requests"])


class KeylessFlagsNeedAuthMode(unittest.TestCase):
    def test_refused_without_a_public_key(self):
        done = subprocess.run([PYTHON, "-m", "emulator", "--services", "pubsub", "--pubsub-port", "0",
                               "--auth-subject-token", "x"], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn(b"need auth mode", done.stdout)


if __name__ == "__main__":
    unittest.main()
