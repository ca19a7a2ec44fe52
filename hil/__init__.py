"""alertloop's harness: stack backends, board backends, serial monitor, pytest plugin, CLI."""
