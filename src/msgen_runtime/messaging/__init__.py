"""Events between services: Avro on the wire, a transactional outbox, idempotent consumers, sagas."""
