"""One set of cache options: every command that reads the cache takes them with make's names and help."""

from __future__ import annotations

import click

from trtbuild.cli.main import _register, cli

# Commands that build or fetch entries: the local cache and the remote, and whether they write to it.
READERS = {"make": True, "explain": False, "verify": False, "cache push": True, "cache pull": False}
# Housekeeping of the local cache: a remote has nothing to list or prune over HTTP.
LOCAL_ONLY = {"cache stats", "cache ls", "cache verify", "cache prune", "cache clear", "cache export", "cache import"}
# Builds in a throw-away cache on purpose, so that its build times are real.
NO_CACHE = {"coverage", "schema"}
CACHE_OPTIONS = ("--cache-dir", "--remote-cache", "--remote-write")


def commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    _register()
    found = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(commands(command, path + " "))
        else:
            found[path] = command
    return found


def options(command: click.Command) -> dict[str, click.Option]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


def test_every_command_is_classified():
    assert set(commands()) == set(READERS) | LOCAL_ONLY | NO_CACHE


def test_cache_readers_share_makes_options():
    make = options(commands()["make"])
    for path, command in commands().items():
        mine = options(command)
        expected = [] if path in NO_CACHE else ["--cache-dir"] if path in LOCAL_ONLY else \
            ["--cache-dir", "--remote-cache"] + (["--remote-write"] if READERS[path] else [])
        assert [o for o in CACHE_OPTIONS if o in mine] == expected, path
        for opt in expected:
            same = ("name", "help", "metavar", "is_flag", "default", "envvar")
            assert {k: getattr(mine[opt], k) for k in same} == {k: getattr(make[opt], k) for k in same}, (path, opt)


def test_help_states_the_precedence():
    make = options(commands()["make"])
    assert "$TRTBUILD_CACHE_DIR, then ./cache" in make["--cache-dir"].help
    assert "$TRTBUILD_REMOTE_CACHE, then [cache] remote in trtbuild.toml" in make["--remote-cache"].help
