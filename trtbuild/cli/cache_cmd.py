"""placeholder"""
import click


@click.command("cache", hidden=True)
def command() -> int:
    raise click.ClickException("not yet")
