"""The Pub/Sub v1 REST half of the emulator: `service` (routing and request
parsing), `broker` (topics, subscriptions, leases, persistence), `messages`
(publish validation and rendering) and `names` (resource-name rules)."""
