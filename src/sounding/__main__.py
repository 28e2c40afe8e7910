"""`python -m sounding` runs the command line."""

from .cli.main import main

main()
