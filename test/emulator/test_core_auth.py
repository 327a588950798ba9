"""Auth mode (--auth-public-key): the token endpoint verifies RS256 JWTs
(jwt-bearer grant) and the APIs then require the issued Bearer token."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from urllib.parse import urlencode

from test.emulator.helpers import EmulatorProcess

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key(directory, name):
    key = os.path.join(directory, name + ".pem")
    pub = os.path.join(directory, name + ".pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return key, pub


def make_jwt(key, claims, alg="RS256"):
    signed = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": "k1"}).encode()) + "." + \
        b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signed.encode(),
                         check=True, stdout=subprocess.PIPE).stdout
    return signed + "." + b64url(sig)


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is needed")
class AuthModeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="emulator-auth-test-")
        cls.key, pub = make_key(cls.tmp, "sa")
        cls.other_key, _ = make_key(cls.tmp, "other")
        cls.emu = EmulatorProcess(services=("pubsub",), extra_args=["--auth-public-key", pub], data_dir=None)
        cls.token_url = "http://127.0.0.1:%d/token" % cls.emu.ports["pubsub"]

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def claims(self, **over):
        now = int(time.time())
        c = {"iss": "sa@p.iam.gserviceaccount.com", "scope": "https://www.googleapis.com/auth/pubsub",
             "aud": self.token_url, "iat": now, "exp": now + 3600}
        c.update(over)
        return c

    def grant(self, assertion, grant_type=JWT_BEARER):
        body = urlencode({"grant_type": grant_type, "assertion": assertion}).encode()
        return self.emu.call("POST", "/token", body, headers=FORM)

    def test_api_requires_a_token(self):
        status, body = self.emu.call("PUT", "/v1/projects/p/topics/no-token")
        self.assertEqual(status, 401)
        self.assertEqual(body["error"]["status"], "UNAUTHENTICATED")
        status, body = self.emu.call("PUT", "/v1/projects/p/topics/bad-token",
                                     headers={"Authorization": "Bearer ya29.made-up"})
        self.assertEqual(status, 401)

    def test_signed_jwt_gets_a_token_the_api_accepts(self):
        status, body = self.grant(make_jwt(self.key, self.claims()))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertGreater(body["expires_in"], 3000)
        auth = {"Authorization": "Bearer " + body["access_token"]}
        status, body = self.emu.call("PUT", "/v1/projects/p/topics/with-token", headers=auth)
        self.assertEqual(status, 200, body)
        # Google's own audience is accepted too, as key files name it in token_uri
        status, _ = self.grant(make_jwt(self.key, self.claims(aud="https://oauth2.googleapis.com/token")))
        self.assertEqual(status, 200)

    def test_rejections_use_the_oauth_error_shape(self):
        cases = [
            (make_jwt(self.other_key, self.claims()), "Invalid JWT Signature."),
            (make_jwt(self.key, self.claims(aud="https://elsewhere/token")), "audience"),
            (make_jwt(self.key, self.claims(exp=int(time.time()) + 7200)), "short-lived"),
            (make_jwt(self.key, self.claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
             "short-lived"),
            (make_jwt(self.key, self.claims(), alg="HS256"), "algorithm"),
            ("not.a.jwt", "Invalid JWT"),
            ("garbage", "three"),
        ]
        for assertion, text in cases:
            with self.subTest(text=text):
                status, body = self.grant(assertion)
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"], "invalid_grant")
                self.assertIn(text, body["error_description"])
        status, body = self.grant(make_jwt(self.key, self.claims()), grant_type="client_credentials")
        self.assertEqual((status, body["error"]), (400, "unsupported_grant_type"))

    def test_metadata_server_token_path(self):
        path = "/computeMetadata/v1/instance/service-accounts/default/token"
        status, _ = self.emu.call("GET", path)
        self.assertEqual(status, 403, "the Metadata-Flavor header is required")
        status, body = self.emu.call("GET", path, headers={"Metadata-Flavor": "Google"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["token_type"], "Bearer")
        auth = {"Authorization": "Bearer " + body["access_token"]}
        status, body = self.emu.call("PUT", "/v1/projects/p/topics/via-metadata", headers=auth)
        self.assertEqual(status, 200, body)

    def test_control_endpoints_need_no_token(self):
        status, body = self.emu.call("GET", "/emulator/health")
        self.assertEqual((status, body), (200, {"ok": True}))


if __name__ == "__main__":
    unittest.main()
