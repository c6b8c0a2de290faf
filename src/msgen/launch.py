"""One service of a local run: its migrations (when its database is behind), then uvicorn, in one process.

`msgen up` starts each service as `python -m msgen.launch [--migrate] PACKAGE PORT` in the service's
folder. Migrating here rather than in an Alembic process of its own before the start saves a Python
start and the import of the service's models per service (the app imports them anyway), and lets each
service start as soon as its own database is ready instead of after every migration. Kept small: it
imports neither msgen's generator nor anything uvicorn would not.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m msgen.launch")
    parser.add_argument("--migrate", action="store_true", help="upgrade DATABASE_URL to the migrations' head first")
    parser.add_argument("package", help="the service's package, e.g. order_service")
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.migrate:
        from msgen_runtime.migrations import upgrade

        upgrade(args.package, os.environ["DATABASE_URL"])
    import uvicorn

    uvicorn.run(
        f"{args.package}.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,  # the service logs its requests itself (msgen_runtime.metrics)
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
