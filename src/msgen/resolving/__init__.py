"""The resolver's parts, one concern each, all reporting through one collector (`report.Reporter`).

`report` (the collector, name rules, scopes), `fields` (types, value objects, references,
constraints), `operations` (crud and custom operations, their bodies), `freetext`, `templated`
(services made from a template) and `sagas`. `msgen.resolve` puts them together with the system,
its services, calls, events and mails.
"""
