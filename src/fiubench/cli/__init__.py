"""Command-line interface. Each subcommand lives in its own module of this package."""
