"""Property test: bq_append_identifier() round-trips through GoogleSQL's lexer.

bq_append_identifier() (src/fdw/convert.c) is the only place bqstream_fdw
writes a name into GoogleSQL text.  Whatever the name, it must either refuse
it (an ERROR) or produce a back-quoted identifier that the emulator's GoogleSQL
lexer (emulator/bigquery/sql/lexer.py, which follows zetasql's lexical rules)
reads back as exactly one identifier token whose value is the name, with the
text around it untouched.  And it must not refuse a name made only of the
characters it documents as safe.

The C function runs as it is, through build/identifier_cli (fuzz/identifier.c
built with -DBQFUZZ_CLI: hex names in, "OK <hex>" or "ERROR" out); run.sh
builds it.  Names: the seed corpus, the libFuzzer corpus if one was kept, edge
cases, and a few thousand random ones from a seeded generator biased towards
the characters that matter (back-quotes, backslashes, newlines, quotes,
non-ASCII, the separators '.', '-', ':').

Run from the repository root:  python3 -m unittest fuzz/test_identifier_lexer.py
(BQFUZZ_LEXER_CASES=N sets how many random names; default 5000.)
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

CLI = os.path.join(HERE, 'build', 'identifier_cli')
SAFE = set(b'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-')
INTERESTING = ['`', '\\', '\n', '\r', '"', "'", ' ', '.', '-', ':', '_', '@', '#', '/*', '--',
               '\t', '\x00', '\x7f', 'é', '€', '\U0001f600', 'SELECT', 'FROM', 'a', 'Z', '9']


def quote_all(names):
    """Run the C function on each name (bytes); return [bytes or None]."""
    text = ''.join(n.hex() + '\n' for n in names)
    out = subprocess.run([CLI], input=text.encode(), stdout=subprocess.PIPE,
                         check=True, env=dict(os.environ, ASAN_OPTIONS='detect_leaks=0')).stdout
    results = []
    for line in out.decode().splitlines():
        results.append(bytes.fromhex(line[3:]) if line.startswith('OK ') else None)
    assert len(results) == len(names), (len(results), len(names))
    return results


def corpus_names():
    names = []
    for d in (os.path.join(HERE, 'corpus', 'identifier'), os.path.join(HERE, 'build', 'corpus', 'identifier')):
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                with open(os.path.join(d, f), 'rb') as fh:
                    names.append(fh.read().split(b'\0')[0])
    return names


def random_names(n, seed=20240501):
    rng = random.Random(seed)
    names = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 8)):
            r = rng.random()
            if r < 0.5:
                parts.append(rng.choice('abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789'))
            elif r < 0.8:
                parts.append(rng.choice(INTERESTING))
            else:
                parts.append(chr(rng.randint(1, 0x2FF)))
        names.append(''.join(parts).encode('utf-8'))
    return names


class IdentifierRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise unittest.SkipTest('build/identifier_cli is missing: run "make -C fuzz" first')
        cases = int(os.environ.get('BQFUZZ_LEXER_CASES', '5000'))
        edge = [b'order_id', b'fuzz-project.bqstream.raw_orders', b'SELECT', b'from', b'a-b:c.d',
                b'x`y', b'x\\`y', b'x\ny', b'`', b'\\', b'..', b'_', b'9', b'a' * 1000, 'é'.encode()]
        cls.names = [n.split(b'\0')[0] for n in edge + corpus_names() + random_names(cases)]
        cls.quoted = quote_all(cls.names)

    def test_refuses_or_round_trips(self):
        checked = 0
        for name, quoted in zip(self.names, self.quoted):
            if quoted is None:
                continue
            with self.subTest(name=name):
                self.assertEqual(quoted, b'`' + name + b'`')
                for bad in (b'`', b'\\', b'\n', b'\r'):
                    self.assertNotIn(bad, name)
                if name == b'':
                    continue  # `` : no caller passes an empty name (options are non-empty)
                text = 'SELECT %s FROM t' % quoted.decode('utf-8')
                toks = tokenize(text)
                kinds = [(t.kind, t.value) for t in toks]
                self.assertEqual(kinds[0], ('kw', 'SELECT'), kinds)
                self.assertEqual(toks[1].kind, 'ident', kinds)
                self.assertTrue(toks[1].raw_ident, kinds)
                self.assertEqual(toks[1].value, name.decode('utf-8'), kinds)
                self.assertEqual(kinds[2:], [('kw', 'FROM'), ('ident', 't'), ('eof', None)], kinds)
                checked += 1
        self.assertGreater(checked, 100)

    def test_refuses_only_what_needs_escapes(self):
        for name, quoted in zip(self.names, self.quoted):
            if quoted is None:
                with self.subTest(name=name):
                    self.assertFalse(name and set(name) <= SAFE,
                                     'a name of safe characters only was refused')

    def test_refused_names_would_need_escapes(self):
        # what the lexer makes of a refused name, naively back-quoted: either an
        # error or not that one name -- i.e. refusing was needed, or harmless
        for name, quoted in zip(self.names, self.quoted):
            if quoted is not None:
                continue
            try:
                text = name.decode('utf-8')
            except UnicodeDecodeError:
                continue
            try:
                toks = tokenize('SELECT `%s` FROM t' % text)
            except SqlError:
                continue
            if len(toks) == 5 and toks[1].kind == 'ident' and toks[1].value == text:
                continue  # would have been fine; refusing it is merely conservative
            with self.subTest(name=name):
                self.assertFalse(set(name) <= SAFE)


if __name__ == '__main__':
    unittest.main()
