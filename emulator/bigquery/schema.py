"""Table definitions shared by tables.insert (REST) and CREATE TABLE (DDL).

Owns the checks BigQuery applies to a table schema, time partitioning and
clustering, and turns them into the ``meta`` dict storage.Table is built from.
Errors are ``SchemaError``; the REST layer answers them as 400 ``invalid`` and
the job layer as a failed query.
"""

import re

from . import types as T

_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,299}$')
_TABLE_ID_RE = re.compile(r'^[\w\-$ ]{1,1024}$', re.UNICODE)
_DATASET_ID_RE = re.compile(r'^[A-Za-z0-9_]{1,1024}$')


class SchemaError(Exception):
    def __init__(self, message, reason='invalid'):
        super().__init__(message)
        self.message = message
        self.reason = reason


def check_dataset_id(dataset_id):
    if not isinstance(dataset_id, str) or not _DATASET_ID_RE.match(dataset_id):
        raise SchemaError('Invalid dataset ID "%s". Dataset IDs must be alphanumeric (plus '
                          'underscores) and must be at most 1024 characters long.' % dataset_id)


def check_table_id(table_id):
    if not isinstance(table_id, str) or not _TABLE_ID_RE.match(table_id):
        raise SchemaError('Invalid table ID "%s". Table IDs must be alphanumeric (plus '
                          'underscores) and must be at most 1024 characters long. Also, Table '
                          'decorators cannot be used.' % table_id)


def fields_from_resource(fields):
    """REST schema.fields -> [{'name','type','mode','description'}] with internal types
    (RECORD -> STRUCT<…> of its nested fields, RANGE -> RANGE<element type>)."""
    if not isinstance(fields, list):
        raise SchemaError('Invalid schema: fields must be a list')
    out = []
    for f in fields:
        if not isinstance(f, dict):
            raise SchemaError('Invalid schema field')
        name = f.get('name')
        mode = str(f.get('mode') or 'NULLABLE').upper()
        base = _field_type(f, name)
        if mode not in ('NULLABLE', 'REQUIRED', 'REPEATED'):
            raise SchemaError('Invalid value for mode: %s is not a valid value' % f.get('mode'))
        if mode == 'REPEATED' and T.is_range(base):
            raise SchemaError('Field %s: RANGE cannot be REPEATED' % name)
        out.append(field(name, base, mode, f.get('description')))
    check_fields(out)
    return out


def _field_type(f, name):
    typ = str(f.get('type', '')).upper()
    if typ in ('RECORD', 'STRUCT'):
        sub = f.get('fields')
        if not sub:
            raise SchemaError('Field %s is type RECORD but has no schema' % name)
        inner = fields_from_resource(sub)
        return T.struct_of([(x['name'], x['type'] + (' NOT NULL' if x['mode'] == 'REQUIRED'
                                                      else '')) for x in inner])
    if f.get('fields'):
        raise SchemaError('Field %s is type %s but has subfields; only RECORD fields can '
                          'have subfields' % (name, typ))
    if typ == 'RANGE':
        ret = f.get('rangeElementType')
        et = str((ret or {}).get('type', '') if isinstance(ret, dict) else '').upper()
        if not ret:
            raise SchemaError('Field %s is type RANGE but has no rangeElementType' % name)
        if et not in T.RANGE_ELEMENT_TYPES:
            raise SchemaError('Field %s: RANGE element type must be DATE, DATETIME or '
                              'TIMESTAMP, not %s' % (name, et))
        return 'RANGE<%s>' % et
    if f.get('rangeElementType'):
        raise SchemaError('Field %s is type %s but has a rangeElementType; only RANGE fields '
                          'can have one' % (name, typ))
    base = T.SCHEMA_ALIASES.get(typ)
    if base is None:
        raise SchemaError('Invalid value for type: %s is not a valid value' % f.get('type'))
    return base


def field(name, base_type, mode, description=None):
    t = T.array_of(base_type) if mode == 'REPEATED' else base_type
    d = {'name': name, 'type': t, 'mode': mode}
    if description:
        d['description'] = description
    return d


def check_fields(fields):
    seen = set()
    for f in fields:
        name = f['name']
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise SchemaError('Invalid field name "%s". Fields must contain only letters, '
                              'numbers, and underscores, start with a letter or underscore, and '
                              'be at most 300 characters long.' % name)
        low = name.lower()
        if low.startswith(('_table_', '_file_', '_row_timestamp', '_partition',
                           '__root__', '_colidentifier')):
            raise SchemaError('Invalid field name "%s". Field names may not start with a '
                              'reserved prefix' % name)
        if low in seen:
            raise SchemaError('Field %s already exists in schema' % name)
        seen.add(low)


def partitioning(fields, tp):
    """timePartitioning resource -> (field, type, expiration_ms) after BigQuery's checks."""
    if not tp:
        return None, None, None
    if not isinstance(tp, dict):
        raise SchemaError('Invalid timePartitioning')
    ptype = str(tp.get('type') or '').upper()
    if ptype not in ('DAY', 'HOUR', 'MONTH', 'YEAR'):
        raise SchemaError('Invalid value for timePartitioning.type: %s' % tp.get('type'))
    if ptype != 'DAY':
        raise SchemaError('The emulator supports only DAY time partitioning, not %s' % ptype)
    pfield = tp.get('field')
    if not pfield:
        raise SchemaError('Ingestion-time partitioning (timePartitioning without a field) is '
                          'not supported by the emulator; partition on a TIMESTAMP or DATE column')
    match = [f for f in fields if f['name'].lower() == str(pfield).lower()]
    if not match:
        raise SchemaError('The field specified for time partitioning can only be of type '
                          'TIMESTAMP, DATE or DATETIME. The type found is: (field %s not found)'
                          % pfield)
    f = match[0]
    if f['type'] not in ('TIMESTAMP', 'DATE'):
        raise SchemaError('The field specified for time partitioning can only be of type '
                          'TIMESTAMP, DATE or DATETIME. The type found is: %s.'
                          % (T.LEGACY.get(f['type'], 'REPEATED ' + f['type'])
                             if f['mode'] != 'REPEATED' else 'REPEATED'))
    exp = tp.get('expirationMs')
    if exp is not None:
        try:
            exp = int(exp)
        except (TypeError, ValueError):
            raise SchemaError('Invalid timePartitioning.expirationMs') from None
    return f['name'], 'DAY', exp


def clustering(fields, cl):
    if not cl:
        return None
    names = cl.get('fields') if isinstance(cl, dict) else cl
    if not isinstance(names, list) or not names:
        raise SchemaError('Clustering fields must be a non-empty list')
    if len(names) > 4:
        raise SchemaError('Too many clustering fields: %d, only 4 are allowed.' % len(names))
    out = []
    for n in names:
        match = [f for f in fields if f['name'].lower() == str(n).lower()]
        if not match:
            raise SchemaError('The field specified for clustering cannot be found in the schema.'
                              ' Invalid field: %s.' % n)
        f = match[0]
        if f['mode'] == 'REPEATED' or f['type'] in ('JSON', 'FLOAT64'):
            raise SchemaError('Field %s is of type %s which is not supported for clustering'
                              % (n, 'ARRAY' if f['mode'] == 'REPEATED' else f['type']))
        out.append(f['name'])
    return out
