"""`python -m samoflow.cli`: the same command line as the `samoflow` script."""

from samoflow.cli.app import main

main()
