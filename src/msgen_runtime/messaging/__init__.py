"""Events between services: Avro on the wire, a transactional outbox, idempotent consumers, sagas."""

__all__: list[
    str
] = []  # the modules of the package are the API: broker, codec, consumer, outbox, participant, runtime, saga
