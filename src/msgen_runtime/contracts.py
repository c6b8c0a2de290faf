"""Consumer-driven contracts with Pact.

A consumer states what it expects of a provider as plain data (`Expectations`):
the HTTP requests it sends with the answers it needs, and the events it reads.
`build_pacts` turns that into a Pact (V4, through pact-python) whose bodies are
matched by type, so a provider may add fields but not drop or retype one. The
consumer's own test exercises its real client against the Pact mock server and
writes the pact to the project's `pacts/` folder.

The provider side replays every pact of its consumers against the real service
(`verify`): HTTP interactions against the app served by uvicorn, with each
provider state seeded in its database, and message interactions against the
publisher's own event types, encoded and decoded through its Avro codec, as the
outbox relay sends them. `msgen contracts verify` runs that per provider and
reports per consumer/provider pair (`python -m msgen_runtime.contracts`).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # the database and the codec are for the provider's side: msgen renders pacts without them
    # pact-python (its FFI) is imported where a pact is built or verified: msgen reads the expectations'
    # types and FORMATS from here on every run, and builds pacts only for what its cache does not hold.
    from pact import Pact
    from pact.types import Message
    from pydantic import BaseModel

    from msgen_runtime.messaging.codec import EventType

__all__ = [
    "FORMATS",
    "PACT_SPECIFICATION",
    "Clear",
    "Expectations",
    "HttpExpectation",
    "MessageExpectation",
    "PairPacts",
    "PairResult",
    "Provider",
    "Seed",
    "build_pacts",
    "event_message",
    "event_reader",
    "failures",
    "main",
    "matching",
    "pact_file",
    "pact_text",
    "pacts_for",
    "seed",
    "verify",
    "verify_gateway",
    "verify_service",
]

PACT_SPECIFICATION = "V4"
# Pact's core reports anonymous usage over the network unless told not to: generated projects stay quiet.
os.environ.setdefault("PACT_DO_NOT_TRACK", "true")


class HttpExpectation(TypedDict):
    """One request a consumer sends, and the answer it needs."""

    description: str
    state: str | None  # the provider state, e.g. "a Product exists"
    params: dict[str, Any]  # its parameters, e.g. {"id": "..."}
    method: str
    path: str
    query: dict[str, str]  # the query parameters, e.g. {"limit": "50"}
    body: Any  # the request body, or None
    status: int
    response: Any  # an example of the answer: matched by type and format, not by value
    formats: dict[str, Any]  # field name -> "uuid", "datetime", "date", "decimal", or the enum's values


class MessageExpectation(TypedDict):
    """One event a consumer reads: an example of the payload, matched by type."""

    description: str
    event: str
    version: int
    body: dict[str, Any]
    formats: dict[str, Any]  # as for HTTP answers


@dataclass(frozen=True)
class Expectations:
    consumer: str
    provider: str
    http: tuple[HttpExpectation, ...] = ()
    messages: tuple[MessageExpectation, ...] = ()


FORMATS = {
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "datetime": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "decimal": r"^-?\d+(\.\d+)?$",
}


def matching(example: Any, formats: Mapping[str, Any]) -> Any:
    """`example` with a matcher on every value: what a consumer relies on, not the example's values.

    A value is matched by its JSON type, and by its format where `formats` names one for its key
    (a uuid, a date-time, a date, a decimal string, or one of an enum's values); a list must hold
    at least one item, each like the example's first. Keys the provider adds are always allowed.
    """
    if isinstance(example, dict):
        return {key: _matching_value(key, value, formats) for key, value in example.items()}
    return _matching_value("", example, formats)


def _matching_value(key: str, value: Any, formats: Mapping[str, Any]) -> Any:
    from pact import match

    if isinstance(value, dict):
        return matching(value, formats)
    if isinstance(value, list):
        return match.each_like(_matching_value(key, value[0], formats), min=1) if value else []
    if value is None:
        return None  # null, as the example says
    rule = formats.get(key)
    if isinstance(value, str) and rule is not None:
        pattern = "^(" + "|".join(re.escape(v) for v in rule) + ")$" if isinstance(rule, list) else FORMATS[rule]
        return match.regex(value, regex=pattern)
    return match.like(value)


@dataclass
class PairPacts:
    """A consumer's pact with one provider, built from its expectations.

    Pact's mock server serves HTTP interactions only, so they and the messages are
    built apart (`http`, `messages`) and written into the pair's one pact file.
    """

    expected: Expectations
    http: Pact
    messages: Pact

    def write(self, directory: Path | str) -> None:
        """Write the pair's pact into `directory`, replacing the previous one."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        parts = [p for p, items in ((self.http, self.expected.http), (self.messages, self.expected.messages)) if items]
        for i, pact in enumerate(parts):
            pact.write_file(directory, overwrite=i == 0)  # the second part is merged into the first


def build_pacts(expected: Expectations) -> PairPacts:
    """The consumer's pact with the provider: every expectation as an interaction."""
    from pact import Pact

    http = Pact(expected.consumer, expected.provider).with_specification(PACT_SPECIFICATION)
    for item in expected.http:
        interaction = http.upon_receiving(item["description"])
        if item["state"]:
            interaction.given(item["state"], item["params"])
        interaction.with_request(item["method"], item["path"])
        if item["query"]:
            interaction.with_query_parameters(item["query"])
        if item["body"] is not None:
            interaction.with_body(item["body"], content_type="application/json", part="Request")
        interaction.will_respond_with(item["status"])
        if item["response"] is not None:
            body = matching(item["response"], item["formats"])
            interaction.with_body(body, content_type="application/json", part="Response")
    messages = Pact(expected.consumer, expected.provider).with_specification(PACT_SPECIFICATION)
    for message in expected.messages:
        (
            messages.upon_receiving(message["description"], "Async")
            .with_body(matching(message["body"], message["formats"]), content_type="application/json")
            .with_metadata({"event": message["event"], "version": str(message["version"])})
        )
    return PairPacts(expected, http, messages)


def pact_file(directory: Path, consumer: str, provider: str) -> Path:
    """Where pact-python writes the pact of a pair."""
    return directory / f"{consumer}-{provider}.json"


def pact_text(expected: Expectations) -> str:
    """The pact file's text, exactly as the consumer's test writes it."""
    with tempfile.TemporaryDirectory(prefix="msgen-pact-") as scratch:
        build_pacts(expected).write(scratch)
        return pact_file(Path(scratch), expected.consumer, expected.provider).read_text()


def event_reader(*event_types: EventType[Any]) -> Callable[[str | bytes | None, dict[str, object]], None]:
    """A consumer's handling of pact messages: each must parse into its event model and fit its Avro schema."""
    by_name = {event_type.name: event_type for event_type in event_types}

    def read(body: str | bytes | None, metadata: dict[str, object]) -> None:
        event_type = by_name[str(metadata["event"])]
        payload = event_type.model.model_validate_json(body or b"")
        event_type.decode(event_type.encode(payload))

    return read


# -- the provider side ---------------------------------------------------------------------------------


class Seed:
    """A provider state: one row of `model`, its id taken from the state's parameters (no row without values).

    Called by the Pact verifier from its own thread before each interaction;
    the table holds that row alone afterwards, so replaying a state is harmless.
    """

    def __init__(self, database_url: str, model: type[Any], values: Mapping[str, Any] | None) -> None:
        self.database_url = database_url
        self.model = model
        self.values = dict(values) if values is not None else None

    def __call__(self, parameters: dict[str, Any] | None = None) -> None:
        row = None
        if self.values is not None:
            row = self.model(**self.values)
            params = parameters or {}
            if "id" in params:
                row.id = uuid.UUID(str(params["id"]))
        import asyncio

        asyncio.run(self._replace(row))

    async def _replace(self, row: Any) -> None:
        from sqlalchemy import delete
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

        engine = create_async_engine(self.database_url)
        try:
            async with AsyncSession(engine) as session, session.begin():
                await session.execute(delete(self.model))  # the state is this row alone: unique fields are free
                if row is not None:
                    session.add(row)
        finally:
            await engine.dispose()


class Clear(Seed):
    """A provider state where no `model` row exists (before a create, so unique fields are free)."""

    def __init__(self, database_url: str, model: type[Any]) -> None:
        super().__init__(database_url, model, None)


def seed(database_url: str, model: type[Any], payload: BaseModel, json_fields: Iterable[str] = ()) -> Seed:
    """A provider state that stores `payload` (a create body of the provider) as a `model` row."""
    from msgen_runtime.crud import row_from

    return Seed(database_url, model, row_from(payload, json_fields))


def event_message(event_type: EventType[Any], example: Mapping[str, Any]) -> Callable[[], Message]:
    """The message a publisher sends for `example`, built by its own event type and Avro codec."""

    def produce() -> Message:
        from pact.types import Message

        payload = event_type.model.model_validate(dict(example))
        wire = event_type.encode(payload)  # what the outbox stores and the relay publishes
        received = event_type.decode(wire)
        return Message(
            contents=received.model_dump_json().encode(),
            metadata={"event": event_type.name, "version": str(event_type.version)},
            content_type="application/json",
        )

    return produce


@dataclass
class Provider:
    """What a provider needs to be verified: its name, its app (or the URL of one running), its states and its messages."""

    name: str
    app: Any = None  # the ASGI app, served by uvicorn for HTTP interactions
    url: str | None = None  # or the base URL of a provider already running (the gateway with its services)
    headers: Mapping[str, str] = field(default_factory=dict)  # set on every request replayed (a token)
    states: Mapping[str, Callable[..., None]] = field(default_factory=dict)
    messages: Mapping[str, Callable[[], Message]] = field(default_factory=dict)


@dataclass
class PairResult:
    consumer: str
    provider: str
    pact: str
    interactions: int
    passed: bool
    output: str = ""


def pacts_for(provider: str, directory: Path) -> list[Path]:
    """The pacts in `directory` whose provider is `provider`, by consumer."""
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if document.get("provider", {}).get("name") == provider:
            found.append(path)
    return found


def verify(provider: Provider, directory: Path) -> list[PairResult]:
    """Replay every pact of `provider`'s consumers found in `directory`; one result per pair."""
    from msgen_runtime.testing import serve_app

    paths = pacts_for(provider.name, directory)
    if not paths:
        return []
    if provider.url is not None:
        served: Any = nullcontext(provider.url.rstrip("/"))
    else:
        served = serve_app(provider.app) if provider.app is not None else nullcontext(None)
    with served as base_url:
        return [_verify_pair(provider, path, base_url) for path in paths]


def _verify_pair(provider: Provider, path: Path, base_url: str | None) -> PairResult:
    from pact import Verifier

    document = json.loads(path.read_text())
    verifier = Verifier(provider.name, host="127.0.0.1").set_coloured_output(enabled=False)
    if base_url is not None:
        verifier.add_transport(url=base_url)
    for name, value in provider.headers.items():  # replacing the pact's example value of the header
        verifier.add_custom_header(name, value)
    state_errors: list[str] = []
    if provider.states:
        verifier.state_handler({name: _guarded(name, h, state_errors) for name, h in provider.states.items()})
    if provider.messages:
        verifier.message_handler({name: _reported(name, h, state_errors) for name, h in provider.messages.items()})
    verifier.add_source(path)
    passed = True
    try:
        verifier.verify()
    except RuntimeError:
        passed = False
    output = "" if passed else str(verifier.output(strip_ansi=True))
    if state_errors:
        passed = False
        output = "\n".join(state_errors) + ("\n\n" + output if output else "")  # states' and messages' failures
    return PairResult(
        consumer=document["consumer"]["name"],
        provider=provider.name,
        pact=path.name,
        interactions=len(document.get("interactions", [])),
        passed=passed,
        output=output,
    )


def _reported(name: str, produce: Callable[[], Message], errors: list[str]) -> Callable[[], Message]:
    """A message builder whose failure reaches the pair's report (the verifier only sees no message)."""

    def build() -> Message:
        try:
            return produce()
        except Exception as exc:
            errors.append(f"message {name!r} could not be built: {type(exc).__name__}: {exc}")
            raise

    return build


def _guarded(name: str, handler: Callable[..., None], errors: list[str]) -> Callable[..., None]:
    """A state handler whose failure is reported with the pair at once.

    The verifier answers a failed state change by retrying it with a growing
    back-off, for minutes; the interaction then fails on its own (a missing
    row is a 404), and the reason is in the pair's report.
    """

    def set_up(parameters: dict[str, Any] | None = None) -> None:
        try:
            handler(parameters=parameters)
        except Exception as exc:  # any failure of the state is the pair's failure
            errors.append(f"provider state {name!r} could not be set up: {type(exc).__name__}: {exc}")

    return set_up


def failures(results: Iterable[PairResult]) -> str:
    """The verifier's report of every failed pair, for an assertion message."""
    return "\n\n".join(f"{r.consumer} -> {r.provider} ({r.pact}):\n{r.output}" for r in results if not r.passed)


# -- `python -m msgen_runtime.contracts`: one provider of a generated project --------------------------


@contextmanager
def _scratch_database(package: str) -> Iterator[str]:
    from msgen_runtime.migrations import upgrade

    folder = Path(tempfile.mkdtemp(prefix=f"msgen-contracts-{package}-"))
    try:
        url = f"sqlite+aiosqlite:///{folder / 'provider.db'}"
        upgrade(package, url)
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def verify_service(service_dir: Path, package: str, pacts: Path) -> list[PairResult]:
    """Verify one generated service, as its tests/test_pact_provider.py describes it, on a scratch database."""
    sys.path.insert(0, str(service_dir))
    module = importlib.import_module("tests.test_pact_provider")
    with _scratch_database(package) as database_url:
        return verify(module.provider(database_url), pacts)


def verify_gateway(
    gateway_dir: Path, service_dirs: Iterable[Path], pacts: Path, url: str, databases: Mapping[str, str], token: str
) -> list[PairResult]:
    """Verify the SDKs' pacts against a running gateway, as its pact_provider.py describes it.

    The system runs already (the gateway at `url`, each service on its database in `databases`);
    the provider states are stored in the services' databases, through their own models.
    """
    sys.path[:0] = [str(gateway_dir), *(str(d) for d in service_dirs)]
    module = importlib.import_module("pact_provider")
    return verify(module.provider(url, databases, token), pacts)


def main(argv: list[str] | None = None) -> int:
    import argparse  # the command line only: msgen imports this module to render pacts

    parser = argparse.ArgumentParser(prog="python -m msgen_runtime.contracts")
    parser.add_argument("service_dir", type=Path, help="services/<name> of a generated project, or its gateway/")
    parser.add_argument("package", help="its package, e.g. product_service")
    parser.add_argument("pacts", type=Path, help="the folder of pact files")
    parser.add_argument("report", type=Path, help="where to write the results (JSON)")
    gateway = parser.add_argument_group("the gateway, running with its services (msgen contracts verify starts them)")
    gateway.add_argument("--url", help="the running gateway's base URL: verify it, through its pact_provider.py")
    gateway.add_argument(
        "--token",
        default=os.environ.get("MSGEN_CONTRACTS_TOKEN", ""),
        help="a token the gateway accepts, sent on every request (default: MSGEN_CONTRACTS_TOKEN)",
    )
    gateway.add_argument("--service", action="append", default=[], type=Path, help="a service's folder (repeat)")
    gateway.add_argument("--database", action="append", default=[], help="NAME=URL of a service's database (repeat)")
    args = parser.parse_args(argv)
    if args.url:
        databases = dict(item.split("=", 1) for item in args.database)
        service_dirs = [d.resolve() for d in args.service]
        gateway_dir = args.service_dir.resolve()
        results = verify_gateway(gateway_dir, service_dirs, args.pacts.resolve(), args.url, databases, args.token)
    else:
        results = verify_service(args.service_dir.resolve(), args.package, args.pacts.resolve())
    args.report.write_text(json.dumps([asdict(r) for r in results]))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
