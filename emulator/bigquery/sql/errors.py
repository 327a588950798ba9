"""Errors raised while tokenizing, parsing, analysing or executing GoogleSQL.

``SqlError`` carries BigQuery's message text and optional [line:col] position;
the job layer turns it into the ``invalidQuery`` (or other reason) error body.
"""


class SqlError(Exception):
    """A query BigQuery would reject; ``reason`` is the ErrorProto reason."""

    def __init__(self, message, pos=None, reason='invalidQuery', http_code=400,
                 status='INVALID_ARGUMENT'):
        if pos is not None:
            message = '%s at [%d:%d]' % (message, pos[0], pos[1])
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.http_code = http_code
        self.status = status
        self.pos = pos


class SqlNotFound(SqlError):
    """A table or dataset named by the query does not exist (HTTP 404 notFound)."""

    def __init__(self, message):
        super().__init__(message, None, reason='notFound', http_code=404, status='NOT_FOUND')


def unsupported(what, pos=None):
    """The query is valid GoogleSQL but outside the subset the emulator implements."""
    return SqlError('%s is not supported by the emulator' % what, pos)
