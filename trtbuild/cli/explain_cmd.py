"""placeholder"""
import click


@click.command("explain", hidden=True)
def command() -> int:
    raise click.ClickException("not yet")
