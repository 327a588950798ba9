"""The BigQuery Storage API service (`bigquerystorage`): gRPC, Write and Read APIs."""
