"""Property test: bq_query_scan() agrees with the emulator's GoogleSQL lexer.

bq_query_scan() (src/fdw/query_check.c) decides whether the "query" option of
a foreign table, set by a role that is not a superuser, is exactly one SELECT
statement that bqstream_fdw can wrap as "SELECT ... FROM (<query>) AS q ...".
The fuzz target checks it against a reference tokenizer in C written from
ZetaSQL's flex rules; this test checks it against a second, independent
reader: the emulator's lexer (emulator/bigquery/sql/lexer.py, written from
zetasql's lexical rules for the emulator's own use).

For each query, through build/query_check_cli (fuzz/query_check.c built with
-DBQFUZZ_CLI, which also runs the fuzz target's checks on it: hex queries in,
"<verdict> <byte offset>" out):

* accepted: the wrapped text either fails to tokenize for a reason other than
  an unclosed literal, identifier or comment (BigQuery would then refuse the
  whole request), or its tokens hold no ";", the wrapper's "(" is closed by
  the wrapper's own ")", and the tokens after it are the wrapper's;
* refused for a ";" or a ")": the lexer finds that ";" (or a ")" closing
  below the outer level) at that offset, unless it stops at an error first;
* refused as unterminated: the lexer does not read the text through;
* refused for a comment running to the end: a ")" appended is in the comment;
* refused as not a SELECT: the first token after any "(" is not SELECT or WITH.

Queries: the seed corpus, the libFuzzer corpus if one was kept, edge cases,
and a few thousand random ones from a seeded generator biased towards what
matters (quotes of every kind, prefixes, backslashes, CR and LF, comment
markers, ";" and parentheses), half of them starting with SELECT.

Run from the repository root:  python3 -m unittest fuzz/test_query_check_lexer.py
(BQFUZZ_LEXER_CASES=N sets how many random queries; default 5000.)
"""

import os
import random
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from emulator.bigquery.sql.lexer import tokenize  # noqa: E402
from emulator.bigquery.sql.errors import SqlError  # noqa: E402

CLI = os.path.join(HERE, 'build', 'query_check_cli')

# enum BqQueryVerdict (src/fdw/query_check.h)
(OK, NOT_SELECT, SECOND_STATEMENT, FINAL_SEMICOLON, EXTRA_CLOSE, UNCLOSED_PAREN,
 OPEN_STRING, OPEN_BYTES, OPEN_IDENTIFIER, OPEN_COMMENT, OPEN_LINE_COMMENT) = range(11)

# what fdw.c builds around the query (as fuzz/query_check.c does)
WRAP_BEFORE = 'SELECT `a`, `b` FROM ('
WRAP_AFTER = ') AS q WHERE `b` = @p1 GROUP BY 1 ORDER BY `a` LIMIT 10'

FRAGMENTS = ["'", '"', "'''", '"""', '`', '\\', ';', '(', ')', '--', '#', '/*', '*/', '*', '/',
             '-', '\n', '\r', '\r\n', ' ', 'r', 'b', 'R', 'B', 'rb', 'Br', 'x', 'a', '1', ',',
             'SELECT', 'WITH', 'DROP TABLE t', "'abc'", '`id`', '\u00e9', '\u00a0', '@p', '.']


def scan_all(queries):
    """Run the C scanner on each query (bytes); return [(verdict, offset)]."""
    text = ''.join(q.hex() + '\n' for q in queries)
    out = subprocess.run([CLI], input=text.encode(), stdout=subprocess.PIPE, check=True,
                         env=dict(os.environ, ASAN_OPTIONS='detect_leaks=0')).stdout
    results = [tuple(int(x) for x in line.split()) for line in out.decode().splitlines()]
    assert len(results) == len(queries), (len(results), len(queries))
    return results


def corpus_queries():
    queries = []
    for d in (os.path.join(HERE, 'corpus', 'query_check'), os.path.join(HERE, 'build', 'corpus', 'query_check')):
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                with open(os.path.join(d, f), 'rb') as fh:
                    queries.append(fh.read().split(b'\0')[0])
    return queries


def random_queries(n, seed=20240502):
    rng = random.Random(seed)
    queries = []
    for _ in range(n):
        parts = ['SELECT '] if rng.random() < 0.5 else []
        for _ in range(rng.randint(1, 12)):
            parts.append(rng.choice(FRAGMENTS))
        queries.append(''.join(parts).encode('utf-8'))
    return queries


def char_offset(query, offset):
    return len(query[:offset].decode('utf-8'))


class QueryCheckAgreesWithLexer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise unittest.SkipTest('build/query_check_cli is missing: run "make -C fuzz" first')
        cases = int(os.environ.get('BQFUZZ_LEXER_CASES', '5000'))
        edge = [b'SELECT 1', b'', b'(', b')', b';', b'SELECT 1;', b"SELECT r'\\''", b"SELECT '\\\\'",
                b'SELECT 1 -- x\r)', b'SELECT 1 /* /* */ )', b"SELECT '''a'' '''", b'SELECT `a\\``',
                b'SELECT 1 #', b'with x as (select 1) select * from x']
        queries = []
        for q in edge + corpus_queries() + random_queries(cases):
            q = q.split(b'\0')[0]
            try:
                q.decode('utf-8')
            except UnicodeDecodeError:
                continue  # an option value is text in the database encoding (UTF-8 here)
            queries.append(q)
        cls.queries = queries
        cls.verdicts = scan_all(queries)

    def each(self, verdicts):
        for q, (verdict, offset) in zip(self.queries, self.verdicts):
            if verdict in verdicts:
                yield q, q.decode('utf-8'), verdict, char_offset(q, offset)

    def test_accepted_stays_inside_its_parentheses(self):
        checked = 0
        for raw, q, _, _ in self.each({OK}):
            with self.subTest(query=q):
                text = WRAP_BEFORE + q + WRAP_AFTER
                try:
                    toks = tokenize(text)
                except SqlError as e:
                    self.assertNotIn('Unclosed', e.message)
                    continue  # BigQuery would refuse the whole request
                close_at = len(WRAP_BEFORE) + len(q)
                depth = 0
                for k, t in enumerate(toks):
                    self.assertFalse(t.kind == 'op' and t.value == ';', (t, toks))
                    if t.kind == 'op' and t.value == '(':
                        depth += 1
                    elif t.kind == 'op' and t.value == ')':
                        depth -= 1
                        self.assertGreaterEqual(depth, 0, (t, toks))
                        if depth == 0:
                            break
                self.assertEqual(t.start, close_at, toks)
                after = [(a.kind, a.value, a.start + close_at) for a in tokenize(WRAP_AFTER)]
                self.assertEqual([(a.kind, a.value, a.start) for a in toks[k:]], after)
                checked += 1
        self.assertGreater(checked, 100)

    def prefix_tokens(self, q, at):
        """Tokens of q up to and including the character at "at", or None
        when the lexer stops at an error before (other than an unclosed
        literal, identifier or comment, which would be a disagreement)."""
        try:
            return tokenize(q[:at + 1] + '\n')
        except SqlError as e:
            self.assertNotIn('Unclosed', e.message)
            return None

    def test_refused_semicolon_is_there(self):
        for raw, q, verdict, at in self.each({SECOND_STATEMENT, FINAL_SEMICOLON}):
            with self.subTest(query=q):
                toks = self.prefix_tokens(q, at)
                if toks is not None:
                    self.assertEqual((toks[-2].kind, toks[-2].value, toks[-2].start), ('op', ';', at))

    def test_refused_parenthesis_closes_too_much(self):
        for raw, q, verdict, at in self.each({EXTRA_CLOSE}):
            with self.subTest(query=q):
                toks = self.prefix_tokens(q, at)
                if toks is None:
                    continue
                self.assertEqual((toks[-2].kind, toks[-2].value, toks[-2].start), ('op', ')', at))
                opened = sum(1 for t in toks[:-2] if t.kind == 'op' and t.value == '(')
                closed = sum(1 for t in toks[:-2] if t.kind == 'op' and t.value == ')')
                self.assertEqual(opened, closed)

    def test_refused_unterminated_does_not_lex(self):
        for raw, q, verdict, at in self.each({OPEN_STRING, OPEN_BYTES, OPEN_IDENTIFIER, OPEN_COMMENT}):
            with self.subTest(query=q):
                with self.assertRaises(SqlError) as cm:
                    tokenize(q + '\n')
                if 'Unclosed' in cm.exception.message:
                    self.assertEqual(cm.exception.pos, tokenize_pos(q, at))

    def test_refused_line_comment_hides_what_follows(self):
        for raw, q, verdict, at in self.each({OPEN_LINE_COMMENT}):
            with self.subTest(query=q):
                self.assertIn(q[at], '-#')
                try:
                    toks = tokenize(q + ')')
                except SqlError:
                    continue
                self.assertNotIn(('op', ')', len(q)), [(t.kind, t.value, t.start) for t in toks])

    def test_refused_not_select(self):
        for raw, q, verdict, at in self.each({NOT_SELECT}):
            with self.subTest(query=q):
                try:
                    toks = tokenize(q + '\n')
                except SqlError:
                    continue
                first = next(t for t in toks if not (t.kind == 'op' and t.value == '('))
                self.assertNotIn((first.kind, first.value), [('kw', 'SELECT'), ('kw', 'WITH')])

    def test_verdicts_seen(self):
        # the generator reaches every verdict but the rarest
        seen = {v for v, _ in self.verdicts}
        self.assertTrue({OK, NOT_SELECT, SECOND_STATEMENT, FINAL_SEMICOLON, EXTRA_CLOSE,
                         UNCLOSED_PAREN, OPEN_STRING, OPEN_BYTES, OPEN_IDENTIFIER, OPEN_COMMENT,
                         OPEN_LINE_COMMENT} <= seen, seen)


def tokenize_pos(text, at):
    """The (line, column) the emulator's lexer gives to character offset at."""
    line = text.count('\n', 0, at) + 1
    return (line, at - (text.rfind('\n', 0, at) + 1) + 1)


if __name__ == '__main__':
    unittest.main()
