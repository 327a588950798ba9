"""Keyless credentials for the emulator's auth mode: Google's Security Token
Service (workload identity federation), IAM Service Account Credentials
(service-account impersonation), and a stand-in identity provider that
issues subject tokens.

Real clients without a service-account key get their access tokens in one
or two steps:

- an external account reads a *subject token* (an OIDC or SAML token of
  its own identity provider) from a file or a URL, and exchanges it at
  sts.googleapis.com/v1/token (RFC 8693 token exchange) for a federated
  access token;
- that token, or a source credential's token, then buys a token of a
  service account from iamcredentials.googleapis.com's
  `projects/-/serviceAccounts/EMAIL:generateAccessToken`, if the caller
  may impersonate it.

Each service port serves both in auth mode, under the same paths as
Google's hosts (POST /v1/token, POST
/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken), with Google's
answers and error shapes: STS speaks OAuth ({"error","error_description"}),
IAM Credentials google.rpc ({"error":{code,message,status}}). What they
accept is configured on the command line, so that a test can make each step
fail: STS accepts the subject tokens given with --auth-subject-token for
the audiences given with --auth-audience (any audience when none is given),
and generateAccessToken impersonates the accounts given with
--auth-impersonable, for any caller with a valid token.

The identity provider answers GET /metadata/identity/oauth2/token (Azure's
instance metadata path, JSON, requires "Metadata: true") and GET
/computeMetadata/v1/instance/service-accounts/default/identity (GCE's,
text, requires "Metadata-Flavor: Google") with the first configured subject
token, so clients can be tested with URL-sourced credentials in both
formats.
"""

import datetime
import json
import re
from urllib.parse import parse_qsl

from .errors import ApiError
from .oauth import OAuthError

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TOKEN_TYPES = (
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:saml2",
    "urn:ietf:params:aws:token-type:aws4_request",
)
STS_TOKEN_LIFETIME_S = 3600
MAX_IMPERSONATION_LIFETIME_S = 43200

STS_PATH = "/v1/token"
GENERATE_RE = re.compile(r"^/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken$")
AZURE_IDENTITY_PATH = "/metadata/identity/oauth2/token"
GCE_IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
DELEGATE_RE = re.compile(r"^projects/-/serviceAccounts/[^/]+$")
LIFETIME_RE = re.compile(r"^([0-9]+)(?:\.[0-9]{1,9})?s$")


def add_arguments(parser):
    g = parser.add_argument_group("keyless credentials (auth mode only)")
    g.add_argument("--auth-subject-token", action="append", default=[], metavar="TOKEN",
                   help="a subject token the STS endpoint (POST /v1/token) accepts; the emulated "
                        "identity provider issues the first one (repeatable)")
    g.add_argument("--auth-audience", action="append", default=[], metavar="AUDIENCE",
                   help="a workload identity pool provider the STS endpoint knows (repeatable; "
                        "default: any audience)")
    g.add_argument("--auth-impersonable", action="append", default=[], metavar="EMAIL",
                   help="a service account generateAccessToken issues tokens for (repeatable); "
                        "others are refused with 403")
    g.add_argument("--auth-refresh-token", action="append", default=[], metavar="TOKEN",
                   help="a refresh token POST /token accepts (refresh_token grant of gcloud user "
                        "credentials; repeatable)")


class Federation:
    """STS, IAM Credentials and the identity provider of one emulator, on top
    of the TokenAuthority that issues and checks the access tokens."""

    def __init__(self, authority, subject_tokens=(), audiences=(), impersonable=()):
        self.authority = authority
        self.subject_tokens = list(subject_tokens)
        self.audiences = list(audiences)
        self.impersonable = list(impersonable)

    # ------------------------------------------------------------ routing
    def handles(self, method, path):
        return ((method == "POST" and (path == STS_PATH or GENERATE_RE.match(path)))
                or (method == "GET" and path in (AZURE_IDENTITY_PATH, GCE_IDENTITY_PATH)))

    # ------------------------------------------------------------ STS
    def exchange(self, body, content_type):
        """POST /v1/token: returns the JSON answer or raises OAuthError."""
        if "application/x-www-form-urlencoded" not in (content_type or ""):
            raise OAuthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded.")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: %s" % form.get("grant_type", ""))
        if form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", "Invalid requested_token_type: %s"
                             % form.get("requested_token_type", ""))
        if form.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
            raise OAuthError(400, "invalid_request", "Invalid subject_token_type: %s"
                             % form.get("subject_token_type", ""))
        if not form.get("subject_token"):
            raise OAuthError(400, "invalid_request", "subject_token is required.")
        audience = form.get("audience", "")
        if not audience:
            raise OAuthError(400, "invalid_request", "audience is required.")
        if "options" in form:
            try:
                options = json.loads(form["options"])
                if not isinstance(options, dict):
                    raise ValueError
            except ValueError:
                raise OAuthError(400, "invalid_request", "options must be a JSON object.")
        if self.audiences and audience not in self.audiences:
            raise OAuthError(400, "invalid_target",
                             "The target service indicated by the \"audience\" parameters is invalid. This "
                             "might either be because the pool or provider is disabled or deleted or because "
                             "it doesn't exist.")
        # never echo the token: clients may log the description
        if form["subject_token"] not in self.subject_tokens:
            raise OAuthError(400, "invalid_grant",
                             "The subject token could not be verified: it was not issued by a trusted "
                             "identity provider or has expired.")
        out = self.authority.issue_token(STS_TOKEN_LIFETIME_S)
        return {"access_token": out["access_token"], "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer", "expires_in": out["expires_in"]}

    # ------------------------------------------------------------ IAM Credentials
    def generate_access_token(self, path, body, authorization):
        """POST .../serviceAccounts/EMAIL:generateAccessToken; raises ApiError."""
        self.authority.check(authorization)
        email = GENERATE_RE.match(path).group(1)
        try:
            req = json.loads(body) if body and body.strip() else {}
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. %s" % e)
        if not isinstance(req, dict):
            raise ApiError(400, "INVALID_ARGUMENT",
                           "Invalid JSON payload received. Unknown name \"\": Root element must be a message.")
        scope = req.get("scope")
        if (not isinstance(scope, list) or not scope
                or not all(isinstance(s, str) and s for s in scope)):
            raise ApiError(400, "INVALID_ARGUMENT", "Scope required.")
        lifetime = 3600
        if req.get("lifetime") is not None:
            m = LIFETIME_RE.match(str(req["lifetime"]))
            if not m or not 1 <= int(m.group(1)) <= MAX_IMPERSONATION_LIFETIME_S:
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid value at 'lifetime' (type.googleapis.com/"
                               "google.protobuf.Duration), Field 'lifetime', Illegal duration format.")
            lifetime = int(m.group(1))
        delegates = req.get("delegates") or []
        if not isinstance(delegates, list) or not all(isinstance(d, str) and DELEGATE_RE.match(d)
                                                      for d in delegates):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid form of delegates: expected "
                           "projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}.")
        chain = [d.rsplit("/", 1)[1] for d in delegates] + [email]
        if any(account not in self.impersonable for account in chain):
            raise ApiError(403, "PERMISSION_DENIED",
                           "Permission 'iam.serviceAccounts.getAccessToken' denied on resource "
                           "(or it may not exist).",
                           details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                     "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                                     "metadata": {"permission": "iam.serviceAccounts.getAccessToken"}}])
        out = self.authority.issue_token(lifetime)
        expire = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=out["expires_in"])
        return {"accessToken": out["access_token"], "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%SZ")}

    # ------------------------------------------------------------ identity provider
    def identity(self, path, headers):
        """The subject token, as a metadata server hands it to workloads.
        Returns (status, content_type, body bytes, extra headers)."""
        token = self.subject_tokens[0] if self.subject_tokens else None
        if path == AZURE_IDENTITY_PATH:
            if (headers.get("Metadata") or "").lower() != "true":
                return (400, "application/json; charset=utf-8",
                        b'{"error":"invalid_request","error_description":"Required metadata header not specified"}',
                        {})
            if token is None:
                return (400, "application/json; charset=utf-8",
                        b'{"error":"invalid_request","error_description":"Identity not found"}', {})
            body = {"access_token": token, "expires_in": "3599", "token_type": "Bearer",
                    "resource": "api://bqstream-emulator"}
            return 200, "application/json; charset=utf-8", json.dumps(body).encode(), {}
        flavor = {"Metadata-Flavor": "Google"}
        if headers.get("Metadata-Flavor") != "Google":
            return 403, "text/plain; charset=UTF-8", b"Missing Metadata-Flavor:Google header.\n", flavor
        if token is None:
            return 404, "text/plain; charset=UTF-8", b"No identity configured.\n", flavor
        return 200, "text/html; charset=UTF-8", token.encode(), flavor
