"""GoogleSQL tokenizer (the lexical rules of zetasql docs/lexical.md, §2.9 of the notes).

Owns: identifiers (unquoted and back-quoted, with the string escape rules),
reserved keywords, integer/float literals, every string and bytes literal form
(single, double, triple-quoted, raw, bytes, raw bytes) with the complete escape
list — anything else is an error, as in BigQuery — query parameters (@name, @`x`, ?)
and comments (--, #, /* */). Errors carry BigQuery's "at [line:col]" position.
"""

from .errors import SqlError

RESERVED = frozenset('''
ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS
CREATE CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE
EXISTS EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF
IGNORE IN INNER INTERSECT INTERVAL INTO IS JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL
NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER PARTITION PRECEDING PROTO QUALIFY RANGE
RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT TABLESAMPLE THEN TO TREAT TRUE
UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN
'''.split())

_SIMPLE_ESCAPES = {'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
                   'v': '\v', '\\': '\\', '?': '?', '"': '"', "'": "'", '`': '`'}
_HEX = frozenset('0123456789abcdefABCDEF')
_OCT = frozenset('01234567')
_IDENT_START = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_')
_IDENT_CHARS = _IDENT_START | frozenset('0123456789')
_DIGITS = frozenset('0123456789')

# multi-character operators first
_OPERATORS = ('<<', '>>', '<=', '>=', '<>', '!=', '||', '=>',
              '=', '<', '>', '+', '-', '*', '/', '(', ')', ',', '.', '[', ']',
              '&', '|', '^', '~', ';', ':')


class Token:
    __slots__ = ('kind', 'value', 'line', 'col', 'start', 'end', 'raw_ident')

    def __init__(self, kind, value, line, col, start, end, raw_ident=False):
        # kind: ident, kw, int, float, string, bytes, param, pparam, op, eof
        self.kind = kind
        self.value = value
        self.line = line
        self.col = col
        self.start = start
        self.end = end
        self.raw_ident = raw_ident  # True for a back-quoted identifier

    @property
    def pos(self):
        return (self.line, self.col)

    def __repr__(self):
        return 'Token(%s,%r,%d:%d)' % (self.kind, self.value, self.line, self.col)


def tokenize(text):
    """Return the list of tokens of a GoogleSQL statement (ends with an 'eof' token)."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text):
        self.t = text
        self.n = len(text)
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.out = []

    def pos_of(self, i):
        line = self.t.count('\n', 0, i) + 1
        col = i - (self.t.rfind('\n', 0, i) + 1) + 1
        return line, col

    def err(self, msg, i):
        raise SqlError(msg, self.pos_of(i))

    def add(self, kind, value, start, raw_ident=False):
        line, col = self.pos_of(start)
        self.out.append(Token(kind, value, line, col, start, self.i, raw_ident))

    def run(self):
        t, n = self.t, self.n
        while True:
            self.skip_space()
            if self.i >= n:
                break
            c = t[self.i]
            start = self.i
            if c in _IDENT_START:
                # string prefixes: r, b, rb, br (any case) directly before a quote
                j = self.i
                while j < n and j - self.i < 2 and t[j] in 'rRbB':
                    j += 1
                if j > self.i and j < n and t[j] in '\'"':
                    prefix = t[self.i:j].lower()
                    if prefix in ('r', 'b', 'rb', 'br'):
                        self.i = j
                        self.string_literal(start, raw='r' in prefix, is_bytes='b' in prefix)
                        continue
                while self.i < n and t[self.i] in _IDENT_CHARS:
                    self.i += 1
                word = t[start:self.i]
                up = word.upper()
                if up in RESERVED:
                    self.add('kw', up, start)
                else:
                    self.add('ident', word, start)
            elif c == '`':
                self.i += 1
                value = self.read_quoted('`', start, raw=False)
                if value == '':
                    self.err('Syntax error: Invalid empty identifier', start)
                self.add('ident', value, start, raw_ident=True)
            elif c in '\'"':
                self.string_literal(start, raw=False, is_bytes=False)
            elif c in _DIGITS or (c == '.' and self.i + 1 < n and t[self.i + 1] in _DIGITS
                                  and not self.after_path()):
                self.number(start)
            elif c == '@':
                if self.i + 1 < n and t[self.i + 1] == '@':
                    self.err('Syntax error: System variables (@@) are not supported by the '
                             'emulator', start)
                self.i += 1
                if self.i < n and t[self.i] == '`':
                    self.i += 1
                    name = self.read_quoted('`', start, raw=False)
                elif self.i < n and t[self.i] in _IDENT_START:
                    s = self.i
                    while self.i < n and t[self.i] in _IDENT_CHARS:
                        self.i += 1
                    name = t[s:self.i]
                else:
                    self.err('Syntax error: Unexpected "@"', start)
                self.add('param', name, start)
            elif c == '?':
                self.i += 1
                self.add('pparam', '?', start)
            else:
                for op in _OPERATORS:
                    if t.startswith(op, self.i):
                        self.i += len(op)
                        self.add('op', op, start)
                        break
                else:
                    self.err('Syntax error: Illegal input character "%s"' % c, start)
        self.add('eof', None, self.n)
        return self.out

    def after_path(self):
        # "t.1" is not a float after an identifier; only matters for odd paths.
        return bool(self.out) and self.out[-1].kind == 'ident' and self.i > 0 \
            and self.t[self.i - 1] not in ' \t\r\n'

    def skip_space(self):
        t, n = self.t, self.n
        while self.i < n:
            c = t[self.i]
            if c in ' \t\r\n\f\v':
                self.i += 1
            elif c == '#' or (c == '-' and t.startswith('--', self.i)):
                # to the end of the line, which a CR ends too (zetasql's dash_comment)
                j = self.i
                while j < n and t[j] not in '\r\n':
                    j += 1
                self.i = j
            elif c == '/' and t.startswith('/*', self.i):
                j = t.find('*/', self.i + 2)
                if j < 0:
                    self.err('Syntax error: Unclosed comment', self.i)
                self.i = j + 2
            else:
                break

    def number(self, start):
        t, n = self.t, self.n
        if t.startswith(('0x', '0X'), self.i):
            self.i += 2
            s = self.i
            while self.i < n and t[self.i] in _HEX:
                self.i += 1
            if s == self.i:
                self.err('Syntax error: Invalid hex literal', start)
            self.check_number_end(start)
            self.add('int', int(t[s:self.i], 16), start)
            return
        is_float = False
        while self.i < n and t[self.i] in _DIGITS:
            self.i += 1
        if self.i < n and t[self.i] == '.':
            is_float = True
            self.i += 1
            while self.i < n and t[self.i] in _DIGITS:
                self.i += 1
        if self.i < n and t[self.i] in 'eE':
            j = self.i + 1
            if j < n and t[j] in '+-':
                j += 1
            if j < n and t[j] in _DIGITS:
                is_float = True
                self.i = j
                while self.i < n and t[self.i] in _DIGITS:
                    self.i += 1
        self.check_number_end(start)
        text = t[start:self.i]
        if is_float:
            self.add('float', text, start)
        else:
            self.add('int', int(text), start)

    def check_number_end(self, start):
        if self.i < self.n and self.t[self.i] in _IDENT_CHARS:
            self.err('Syntax error: Missing whitespace between literal and alias', start)

    def string_literal(self, start, raw, is_bytes):
        t = self.t
        q = t[self.i]
        triple = t.startswith(q * 3, self.i)
        self.i += 3 if triple else 1
        value = self.read_quoted(q * 3 if triple else q, start, raw=raw, triple=triple,
                                 is_bytes=is_bytes)
        if is_bytes:
            self.add('bytes', value, start)
        else:
            self.add('string', value, start)

    def read_quoted(self, quote, start, raw, triple=False, is_bytes=False):
        """Read up to the closing quote; return str (or bytes for bytes literals)."""
        t, n = self.t, self.n
        parts = []
        out_bytes = bytearray() if is_bytes else None
        kind = 'identifier' if quote == '`' else ('bytes literal' if is_bytes else 'string literal')
        while True:
            if self.i >= n:
                self.err('Syntax error: Unclosed %s' % kind, start)
            c = t[self.i]
            if t.startswith(quote, self.i):
                self.i += len(quote)
                break
            if c in '\r\n' and not triple:
                self.err('Syntax error: Unclosed %s' % kind, start)
            if c == '\\':
                if self.i + 1 >= n:
                    self.err('Syntax error: Unclosed %s' % kind, start)
                if raw:
                    # raw: the backslash stays, and it protects what follows
                    # it, a line break (CR LF as one) included, as ZetaSQL's
                    # tokenizer reads any escape
                    width = 3 if t.startswith('\r\n', self.i + 1) else 2
                    self.emit(parts, out_bytes, t[self.i:self.i + width])
                    self.i += width
                    continue
                self.escape(parts, out_bytes, start, is_bytes, triple)
                continue
            self.emit(parts, out_bytes, c)
            self.i += 1
        if is_bytes:
            return bytes(out_bytes)
        return ''.join(parts)

    @staticmethod
    def emit(parts, out_bytes, s):
        if out_bytes is not None:
            out_bytes.extend(s.encode('utf-8'))
        else:
            parts.append(s)

    def escape(self, parts, out_bytes, start, is_bytes, triple):
        t = self.t
        esc_at = self.i
        c = t[self.i + 1]
        if c in _SIMPLE_ESCAPES:
            self.emit(parts, out_bytes, _SIMPLE_ESCAPES[c])
            self.i += 2
            return
        if c in _OCT:
            digits = t[self.i + 1:self.i + 4]
            if len(digits) != 3 or any(d not in _OCT for d in digits):
                self.err('Syntax error: Illegal escape sequence: Octal escape must be followed '
                         'by 3 octal digits but saw: \\%s' % digits, esc_at)
            code = int(digits, 8)
            self.i += 4
            self.emit_code(parts, out_bytes, code, is_bytes, esc_at)
            return
        if c in 'xX':
            digits = t[self.i + 2:self.i + 4]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                self.err('Syntax error: Illegal escape sequence: Hex escape must be followed '
                         'by 2 hex digits but saw: \\%s%s' % (c, digits), esc_at)
            self.i += 4
            self.emit_code(parts, out_bytes, int(digits, 16), is_bytes, esc_at)
            return
        if c in 'uU':
            width = 4 if c == 'u' else 8
            digits = t[self.i + 2:self.i + 2 + width]
            if is_bytes:
                self.err('Syntax error: Illegal escape sequence: Unicode escape sequence '
                         '\\%s cannot be used in bytes literals' % c, esc_at)
            if len(digits) != width or any(d not in _HEX for d in digits):
                self.err('Syntax error: Illegal escape sequence: \\%s must be followed by %d '
                         'hex digits but saw: \\%s%s' % (c, width, c, digits), esc_at)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                self.err('Syntax error: Illegal escape sequence: Value of \\%s%s exceeds Unicode '
                         'limit (0x0010FFFF) or is a surrogate' % (c, digits), esc_at)
            self.i += 2 + width
            parts.append(chr(code))
            return
        if c == '\n' or (c == '\r'):
            self.err('Syntax error: Illegal escaped newline', esc_at)
        self.err('Syntax error: Illegal escape sequence: \\%s' % c, esc_at)

    def emit_code(self, parts, out_bytes, code, is_bytes, at):
        if is_bytes:
            out_bytes.append(code)
        else:
            # in a STRING literal \x and octal escapes denote a code point below 0x80 only
            if code > 0x7F:
                self.err('Syntax error: Illegal escape sequence: Hex and octal escapes in string '
                         'literals must be below 0x80 (use \\u for Unicode)', at)
            parts.append(chr(code))
