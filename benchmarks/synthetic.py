"""A synthetic msgen spec of any size, for the generation benchmark.

Every service looks the same, modelled on examples/shop.yaml, so that the work
per service is constant and generation time should grow linearly with the
number of services:

* two entities (``Item<i>`` and ``Bundle<i>``) of six or seven fields of varied
  types: string with max_length, int with min, decimal, enum with values and
  a default, a ref to the previous service's entity, a value object and a
  list of value objects;
* two value objects (``Size<i>``, ``Line<i>``);
* a crud api (all five operations on the item, list and get on the bundle)
  and one custom operation;
* one synchronous call to the previous service (a chain, so no cycles);
* one event published per service, consumed by the next service (the last
  service's event is consumed by the first, so every service both publishes
  and consumes once).

Usage::

    python benchmarks/synthetic.py 10 > spec.yaml
"""

from __future__ import annotations

import sys


def service_name(i: int) -> str:
    return f"svc{i:03d}"


def _service(i: int) -> str:
    name = service_name(i)
    prev = service_name(i - 1) if i > 1 else None
    # Service 1 has no previous service: its refs point into itself.
    ref_item = f"{prev}.Item{i - 1}" if prev else f"{name}.Bundle{i}"
    call = (
        f"""
    calls:
      - service: {prev}
        operation: getItem{i - 1}
        timeout: 300ms"""
        if prev
        else ""
    )
    return f"""
  {name}:
    description: Synthetic service number {i}.
    entities:
      Item{i}:
        fields:
          name: {{ type: string, max_length: 120 }}
          quantity: {{ type: int, min: 0 }}
          price: {{ type: decimal, min: 0, precision: 12, scale: 2 }}
          status: {{ type: enum, values: [ACTIVE, PAUSED, ARCHIVED], default: ACTIVE }}
          upstream_id: {{ type: ref, to: {ref_item}, required: false }}
          size: {{ type: Size{i}, required: false }}
          lines: {{ type: "list[Line{i}]", min_items: 1 }}
      Bundle{i}:
        fields:
          code: {{ type: string, unique: true, max_length: 32 }}
          item_id: {{ type: ref, to: {name}.Item{i} }}
          count: {{ type: int, min: 1, max: 1000 }}
          weight: {{ type: decimal, min: 0, precision: 10, scale: 3 }}
          kind: {{ type: enum, values: [SMALL, LARGE], default: SMALL }}
          released_on: {{ type: date, required: false }}
    value_objects:
      Size{i}:
        fields:
          width: {{ type: int, min: 0 }}
          height: {{ type: int, min: 0 }}
          unit: {{ type: string, max_length: 8 }}
      Line{i}:
        fields:
          sku: {{ type: string, max_length: 32 }}
          quantity: {{ type: int, min: 1 }}
          unit_price: {{ type: decimal, min: 0, precision: 12, scale: 2 }}
    api:
      crud:
        Item{i}:
          scopes: {{ read: [{name}:read], write: [{name}:write] }}
        Bundle{i}:
          operations: [list, get]
          scopes: {{ read: [{name}:read] }}
      operations:
        measureItem{i}:
          method: GET
          path: /item{i}s/{{id}}/size
          response: Size{i}
          scopes: [{name}:read]{call}
"""


def _event(i: int, n: int) -> str:
    name = service_name(i)
    if i < n:
        consumers = f"[{service_name(i + 1)}]"
    elif n > 1:
        consumers = f"[{service_name(1)}]"
    else:
        consumers = "[]"
    return f"""
  {name}.item_created:
    version: 1
    publisher: {name}
    consumers: {consumers}
    key: item_id
    fields:
      item_id: uuid
      quantity: int
      price: {{ type: decimal, precision: 12, scale: 2 }}
      lines: "list[Line{i}]"
"""


def synthetic_spec(n_services: int) -> str:
    """The YAML text of a valid msgen spec with `n_services` chained services."""
    if n_services < 1:
        raise ValueError("n_services must be at least 1")
    head = f"""# A synthetic spec of {n_services} services, written by benchmarks/synthetic.py.
msgen: 1

system:
  name: synthetic
  description: A synthetic system of {n_services} chained services, for benchmarks.
  broker: nats
  api_version: v1

services:"""
    services = "".join(_service(i) for i in range(1, n_services + 1))
    events = "".join(_event(i, n_services) for i in range(1, n_services + 1))
    tail = """
gateway:
  auth:
    issuer: https://auth.synthetic.example/
    audience: synthetic-api
  rate_limit: { requests: 100, per: 1s, by: token }
  timeout: 5s

observability:
  tracing: { sample_ratio: 0.01 }
"""
    return f"{head}{services}\nevents:{events}{tail}"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit() or int(argv[1]) < 1:
        print("usage: python benchmarks/synthetic.py N_SERVICES > spec.yaml", file=sys.stderr)
        return 2
    sys.stdout.write(synthetic_spec(int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
