"""The ``slopt`` command line (typer + rich): one module per command, registered here.

Commands: ``validate``, ``solve``, ``dispatch``, ``assign``, ``passport``, ``economics``, ``info``.
:func:`main` is the entry point. It turns any :class:`~slopt.errors.SloptError` into one line
``error: <message>`` on stderr and the error's exit code (2 bad input, 3 infeasible, 4 solver
or output failure), without a traceback. Commands load and validate their inputs before they
print or write anything; result sets are staged and swapped in whole (:mod:`slopt.io.results`).
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from slopt.errors import SloptError

__all__ = ["app", "main"]

app = typer.Typer(
    name="slopt",
    help="Planning and operation of second-life battery storage on distribution feeders.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        from slopt import __version__

        typer.echo(f"slopt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Optional[bool] = typer.Option(None, "--version", callback=_version_callback, is_eager=True,
                                                 help="Print the version and exit."),
          limit: Optional[list[str]] = typer.Option(None, "--limit", metavar="NAME=VALUE",
                                                    help="Raise a resource limit (threads, pop, gens, evaluations, "
                                                         "batteries, file_mb, steps, buses); repeatable. See slopt.limits.")
          ) -> None:
    """Planning and operation of second-life battery storage on distribution feeders."""
    from slopt.limits import set_limit

    for item in limit or ():
        name, _, value = item.partition("=")
        set_limit(name.strip(), value)


def _register() -> None:
    """Explicit registration: one module per command."""
    from slopt.cli import dispatch, economics, fleet, info, solve, validate

    app.command("validate")(validate.validate)
    app.command("solve")(solve.solve)
    app.command("dispatch")(dispatch.dispatch)
    app.command("assign")(fleet.assign)
    app.command("passport")(fleet.passport)
    app.command("economics")(economics.economics)
    app.command("info")(info.info)


def main(argv: Optional[list[str]] = None) -> None:
    """Run the ``slopt`` command; a :class:`SloptError` becomes ``error: ...`` and its exit code."""
    from slopt.io.results import install_signal_handlers

    install_signal_handlers()
    try:
        app(args=argv, prog_name="slopt")
    except SloptError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"error: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(exc.exit_code) from None


_register()
