# Makes test/ a regular package so that `python3 -m unittest discover -s
# test/emulator -t .` imports test.emulator.* from here rather than from the
# standard library's own `test` package.
