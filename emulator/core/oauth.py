"""OAuth2 for the emulator's optional auth mode (--auth-public-key).

Real GCP requires a Bearer token on every API call; a service account gets
one by posting an RS256-signed JWT to its key's token_uri (the jwt-bearer
grant). In auth mode each service port also serves POST /token, verifies the
JWT's signature against the public key a test generated, checks the claims as
Google's token endpoint does, and issues an opaque access token that the APIs
then require. gcloud user credentials (authorized_user) get theirs with the
refresh_token grant, for the refresh tokens given with --auth-refresh-token.
Without the flag nothing here runs and no credential is checked. The keyless
kinds (STS token exchange, service-account impersonation) are in
federation.py; their tokens are issued and checked here too.

The signature is verified with the `openssl` command so that the emulator
stays standard-library-only.
"""

import base64
import binascii
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
from urllib.parse import parse_qsl

from .errors import ApiError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN = "refresh_token"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_LIFETIME_S = 3600
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 300


class OAuthError(Exception):
    """An error in the OAuth shape, {"error": ..., "error_description": ...},
    which differs from the google.rpc shape of the APIs."""

    def __init__(self, http_code, error, description):
        super().__init__(description)
        self.http_code = http_code
        self.body = {"error": error, "error_description": description}


def _b64url_decode(part):
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise OAuthError(400, "invalid_grant", "Invalid JWT: malformed base64url segment.")


class TokenAuthority:
    """Verifies jwt-bearer assertions and remembers the tokens it issued."""

    def __init__(self, public_key_path, refresh_tokens=()):
        with open(public_key_path, "rb") as f:
            if b"PUBLIC KEY" not in f.read():
                raise ValueError("%s is not a PEM public key" % public_key_path)
        self.public_key_path = public_key_path
        self.refresh_tokens = list(refresh_tokens)
        self.federation = None      # federation.Federation, set by __main__
        self._tokens = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ token endpoint
    def token_request(self, body, content_type, token_url):
        """Handle POST /token; returns the JSON response or raises OAuthError."""
        if "application/x-www-form-urlencoded" not in (content_type or ""):
            raise OAuthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded.")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") == REFRESH_TOKEN:
            return self._refresh(form)
        if form.get("grant_type") != JWT_BEARER:
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: %s" % form.get("grant_type", ""))
        assertion = form.get("assertion", "")
        claims = self._verify(assertion, token_url)
        out = self.issue_token()
        out["scope"] = claims.get("scope", "")
        return out

    def _refresh(self, form):
        """The refresh_token grant of gcloud user credentials: Google wants the
        OAuth client too, and answers invalid_grant for an unknown token."""
        if not form.get("client_id") or not form.get("client_secret"):
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if form.get("refresh_token") not in self.refresh_tokens:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        out = self.issue_token()
        out["scope"] = "https://www.googleapis.com/auth/cloud-platform"
        return out

    def issue_token(self, lifetime=TOKEN_LIFETIME_S):
        """A fresh Bearer token, as the token endpoint and the metadata server give."""
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + lifetime
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def _verify(self, assertion, token_url):
        parts = assertion.split(".")
        if len(parts) != 3 or not all(parts):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: expected three dot-separated segments.")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
        except ValueError:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: header or claims are not JSON.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: header or claims are not JSON objects.")
        if header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT: unsupported algorithm %r." % header.get("alg"))
        signature = _b64url_decode(parts[2])
        if not self._signature_ok((parts[0] + "." + parts[1]).encode(), signature):
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") not in (token_url, GOOGLE_TOKEN_URI):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Failed audience check. The expected "
                             "audience is %s." % token_url)
        if not claims.get("iss"):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: No issuer.")
        iat, exp = claims.get("iat"), claims.get("exp")
        now = time.time()
        if (not isinstance(iat, (int, float)) or not isinstance(exp, (int, float))
                or exp - iat > MAX_ASSERTION_LIFETIME_S or exp <= iat
                or iat > now + CLOCK_SKEW_S or exp < now - CLOCK_SKEW_S):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                             "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                             "values in the JWT claim.")
        return claims

    def _signature_ok(self, signed, signature):
        with tempfile.TemporaryDirectory(prefix="emulator-jwt-") as tmp:
            data_path = os.path.join(tmp, "data")
            sig_path = os.path.join(tmp, "sig")
            with open(data_path, "wb") as f:
                f.write(signed)
            with open(sig_path, "wb") as f:
                f.write(signature)
            done = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.public_key_path,
                                   "-signature", sig_path, data_path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return done.returncode == 0

    # ------------------------------------------------------------ API requests
    def check(self, authorization):
        """Raise the 401 Google sends when a call lacks a valid Bearer token."""
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.time():
            err = ApiError(401, "UNAUTHENTICATED",
                           "Request had invalid authentication credentials. Expected OAuth 2 access "
                           "token, login cookie or other valid authentication credential.")
            err.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            raise err
