"""GoogleSQL subset for the BigQuery emulator: lexer -> parser (AST) -> translator to SQLite.

``lexer`` tokenizes, ``parser`` builds the AST (``ast``), ``translate`` resolves names
and types and emits SQLite SQL with bound parameters, ``functions`` registers the
SQLite user functions the emitted SQL calls.
"""
