"""Google API error envelope shared by every emulated service.

Owns `ApiError`, the exception a service raises to answer with a Google-shaped
error body, and the canonical status table (google/rpc/code.proto) used to pick
the HTTP code for a status. The body shape is the one real Google REST front
ends produce: `{"error": {"code", "message", "status"}}`, plus the older
`errors[]` list (domain/reason, which BigQuery still sends and clients key off)
when a reason is given, plus `details[]` when given.
"""

# google.rpc.Code name -> HTTP status, as the JSON/HTTP mapping defines it.
HTTP_FOR_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}


class ApiError(Exception):
    """An error answered to the client as a Google JSON error body.

    `http_code` is the HTTP status, `status` the google.rpc.Code name
    ("NOT_FOUND"), `message` the human text. `reason` (and `location`) add the
    legacy `errors[]` entry (in `domain`, "global" unless given: BigQuery's
    rate limits are "usageLimits"); `details` is copied verbatim (a list of objects
    with "@type"). `headers` may be filled by the raiser with extra response
    headers (e.g. Retry-After); it is not part of the body.
    """

    def __init__(self, http_code, status, message, reason=None, location=None, details=None,
                 domain="global"):
        super().__init__(message)
        self.http_code = int(http_code)
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain
        self.location = location
        self.details = details
        self.headers = {}

    def body(self):
        err = {"code": self.http_code, "message": self.message}
        if self.reason is not None:
            entry = {"message": self.message, "domain": self.domain, "reason": self.reason}
            if self.location is not None:
                entry["location"] = self.location
            err["errors"] = [entry]
        err["status"] = self.status
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}

    def __repr__(self):
        return "ApiError(%d, %r, %r)" % (self.http_code, self.status, self.message)


def invalid_argument(message, **kw):
    return ApiError(400, "INVALID_ARGUMENT", message, **kw)


def not_found(message, **kw):
    return ApiError(404, "NOT_FOUND", message, **kw)


def already_exists(message, **kw):
    return ApiError(409, "ALREADY_EXISTS", message, **kw)


def failed_precondition(message, **kw):
    return ApiError(400, "FAILED_PRECONDITION", message, **kw)


def unimplemented(message, **kw):
    return ApiError(501, "UNIMPLEMENTED", message, **kw)


def internal(message="Internal error encountered.", **kw):
    return ApiError(500, "INTERNAL", message, **kw)


def unavailable(message="The service is currently unavailable.", **kw):
    return ApiError(503, "UNAVAILABLE", message, **kw)


def bad_request_field(field, description):
    """A 400 with the google.rpc.BadRequest detail real front ends attach to
    JSON-binding errors ("Invalid value at 'messages[0].data' (TYPE_BYTES)...")."""
    return ApiError(
        400,
        "INVALID_ARGUMENT",
        description,
        details=[{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": description}],
        }],
    )
