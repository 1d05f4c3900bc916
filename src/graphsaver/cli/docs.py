"""Write the CLI reference (docs/cli.md) from the commands' own --help.

    python -m graphsaver.cli.docs > docs/cli.md

tests/test_cli.py fails when docs/cli.md differs from this output.
"""

from __future__ import annotations

import click

from graphsaver.cli import cli

WIDTH = 100


def help_text(command: click.Command, name: str, parent: click.Context | None = None) -> str:
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH)
    return command.get_help(ctx)


def reference() -> str:
    root = click.Context(cli, info_name="graphsaver", terminal_width=WIDTH, max_content_width=WIDTH)
    parts = [
        "# The `graphsaver` command line\n",
        "Generated from `--help` by `python -m graphsaver.cli.docs > docs/cli.md`; do not edit by hand.\n",
        f"```\n{help_text(cli, 'graphsaver')}\n```\n",
    ]
    assert isinstance(cli, click.Group)
    for name in sorted(cli.commands):
        parts.append(f"## graphsaver {name}\n")
        parts.append(f"```\n{help_text(cli.commands[name], name, root)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
