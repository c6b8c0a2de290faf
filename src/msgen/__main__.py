"""`python -m msgen` and the `msgen` command."""

import gc


def main() -> None:
    # Start-up (typer, rich, pydantic, the command's modules) makes objects that live to the end: the cycle
    # collector's 60-odd passes over them while they are made find nothing. cli.run turns it back on, with
    # what start-up made frozen, before the command runs.
    gc.disable()
    from msgen import cli

    cli.run()


if __name__ == "__main__":
    main()
