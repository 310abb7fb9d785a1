"""`trtbuild` entry point and its error boundary.

Exit codes: 0 ok, 1 build failed, 2 bad input, 3 `make --check` found work to do.
An unexpected error prints one line and writes the traceback and versions to a log file.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback
from pathlib import Path

import click
from rich.markup import escape

from .. import __version__
from ..errors import TrtbuildError
from .output import err, error

EXIT_OK, EXIT_BUILD, EXIT_INPUT, EXIT_CHECK = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trtbuild")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """A declarative build system for TensorRT engines."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    from . import cache_cmd, coverage_cmd, explain_cmd, make_cmd, schema_cmd, verify_cmd

    for module in (make_cmd, verify_cmd, explain_cmd, cache_cmd, schema_cmd, coverage_cmd):
        cli.add_command(module.command)


def _crash_log(exc: BaseException) -> Path:
    folder = Path(os.environ.get("TRTBUILD_LOG_DIR") or tempfile.gettempdir())
    path = folder / f"trtbuild-crash-{os.getpid()}.log"
    try:
        import importlib.metadata as md

        versions = {d: md.version(d) for d in ("torch", "tensorrt-rtx", "pydantic", "diskcache")
                    if _has_dist(md, d)}
        path.write_text(f"trtbuild {__version__}\npython {sys.version}\nplatform {platform.platform()}\n"
                        f"versions {versions}\nargv {sys.argv}\n\n" + "".join(traceback.format_exception(exc)))
    except OSError:
        pass
    return path


def _has_dist(md, name: str) -> bool:
    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def main(argv: list[str] | None = None) -> None:
    _register()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="trtbuild", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = EXIT_INPUT
    except TrtbuildError as exc:
        if debug:
            traceback.print_exc()
        error(str(exc), exc.hint)
        code = exc.exit_code
    except Exception as exc:  # the boundary: one line, full details in a log shaped like a bug report
        if debug:
            traceback.print_exc()
        log = _crash_log(exc)
        what = escape(f"{type(exc).__name__}: {exc} (details in {log})")
        err.print(f"[red]internal error:[/] {what}", markup=True, soft_wrap=True)
        code = EXIT_BUILD
    code = code if isinstance(code, int) else 0
    if argv is None and "torch" in sys.modules:
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """Skip the interpreter's teardown of torch's module graph: it takes ~2 s and does nothing a
    finished command needs (our files are closed and flushed; the cache is closed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
