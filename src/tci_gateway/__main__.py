"""``python -m tci_gateway`` runs the ``tci`` command line."""

from tci_gateway.cli.main import main

main()
