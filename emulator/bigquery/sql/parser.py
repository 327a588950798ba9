"""Recursive-descent parser: GoogleSQL tokens -> AST (nodes.py).

Owns the grammar of the supported subset: SELECT queries (with subqueries in FROM, and
INNER and LEFT JOIN ... ON), the expression grammar with GoogleSQL operator precedence,
typed literals, CAST, EXTRACT, CASE, INTERVAL, and the DDL statements CREATE SCHEMA /
TABLE / VIEW / MATERIALIZED VIEW and DROP. Constructs outside the subset (other joins,
WITH, UNION, window functions, DML, scripting…) are recognised and rejected with an
``invalidQuery`` error that names them, never silently misread.
"""

from . import nodes as N
from .errors import SqlError, unsupported
from .lexer import tokenize
from .. import types as T

_TYPED_LITERALS = {'DATE', 'TIMESTAMP', 'DATETIME', 'TIME', 'NUMERIC', 'BIGNUMERIC', 'DECIMAL',
                   'BIGDECIMAL', 'JSON'}
_COMPARISON_OPS = ('=', '!=', '<>', '<', '<=', '>', '>=')


def parse(text):
    """Parse one statement; returns a statement node (Select/SetOp or a DDL node)."""
    return Parser(text).statement()


class Parser:
    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.positional = 0   # positional parameters are numbered in textual order

    # ------------------------------------------------------------ token helpers
    @property
    def tok(self):
        return self.toks[self.i]

    def peek(self, k=1):
        j = min(self.i + k, len(self.toks) - 1)
        return self.toks[j]

    def advance(self):
        t = self.toks[self.i]
        if t.kind != 'eof':
            self.i += 1
        return t

    def is_kw(self, *words, tok=None):
        t = tok or self.tok
        return t.kind == 'kw' and t.value in words

    def is_word(self, *words, tok=None):
        """A non-reserved keyword (an identifier token that is not back-quoted)."""
        t = tok or self.tok
        return t.kind == 'ident' and not t.raw_ident and t.value.upper() in words

    def is_op(self, *ops, tok=None):
        t = tok or self.tok
        return t.kind == 'op' and t.value in ops

    def accept_kw(self, *words):
        if self.is_kw(*words):
            return self.advance()
        return None

    def accept_word(self, *words):
        if self.is_word(*words):
            return self.advance()
        return None

    def accept_op(self, *ops):
        if self.is_op(*ops):
            return self.advance()
        return None

    def describe(self, t):
        if t.kind == 'eof':
            return 'end of input'
        if t.kind == 'kw':
            return 'keyword %s' % t.value
        if t.kind == 'ident':
            # as BigQuery words it: Unexpected identifier "SELEC" at [1:1]
            return 'identifier %s' % ('`%s`' % t.value if t.raw_ident else '"%s"' % t.value)
        if t.kind == 'string':
            return 'string literal %s' % _quote(t.value)
        if t.kind in ('int', 'float'):
            return 'integer literal "%s"' % self.text[t.start:t.end] if t.kind == 'int' \
                else 'floating point literal "%s"' % t.value
        if t.kind == 'param':
            return 'query parameter @%s' % t.value
        return '"%s"' % t.value

    def error(self, msg=None, tok=None):
        t = tok or self.tok
        if msg is None:
            msg = 'Syntax error: Unexpected %s' % self.describe(t)
        raise SqlError(msg, t.pos)

    def expect_kw(self, word):
        if not self.is_kw(word):
            self.error('Syntax error: Expected keyword %s but got %s'
                       % (word, self.describe(self.tok)))
        return self.advance()

    def expect_word(self, word):
        if not self.is_word(word):
            self.error('Syntax error: Expected keyword %s but got %s'
                       % (word, self.describe(self.tok)))
        return self.advance()

    def expect_op(self, op):
        if not self.is_op(op):
            self.error('Syntax error: Expected "%s" but got %s' % (op, self.describe(self.tok)))
        return self.advance()

    def identifier(self, what='identifier'):
        t = self.tok
        if t.kind == 'ident':
            self.advance()
            return t.value
        if t.kind == 'kw':
            self.error('Syntax error: Unexpected keyword %s' % t.value)
        self.error('Syntax error: Expected %s but got %s' % (what, self.describe(t)))

    # ------------------------------------------------------------ statements
    def statement(self):
        t = self.tok
        if self.is_kw('SELECT', 'WITH') or self.is_op('('):
            node = self.query()
        elif self.is_kw('CREATE'):
            node = self.create()
        elif self.is_word('DROP'):
            node = self.drop()
        elif self.is_word('UPDATE'):
            node = self.dml_update()
        elif self.is_word('DELETE'):
            node = self.dml_delete()
        elif self.is_word('INSERT', 'TRUNCATE') or self.is_kw('MERGE'):
            raise unsupported('DML statement %s' % t.value.upper(), t.pos)
        elif self.is_word('ALTER'):
            raise unsupported('ALTER statement', t.pos)
        elif self.is_word('DECLARE', 'BEGIN', 'CALL', 'EXECUTE') or self.is_kw('IF', 'SET'):
            raise unsupported('Scripting statement %s' % t.value.upper(), t.pos)
        elif t.kind == 'eof':
            self.error('Syntax error: Unexpected end of statement')
        else:
            self.error()
        self.accept_op(';')
        if self.tok.kind != 'eof':
            if self.toks[self.i - 1].kind == 'op' and self.toks[self.i - 1].value == ';':
                raise unsupported('A script with several statements', self.tok.pos)
            # BigQuery: "Expected end of input but got keyword SELECT at [2:1]"
            self.error('Syntax error: Expected end of input but got %s' % self.describe(self.tok))
        return node

    # ------------------------------------------------------------ DML
    def dml_target(self):
        """The table an UPDATE or DELETE changes, with its optional alias."""
        t = self.tok
        path = self.table_path()
        alias = None
        if self.accept_kw('AS'):
            alias = self.identifier('alias')
        elif self.tok.kind == 'ident':
            alias = self.advance().value
        return N.TableRef(path, alias, None, pos=t.pos)

    def dml_where(self, verb, start):
        # BigQuery requires the WHERE clause (WHERE true changes every row)
        if not self.accept_kw('WHERE'):
            if self.tok.kind != 'eof' and not self.is_op(';'):
                self.error()
            self.error('%s must have a WHERE clause' % verb, start)
        return self.expr()

    def dml_update(self):
        """UPDATE target [[AS] alias] SET col = expr [, ...] WHERE cond"""
        start = self.advance()
        target = self.dml_target()
        if not self.accept_kw('SET'):
            self.error('Syntax error: Expected keyword SET but got %s' % self.describe(self.tok))
        sets = []
        while True:
            t = self.tok
            parts = [self.identifier('column name')]
            while self.accept_op('.'):
                parts.append(self.identifier('column name'))
            self.expect_op('=')
            if self.is_kw('DEFAULT'):
                raise unsupported('SET column = DEFAULT', self.tok.pos)
            sets.append((parts, self.expr(), t.pos))
            if not self.accept_op(','):
                break
        if self.is_kw('FROM'):
            raise unsupported('UPDATE ... FROM', self.tok.pos)
        return N.Update(target, sets, self.dml_where('UPDATE', start), pos=start.pos)

    def dml_delete(self):
        """DELETE [FROM] target [[AS] alias] WHERE cond"""
        start = self.advance()
        self.accept_kw('FROM')
        target = self.dml_target()
        return N.Delete(target, self.dml_where('DELETE', start), pos=start.pos)

    # ------------------------------------------------------------ queries
    def query(self):
        if self.is_kw('WITH'):
            raise unsupported('WITH clause', self.tok.pos)
        start_tok = self.tok
        left = self.query_term()
        while self.is_kw('UNION', 'INTERSECT', 'EXCEPT'):
            t = self.advance()
            raise unsupported('Set operation %s' % t.value, t.pos)
        # ORDER BY / LIMIT after a parenthesized query apply to it
        if self.is_kw('ORDER', 'LIMIT'):
            if not isinstance(left, N.Select) or left.order_by or left.limit is not None:
                if isinstance(left, N.Select) and (left.order_by or left.limit is not None):
                    self.error()
                left = N.Select(False, [N.SelectItem(None, None, [], [], [])],
                                N.SubqueryRef(left, None, pos=start_tok.pos), None, [], None,
                                [], None, None, None, pos=start_tok.pos)
            self.order_limit(left)
        return left

    def query_term(self):
        if self.accept_op('('):
            q = self.query()
            self.expect_op(')')
            return q
        return self.select()

    def select(self):
        start = self.expect_kw('SELECT')
        if self.is_word('AS') or self.is_kw('AS'):
            raise unsupported('SELECT AS STRUCT/VALUE', self.tok.pos)
        distinct = False
        if self.accept_kw('DISTINCT'):
            distinct = True
        else:
            self.accept_kw('ALL')
        items = [self.select_item()]
        while self.accept_op(','):
            if self.is_kw('FROM') or self.tok.kind == 'eof':
                break  # BigQuery allows a trailing comma in the select list
            items.append(self.select_item())
        from_ = None
        if self.accept_kw('FROM'):
            from_ = self.from_item()
            while self.is_kw('JOIN', 'INNER', 'LEFT'):
                from_ = self.join(from_)
            if self.is_op(',') or self.is_kw('JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'CROSS',
                                                'NATURAL'):
                raise unsupported('This JOIN', self.tok.pos)
        where = None
        if self.accept_kw('WHERE'):
            where = self.expr()
        group_by = []
        if self.accept_kw('GROUP'):
            self.expect_kw('BY')
            if self.is_kw('ROLLUP', 'CUBE', 'GROUPING'):
                raise unsupported('GROUP BY %s' % self.tok.value, self.tok.pos)
            if self.accept_kw('ALL'):
                raise unsupported('GROUP BY ALL', self.toks[self.i - 1].pos)
            group_by.append(self.expr())
            while self.accept_op(','):
                group_by.append(self.expr())
        having = None
        if self.accept_kw('HAVING'):
            having = self.expr()
        if self.is_kw('QUALIFY', 'WINDOW'):
            raise unsupported('%s clause' % self.tok.value, self.tok.pos)
        sel = N.Select(distinct, items, from_, where, group_by, having, [], None, None, None,
                       pos=start.pos)
        self.order_limit(sel)
        return sel

    def order_limit(self, sel):
        if self.accept_kw('ORDER'):
            self.expect_kw('BY')
            sel.order_by = [self.order_item()]
            while self.accept_op(','):
                sel.order_by.append(self.order_item())
        if self.accept_kw('LIMIT'):
            sel.limit = self.limit_value()
            if self.accept_word('OFFSET'):
                sel.offset = self.limit_value()

    def limit_value(self):
        t = self.tok
        if t.kind == 'int':
            self.advance()
            return N.Literal('INT64', t.value, pos=t.pos)
        if t.kind in ('param', 'pparam'):
            return self.primary()
        if self.is_word('CAST'):
            return self.primary()
        self.error('Syntax error: Unexpected %s' % self.describe(t))

    def order_item(self):
        e = self.expr()
        desc = False
        if self.accept_kw('DESC'):
            desc = True
        else:
            self.accept_kw('ASC')
        nulls = None
        if self.accept_kw('NULLS'):
            if self.accept_word('FIRST'):
                nulls = 'FIRST'
            elif self.accept_word('LAST'):
                nulls = 'LAST'
            else:
                self.error()
        if self.is_kw('COLLATE'):
            raise unsupported('COLLATE', self.tok.pos)
        return N.OrderItem(e, desc, nulls, pos=e.pos)

    def select_item(self):
        t = self.tok
        if self.accept_op('*'):
            except_, replace = self.star_modifiers()
            return N.SelectItem(None, None, [], except_, replace, pos=t.pos)
        # qualifier.*
        j = self.i
        parts = []
        while self.toks[j].kind == 'ident' and self.toks[j + 1].kind == 'op' \
                and self.toks[j + 1].value == '.':
            parts.append(self.toks[j].value)
            j += 2
            if self.toks[j].kind == 'op' and self.toks[j].value == '*':
                self.i = j + 1
                except_, replace = self.star_modifiers()
                return N.SelectItem(None, None, parts, except_, replace, pos=t.pos)
        e = self.expr()
        alias = None
        if self.accept_kw('AS'):
            alias = self.identifier('alias')
        elif self.tok.kind == 'ident':
            alias = self.advance().value
        return N.SelectItem(e, alias, None, [], [], pos=t.pos)

    def star_modifiers(self):
        except_ = []
        replace = []
        if self.accept_kw('EXCEPT'):
            self.expect_op('(')
            except_.append((self.identifier('column name'), self.toks[self.i - 1].pos))
            while self.accept_op(','):
                except_.append((self.identifier('column name'), self.toks[self.i - 1].pos))
            self.expect_op(')')
        if self.accept_word('REPLACE'):
            raise unsupported('SELECT * REPLACE', self.toks[self.i - 1].pos)
        return except_, replace

    def join(self, left):
        """[INNER] JOIN or LEFT [OUTER] JOIN with an ON condition: the subset supported."""
        t = self.tok
        kind = 'INNER'
        if self.accept_kw('LEFT'):
            kind = 'LEFT'
            self.accept_kw('OUTER')
        else:
            self.accept_kw('INNER')
        self.expect_kw('JOIN')
        right = self.from_item()
        if self.is_kw('USING'):
            raise unsupported('JOIN USING', self.tok.pos)
        self.expect_kw('ON')
        return N.JoinRef(kind, left, right, self.expr(), pos=t.pos)

    def from_item(self):
        t = self.tok
        if self.is_op('('):
            self.advance()
            if self.is_kw('SELECT', 'WITH') or self.is_op('('):
                q = self.query()
                self.expect_op(')')
                alias = self.opt_alias()
                return N.SubqueryRef(q, alias, pos=t.pos)
            raise unsupported('Parenthesized join', t.pos)
        if self.is_kw('UNNEST'):
            raise unsupported('UNNEST in FROM', t.pos)
        path = self.table_path()
        if self.is_kw('FOR'):
            raise unsupported('FOR SYSTEM_TIME AS OF', self.tok.pos)
        sample = None
        if self.accept_kw('TABLESAMPLE'):
            # TABLESAMPLE SYSTEM (<number> PERCENT): the only method BigQuery has
            if not self.accept_word('SYSTEM'):
                self.error('Syntax error: Expected keyword SYSTEM but got %s'
                           % self.describe(self.tok))
            self.expect_op('(')
            n = self.tok
            if n.kind not in ('int', 'float'):
                self.error('Syntax error: Expected number but got %s' % self.describe(n))
            self.advance()
            sample = float(n.value)
            if not self.accept_word('PERCENT'):
                raise unsupported('TABLESAMPLE SYSTEM (n ROWS)', self.tok.pos)
            self.expect_op(')')
            if not 0 <= sample <= 100:
                self.error('TABLESAMPLE percentage must be between 0 and 100', n)
        alias = self.opt_alias()
        return N.TableRef(path, alias, sample, pos=t.pos)

    def opt_alias(self):
        if self.accept_kw('AS'):
            return self.identifier('alias')
        if self.tok.kind == 'ident' and not self.is_word('OFFSET'):
            return self.advance().value
        return None

    def table_path(self):
        """A table name: `p.d.t`, `p`.`d`.`t`, d.t, t — quoted parts may hold dots."""
        parts = []
        while True:
            t = self.tok
            if t.kind != 'ident':
                self.error('Syntax error: Expected table name but got %s' % self.describe(t))
            self.advance()
            if t.raw_ident:
                parts.extend(t.value.split('.'))
            else:
                parts.append(t.value)
            # a dashed project name must be quoted (the notes, §2.9)
            if self.is_op('-') and self.tok.start == t.end:
                self.error('Syntax error: Table name contains \'-\' character. It needs to be '
                           'quoted: `%s`' % t.value)
            if not self.accept_op('.'):
                break
        if any(p == '' for p in parts):
            self.error('Syntax error: Invalid table name', t)
        return parts

    # ------------------------------------------------------------ expressions
    def expr(self):
        return self.or_expr()

    def or_expr(self):
        left = self.and_expr()
        while self.is_kw('OR'):
            t = self.advance()
            right = self.and_expr()
            left = N.Binary('OR', left, right, pos=t.pos)
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.is_kw('AND'):
            t = self.advance()
            right = self.not_expr()
            left = N.Binary('AND', left, right, pos=t.pos)
        return left

    def not_expr(self):
        if self.is_kw('NOT'):
            t = self.advance()
            return N.Unary('NOT', self.not_expr(), pos=t.pos)
        return self.comparison()

    def comparison(self):
        left = self.bitor()
        t = self.tok
        if t.kind == 'op' and t.value in _COMPARISON_OPS:
            self.advance()
            op = '!=' if t.value == '<>' else t.value
            right = self.bitor()
            node = N.Binary(op, left, right, pos=t.pos)
        else:
            negated = False
            if self.is_kw('NOT') and self.is_kw('LIKE', 'BETWEEN', 'IN', tok=self.peek()):
                self.advance()
                negated = True
            if self.accept_kw('LIKE'):
                if self.is_kw('ANY', 'SOME', 'ALL'):
                    raise unsupported('LIKE %s' % self.tok.value, self.tok.pos)
                node = N.Like(left, self.bitor(), negated, pos=t.pos)
            elif self.accept_kw('BETWEEN'):
                low = self.bitor()
                self.expect_kw('AND')
                high = self.bitor()
                node = N.Between(left, low, high, negated, pos=t.pos)
            elif self.accept_kw('IN'):
                node = self.in_tail(left, negated, t)
            elif self.accept_kw('IS'):
                neg = bool(self.accept_kw('NOT'))
                if self.accept_kw('NULL'):
                    what = 'NULL'
                elif self.accept_kw('TRUE'):
                    what = 'TRUE'
                elif self.accept_kw('FALSE'):
                    what = 'FALSE'
                elif self.is_kw('DISTINCT'):
                    raise unsupported('IS DISTINCT FROM', self.tok.pos)
                else:
                    self.error()
                node = N.IsTest(left, what, neg, pos=t.pos)
            else:
                return left
        nt = self.tok
        if (nt.kind == 'op' and nt.value in _COMPARISON_OPS) or self.is_kw('LIKE', 'BETWEEN',
                                                                           'IN', 'IS'):
            self.error()
        return node

    def in_tail(self, left, negated, t):
        if self.accept_kw('UNNEST'):
            self.expect_op('(')
            arr = self.expr()
            self.expect_op(')')
            return N.InUnnest(left, arr, negated, pos=t.pos)
        self.expect_op('(')
        if self.is_kw('SELECT', 'WITH'):
            raise unsupported('IN subquery', self.tok.pos)
        items = [self.expr()]
        while self.accept_op(','):
            items.append(self.expr())
        self.expect_op(')')
        return N.InList(left, items, negated, pos=t.pos)

    def _binary_level(self, ops, nxt):
        left = nxt()
        while self.is_op(*ops):
            t = self.advance()
            right = nxt()
            left = N.Binary(t.value, left, right, pos=t.pos)
        return left

    def bitor(self):
        return self._binary_level(('|',), self.bitxor)

    def bitxor(self):
        return self._binary_level(('^',), self.bitand)

    def bitand(self):
        return self._binary_level(('&',), self.shift)

    def shift(self):
        return self._binary_level(('<<', '>>'), self.additive)

    def additive(self):
        return self._binary_level(('+', '-'), self.multiplicative)

    def multiplicative(self):
        return self._binary_level(('*', '/', '||'), self.unary)

    def unary(self):
        t = self.tok
        if self.is_op('-'):
            self.advance()
            nt = self.tok
            if nt.kind == 'int':
                # fold so that -9223372036854775808 is a valid literal
                self.advance()
                v = -nt.value
                if v < T.INT64_MIN:
                    self.error('Invalid integer literal: -%s' % self.text[nt.start:nt.end], nt)
                return self.postfix(N.Literal('INT64', v, pos=t.pos))
            return N.Unary('-', self.unary(), pos=t.pos)
        if self.is_op('+'):
            self.advance()
            return N.Unary('+', self.unary(), pos=t.pos)
        if self.is_op('~'):
            self.advance()
            return N.Unary('~', self.unary(), pos=t.pos)
        return self.postfix(self.primary())

    def postfix(self, e):
        while True:
            if self.is_op('['):
                raise unsupported('Array subscript', self.tok.pos)
            if self.is_op('.') and isinstance(e, N.Path):
                self.advance()
                e.parts.append(self.identifier('field name'))
                continue
            return e

    def primary(self):
        t = self.tok
        k = t.kind
        if k == 'int':
            self.advance()
            if t.value > T.INT64_MAX:
                self.error('Invalid integer literal: %s' % self.text[t.start:t.end], t)
            return N.Literal('INT64', t.value, pos=t.pos)
        if k == 'float':
            self.advance()
            return N.Literal('FLOAT64', float(t.value), pos=t.pos)
        if k in ('string', 'bytes'):
            return self.string_sequence()
        if k == 'param':
            self.advance()
            return N.Param(t.value, None, pos=t.pos)
        if k == 'pparam':
            self.advance()
            self.positional += 1
            return N.Param(None, self.positional - 1, pos=t.pos)
        if k == 'op':
            if t.value == '(':
                self.advance()
                if self.is_kw('SELECT', 'WITH'):
                    raise unsupported('Scalar subquery', self.tok.pos)
                e = self.expr()
                if self.is_op(','):
                    raise unsupported('STRUCT constructor', self.tok.pos)
                self.expect_op(')')
                return e
            if t.value == '[':
                return self.array_literal(None, t)
            self.error()
        if k == 'kw':
            v = t.value
            if v == 'NULL':
                self.advance()
                return N.Literal('NULL', None, pos=t.pos)
            if v in ('TRUE', 'FALSE'):
                self.advance()
                return N.Literal('BOOL', 1 if v == 'TRUE' else 0, pos=t.pos)
            if v == 'CASE':
                return self.case()
            if v == 'CAST':
                return self.cast(False)
            if v == 'EXTRACT':
                return self.extract()
            if v == 'INTERVAL':
                self.advance()
                e = self.additive()
                unit = self.identifier('date part').upper()
                if self.is_kw('TO'):
                    raise unsupported('INTERVAL ... TO ...', self.tok.pos)
                return N.Interval(e, unit, pos=t.pos)
            if v == 'ARRAY':
                self.advance()
                elem = None
                if self.accept_op('<'):
                    elem = self.type_name()
                    self.expect_op('>')
                if self.is_op('('):
                    raise unsupported('ARRAY subquery', self.tok.pos)
                return self.array_literal(elem, t)
            if v == 'EXISTS':
                raise unsupported('EXISTS subquery', t.pos)
            if v == 'STRUCT':
                raise unsupported('STRUCT', t.pos)
            if v == 'IF' and self.is_op('(', tok=self.peek()):
                self.advance()
                return self.call_rest('IF', t)
            if v in ('LEFT', 'RIGHT') and self.is_op('(', tok=self.peek()):
                self.advance()
                return self.call_rest(v, t)
            if v == 'CURRENT':
                self.error()
            self.error('Syntax error: Unexpected keyword %s' % v)
        if k == 'ident':
            up = t.value.upper()
            if not t.raw_ident:
                nt = self.peek()
                if up in _TYPED_LITERALS and nt.kind == 'string':
                    return self.typed_literal(up, t)
                if up == 'SAFE_CAST' and self.is_op('(', tok=nt):
                    return self.cast(True)
                if up == 'SAFE' and self.is_op('.', tok=nt):
                    raise unsupported('SAFE. function prefix', t.pos)
            if self.is_op('(', tok=self.peek()):
                self.advance()
                return self.call_rest(t.value.upper(), t)
            self.advance()
            return N.Path([t.value], pos=t.pos)
        if k == 'eof':
            self.error('Syntax error: Unexpected end of script')
        self.error()

    def string_sequence(self):
        """Adjacent string (or bytes) literals concatenate."""
        t = self.advance()
        kind = t.kind
        value = t.value
        while self.tok.kind in ('string', 'bytes'):
            if self.tok.kind != kind:
                self.error('Syntax error: string and bytes literals cannot be concatenated')
            value = value + self.advance().value
        return N.Literal('STRING' if kind == 'string' else 'BYTES', value, pos=t.pos)

    def typed_literal(self, up, t):
        self.advance()
        s = self.string_sequence().value
        target = T.SQL_TYPE_NAMES[up]
        try:
            if target == 'TIMESTAMP':
                v = T.parse_timestamp_text(s)
            elif target == 'DATE':
                v = T.parse_date_text(s)
            elif target == 'DATETIME':
                v = T.parse_datetime_text(s)
            elif target == 'TIME':
                v = T.parse_time_text(s)
            elif target == 'NUMERIC':
                v = T.to_numeric(T.parse_decimal(s))
            elif target == 'BIGNUMERIC':
                v = T.to_numeric(T.parse_decimal(s), big=True)
            else:
                v = T.COERCE['JSON'](s)
        except T.ValueError_:
            raise SqlError('Invalid %s literal: %s' % (target, _quote(s)), t.pos) from None
        return N.Literal(target, v, pos=t.pos)

    def array_literal(self, elem, t):
        self.expect_op('[')
        items = []
        if not self.is_op(']'):
            items.append(self.expr())
            while self.accept_op(','):
                items.append(self.expr())
        self.expect_op(']')
        return N.ArrayLit(items, elem, pos=t.pos)

    def case(self):
        t = self.expect_kw('CASE')
        operand = None
        if not self.is_kw('WHEN'):
            operand = self.expr()
        whens = []
        while self.accept_kw('WHEN'):
            cond = self.expr()
            self.expect_kw('THEN')
            whens.append((cond, self.expr()))
        if not whens:
            self.error()
        else_ = None
        if self.accept_kw('ELSE'):
            else_ = self.expr()
        self.expect_kw('END')
        return N.Case(operand, whens, else_, pos=t.pos)

    def cast(self, safe):
        t = self.advance()
        self.expect_op('(')
        e = self.expr()
        self.expect_kw('AS')
        typ = self.type_name()
        fmt = None
        if self.accept_word('FORMAT'):
            raise unsupported('CAST ... FORMAT', self.toks[self.i - 1].pos)
        self.expect_op(')')
        return N.Cast(e, typ, safe, fmt, pos=t.pos)

    def type_name(self):
        """A GoogleSQL type: INT64, STRING, ARRAY<T>, … -> internal type string."""
        t = self.tok
        if self.accept_kw('ARRAY'):
            self.expect_op('<')
            inner = self.type_name()
            if T.is_array(inner):
                self.error('Arrays of arrays are not supported', t)
            if self.is_op('>>'):
                # "ARRAY<ARRAY<INT64>>" lexes '>>'; nested arrays are invalid anyway
                self.error('Arrays of arrays are not supported', t)
            self.expect_op('>')
            return T.array_of(inner)
        if self.is_kw('STRUCT'):
            raise unsupported('STRUCT type', t.pos)
        name = self.identifier('type name').upper()
        if name in ('GEOGRAPHY', 'INTERVAL', 'RANGE'):
            raise unsupported('Type %s' % name, t.pos)
        typ = T.SQL_TYPE_NAMES.get(name)
        if typ is None:
            self.error('Type not found: %s' % t.value, t)
        if self.is_op('('):
            raise unsupported('Parameterized type %s(...)' % name, self.tok.pos)
        return typ

    def extract(self):
        t = self.advance()
        self.expect_op('(')
        part_tok = self.tok
        part = self.identifier('date part').upper()
        if self.accept_op('('):
            arg = self.identifier('weekday').upper()
            self.expect_op(')')
            part = '%s(%s)' % (part, arg)
        self.expect_kw('FROM')
        e = self.expr()
        tz = None
        if self.accept_kw('AT'):
            self.expect_word('TIME')
            self.expect_word('ZONE')
            tz = self.expr()
        self.expect_op(')')
        return N.Extract(N.DatePart(part, None, pos=part_tok.pos), e, tz, pos=t.pos)

    def call_rest(self, name, t):
        """After the function name: '(' args ')' [OVER …]."""
        self.expect_op('(')
        distinct = False
        star = False
        args = []
        if self.accept_op('*'):
            star = True
        elif not self.is_op(')'):
            if self.accept_kw('DISTINCT'):
                distinct = True
            args.append(self.expr())
            while self.accept_op(','):
                args.append(self.expr())
            if self.is_kw('IGNORE', 'RESPECT', 'ORDER', 'LIMIT', 'HAVING'):
                raise unsupported('%s inside an aggregate function call' % self.tok.value,
                                  self.tok.pos)
            if self.is_op('=>'):
                raise unsupported('Named function arguments', self.tok.pos)
        self.expect_op(')')
        if self.is_kw('OVER'):
            raise unsupported('Analytic (window) function %s' % name, self.tok.pos)
        return N.Call(name, args, distinct, star, None, pos=t.pos)

    # ------------------------------------------------------------ DDL
    def path_name(self):
        return self.table_path()

    def partition_and_cluster(self):
        """The optional PARTITION BY expr and CLUSTER BY columns of a CREATE."""
        partition = None
        cluster = []
        if self.accept_kw('PARTITION'):
            self.expect_kw('BY')
            partition = self.expr()
        if self.accept_word('CLUSTER'):
            self.expect_kw('BY')
            cluster.append(self.identifier('column name'))
            while self.accept_op(','):
                cluster.append(self.identifier('column name'))
        return partition, cluster

    def options(self):
        opts = {}
        if self.accept_word('OPTIONS'):
            self.expect_op('(')
            if not self.is_op(')'):
                while True:
                    name = self.identifier('option name').lower()
                    self.expect_op('=')
                    opts[name] = self.expr()
                    if not self.accept_op(','):
                        break
            self.expect_op(')')
        return opts

    def create(self):
        t = self.expect_kw('CREATE')
        or_replace = False
        if self.accept_kw('OR'):
            self.expect_word('REPLACE')
            or_replace = True
        if self.is_word('TEMP', 'TEMPORARY'):
            raise unsupported('Temporary tables', self.tok.pos)
        if self.is_word('EXTERNAL', 'SNAPSHOT', 'FUNCTION', 'PROCEDURE', 'ROW', 'SEARCH',
                        'VECTOR', 'TABLE') and self.is_word('FUNCTION', tok=self.peek()):
            raise unsupported('CREATE TABLE FUNCTION', self.tok.pos)
        if self.accept_word('SCHEMA'):
            if or_replace:
                raise unsupported('CREATE OR REPLACE SCHEMA', t.pos)
            ine = self.if_not_exists()
            name = self.path_name()
            if self.is_kw('DEFAULT'):
                raise unsupported('DEFAULT COLLATE', self.tok.pos)
            opts = self.options()
            return N.CreateSchema(name, ine, opts, pos=t.pos)
        if self.accept_word('TABLE'):
            ine = self.if_not_exists()
            name = self.path_name()
            columns = []
            if self.accept_op('('):
                columns.append(self.column_def())
                while self.accept_op(','):
                    if self.is_kw('PRIMARY') or self.is_word('PRIMARY', 'FOREIGN', 'CONSTRAINT'):
                        raise unsupported('Table constraints', self.tok.pos)
                    columns.append(self.column_def())
                self.expect_op(')')
            if self.is_kw('DEFAULT'):
                raise unsupported('DEFAULT COLLATE', self.tok.pos)
            partition, cluster = self.partition_and_cluster()
            opts = self.options()
            as_query = None
            if self.accept_kw('AS'):
                as_query = self.query()
            if not columns and as_query is None:
                self.error('Syntax error: Expected "(" or keyword AS but got %s'
                           % self.describe(self.tok))
            return N.CreateTable(name, columns, partition, cluster, opts, ine, or_replace,
                                 as_query, pos=t.pos)
        materialized = bool(self.accept_word('MATERIALIZED'))
        if self.accept_word('VIEW'):
            ine = self.if_not_exists()
            name = self.path_name()
            if self.is_op('('):
                raise unsupported('A view column list', self.tok.pos)
            partition, cluster = self.partition_and_cluster()
            opts = self.options()
            self.expect_kw('AS')
            qstart = self.tok.start
            query = self.query()
            qend = self.toks[self.i - 1].end
            return N.CreateView(name, query, self.text[qstart:qend].strip(), materialized, ine,
                                or_replace, opts, partition, cluster, pos=t.pos)
        if self.tok.kind == 'ident':
            raise unsupported('CREATE %s' % self.tok.value.upper(), self.tok.pos)
        self.error()

    def if_not_exists(self):
        if self.accept_kw('IF'):
            self.expect_kw('NOT')
            self.expect_kw('EXISTS')
            return True
        return False

    def column_def(self):
        t = self.tok
        name = self.identifier('column name')
        typ = self.type_name()
        not_null = False
        if self.accept_kw('NOT'):
            self.expect_kw('NULL')
            not_null = True
        if self.is_kw('DEFAULT'):
            raise unsupported('Column DEFAULT values', self.tok.pos)
        if self.is_kw('COLLATE'):
            raise unsupported('COLLATE', self.tok.pos)
        opts = self.options()
        return N.ColumnDef(name, typ, not_null, opts, pos=t.pos)

    def drop(self):
        t = self.expect_word('DROP')
        if self.accept_word('MATERIALIZED'):
            self.expect_word('VIEW')
            kind = 'MATERIALIZED VIEW'
        elif self.accept_word('TABLE'):
            kind = 'TABLE'
        elif self.accept_word('VIEW'):
            kind = 'VIEW'
        elif self.accept_word('SCHEMA'):
            kind = 'SCHEMA'
        else:
            raise unsupported('DROP %s' % (self.tok.value or ''), self.tok.pos)
        if_exists = False
        if self.accept_kw('IF'):
            self.expect_kw('EXISTS')
            if_exists = True
        name = self.path_name()
        cascade = False
        if self.accept_word('CASCADE'):
            cascade = True
        else:
            self.accept_word('RESTRICT')
        return N.Drop(kind, name, if_exists, cascade, pos=t.pos)


def _quote(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')
