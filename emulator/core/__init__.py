"""Service-independent parts of the emulator: the threaded HTTP/1.1 server
(`server`), Google error bodies (`errors`), fault injection (`faults`),
counters (`counters`), the JSON-lines journal used for persistence
(`journal`) and proto3 JSON helpers (`wire`)."""
