"""`python -m tunefleet` is the `tunefleet` command."""

from tunefleet.cli import main

main()
