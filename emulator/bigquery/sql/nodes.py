"""AST node classes for the GoogleSQL subset (built by parser.py, read by translate.py).

Every node has ``pos`` = (line, col) of its first token so analysis errors can say
"at [line:col]" the way BigQuery does.
"""


class Node:
    __slots__ = ('pos',)
    fields = ()

    def __repr__(self):
        return '%s(%s)' % (type(self).__name__, ', '.join(
            '%s=%r' % (f, getattr(self, f)) for f in self.fields))


def _node(name, fields):
    """Define a Node subclass with the given fields (constructor takes them in order + pos)."""
    def __init__(self, *args, pos=None):
        if len(args) != len(fields):
            raise TypeError('%s takes %d fields' % (name, len(fields)))
        for f, a in zip(fields, args):
            setattr(self, f, a)
        self.pos = pos
    return type(name, (Node,), {'__slots__': fields, 'fields': fields, '__init__': __init__})


# ---- expressions
Literal = _node('Literal', ('type', 'value'))          # internal value; type 'NULL' for NULL
Param = _node('Param', ('name', 'index'))              # named (name) or positional (index)
Path = _node('Path', ('parts',))                       # column reference a or t.a
Call = _node('Call', ('name', 'args', 'distinct', 'star', 'extra'))  # extra: IGNORE NULLS etc
Cast = _node('Cast', ('expr', 'type', 'safe', 'fmt'))
Extract = _node('Extract', ('part', 'expr', 'tz'))
Case = _node('Case', ('operand', 'whens', 'else_'))    # whens: [(cond, result)]
Binary = _node('Binary', ('op', 'left', 'right'))      # + - * / || = != < <= > >= AND OR
Unary = _node('Unary', ('op', 'expr'))                 # - + NOT ~
Between = _node('Between', ('expr', 'low', 'high', 'negated'))
InList = _node('InList', ('expr', 'items', 'negated'))
InUnnest = _node('InUnnest', ('expr', 'array', 'negated'))
IsTest = _node('IsTest', ('expr', 'what', 'negated'))  # what: NULL, TRUE, FALSE
Like = _node('Like', ('expr', 'pattern', 'negated'))
Interval = _node('Interval', ('expr', 'unit'))
ArrayLit = _node('ArrayLit', ('items', 'elem_type'))
DatePart = _node('DatePart', ('name', 'arg'))          # DAY, WEEK(MONDAY) as a function argument
Subquery = _node('Subquery', ('query', 'kind'))        # kind: scalar, exists, in

# ---- queries
Select = _node('Select', ('distinct', 'items', 'from_', 'where', 'group_by', 'having',
                          'order_by', 'limit', 'offset', 'text_span'))
SelectItem = _node('SelectItem', ('expr', 'alias', 'star', 'except_', 'replace'))
# star: None, or qualifier list ([] for a bare *)
TableRef = _node('TableRef', ('path', 'alias', 'sample'))   # sample: TABLESAMPLE percent
SubqueryRef = _node('SubqueryRef', ('query', 'alias'))
JoinRef = _node('JoinRef', ('kind', 'left', 'right', 'on'))  # kind: INNER or LEFT; ON only
OrderItem = _node('OrderItem', ('expr', 'desc', 'nulls'))  # nulls: None, 'FIRST', 'LAST'
SetOp = _node('SetOp', ('op', 'left', 'right'))

# ---- statements
CreateSchema = _node('CreateSchema', ('name', 'if_not_exists', 'options'))
ColumnDef = _node('ColumnDef', ('name', 'type', 'not_null', 'options'))
CreateTable = _node('CreateTable', ('name', 'columns', 'partition', 'cluster', 'options',
                                    'if_not_exists', 'or_replace', 'as_query'))
CreateView = _node('CreateView', ('name', 'query', 'query_text', 'materialized',
                                  'if_not_exists', 'or_replace', 'options', 'partition',
                                  'cluster'))
Drop = _node('Drop', ('kind', 'name', 'if_exists', 'cascade'))

# ---- DML (UPDATE / DELETE); the target is a TableRef, sets [(column name, expr, pos)]
Update = _node('Update', ('target', 'sets', 'where'))
Delete = _node('Delete', ('target', 'where'))
